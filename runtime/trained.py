"""A trained model from a run: the compiled spec, the run's parameters and its normaliser.

``catspec train`` writes ``checkpoint.npz`` in the run directory with the parameters in
the layout of the spec as written and the normaliser the data was scaled with. ``load_run``
compiles the spec again (the run records its path, model and parameters), optionally
through passes (``repeat-to-scan`` stacks the per-copy weights: ``Model.import_params``
moves the checkpoint into that layout), and returns a ``TrainedModel`` whose ``predict``
takes and returns data in the units of the training data.

    run = catspec.load_run("runs/fno1d_burgers-20261130-120000", passes="O2")
    y = run.predict(x)                        # x: (batch, 128, 1) as in the data
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp

from ..backends.jax.model import Model
from ..errors import InputError
from .checkpoint import CHECKPOINT, read_meta, read_trained


@dataclass
class TrainedModel:
    """``model`` (a compiled ``Model``), ``params`` (in its layout), the normaliser's
    ``x_stats`` (one ``(mean, std)`` per input) and ``y_stats``, the run's ``meta`` and the
    last finished ``epoch``."""

    model: Model
    params: dict
    x_stats: list[tuple[jax.Array, jax.Array]]
    y_stats: tuple[jax.Array, jax.Array]
    meta: dict
    epoch: int

    def predict(self, *inputs) -> jax.Array:
        """The model on batched inputs in data units: each input is normalised as in
        training, the output is mapped back (jit-compiled through ``Model.apply``)."""
        if len(inputs) != len(self.x_stats):
            raise InputError(f"`{self.model.graph.name}` takes {len(self.x_stats)} input(s), "
                             f"got {len(inputs)}")
        xs = [(jnp.asarray(x) - m) / s for x, (m, s) in zip(inputs, self.x_stats)]
        ym, ys = self.y_stats
        return self.model(self.params, *xs) * ys + ym

    def predict_normalized(self, *inputs) -> jax.Array:
        """The bare model on inputs already normalised (what the training loop feeds it)."""
        return self.model(self.params, *inputs)


def checkpoint_path(run: str | Path) -> Path:
    """A run directory or a checkpoint file -> the checkpoint file."""
    run = Path(run)
    return run / CHECKPOINT if run.is_dir() else run


def load_run(run: str | Path, spec: str | Path | None = None, *,
             passes: str | list[str] | None = None, **overrides) -> TrainedModel:
    """Load a trained model from a run directory (or its ``checkpoint.npz``).

    Args:
        run: the run directory ``catspec train`` printed, or the checkpoint file.
        spec: the spec file (default: the path the run recorded, relative to where it ran).
        passes: passes to compile with (``"O2"``, ``"repeat-to-scan"``, …); the trained
            parameters are moved into the optimized layout.
        **overrides: spec parameters; the run's own are used for the rest. Values that
            change a parameter's shape make the checkpoint not fit (an ``InputError``).
    Raises:
        InputError: no checkpoint, a checkpoint that does not fit the model.
        SpecError: the spec does not load.
    """
    from ..api import load
    from ..compiler.elaborate import load_module

    path = checkpoint_path(run)
    meta = read_meta(path)
    spec_path = Path(spec) if spec is not None else Path(meta.get("spec", ""))
    if spec is None and not spec_path.is_file():
        raise InputError(f"the run's spec `{spec_path}` is not there (the run recorded the path "
                         "relative to where it was trained); give the spec file")
    name = meta.get("model")
    models = [m.name for m in load_module(spec_path).ast.models]
    if name not in models:
        raise InputError(f"the run in `{path}` trained model `{name}` (of "
                         f"`{meta.get('spec', '?')}`); `{spec_path}` has no model of that name "
                         f"(it has: {', '.join(models) or 'none'})")
    graph = load(spec_path, name, **{**meta.get("spec_params", {}), **overrides})
    written = Model(graph)
    shapes = jax.eval_shape(lambda: written.init(0))
    state = read_trained(path, shapes)
    model = written
    params = state["params"]
    if passes:
        from ..compiler.passes import run_passes

        model = Model(run_passes(graph, passes))
        params = model.import_params(params)
    norm = state["norm"]
    x_stats = []
    for i in range(len(model.input_types)):
        m, s = norm.get(f"x{i}_mean"), norm.get(f"x{i}_std")
        x_stats.append((jnp.asarray(0.0 if m is None else m),
                        jnp.asarray(1.0 if s is None else s)))
    y_stats = (jnp.asarray(norm.get("y_mean", 0.0)), jnp.asarray(norm.get("y_std", 1.0)))
    return TrainedModel(model, params, x_stats, y_stats, meta, state["epoch"])
