"""The programmatic entry points: load a spec to a graph, compile it to a model.

    import catspec
    graph = catspec.load("specs/mlp.cat", width=64)
    model = catspec.compile("specs/mlp.cat")
    params = model.init(0)
    y = model(params, x)
"""

from __future__ import annotations

from pathlib import Path

from .backends.jax.model import Model
from .compiler.elaborate import elaborate, load_module, module_from_text
from .compiler.ir import Graph


def _is_path(spec: str | Path) -> bool:
    if isinstance(spec, Path):
        return True
    return "\n" not in spec and spec.endswith((".cat", ".yaml", ".yml"))


def load(spec: str | Path, model: str | None = None, **overrides) -> Graph:
    """Elaborate a spec to its typed graph.

    Args:
        spec: a path to a ``.cat``/``.yaml`` file, or spec text.
        model: which model of the file (default: the last one).
        **overrides: values for the model's parameters (``width=64``).
    Returns:
        the ``Graph`` of the model (verified).
    Raises:
        SpecError: for any problem in the spec, with its location.
    """
    module = load_module(spec) if _is_path(spec) else module_from_text(str(spec))
    graph = elaborate(module, model, overrides)
    graph.verify()
    return graph


def compile(  # noqa: A001 - the natural name for what it does
    spec: str | Path | Graph,
    model: str | None = None,
    *,
    passes: str | list[str] | None = None,
    train: bool = False,
    **overrides,
) -> Model:
    """Elaborate (unless given a ``Graph``), optimise and lower a spec to a JAX ``Model``.

    Args:
        spec: a path, spec text, or a ``Graph``.
        model: which model of the file (default: the last one).
        passes: pass names to run before lowering (default: none).
        train: lower in training mode (dropout active).
        **overrides: values for the model's parameters.
    """
    graph = spec if isinstance(spec, Graph) else load(spec, model, **overrides)
    if passes:
        from .compiler.passes import run_passes

        graph = run_passes(graph, passes)
    return Model(graph, train=train)
