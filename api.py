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
from .errors import SpecError, UsageError


def _is_path(spec: str | Path) -> bool:
    if isinstance(spec, Path):
        return True
    if not isinstance(spec, str):
        raise UsageError(f"a spec is a path (str or Path) or spec text, got "
                         f"{type(spec).__name__}")
    if "\n" not in spec and Path(spec).is_dir():
        return True  # refused by the loader as a directory, not parsed as spec text
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


def _refuse_misspelt_keyword(err: SpecError, overrides: dict) -> None:
    """``compile(…, pases="O2")`` reads `pases` as a model parameter: when the model has no
    such parameter and the name is near one of compile's own keywords, say that."""
    from .errors import did_you_mean

    for key in overrides:
        if err.message.endswith(f"has no parameter `{key}`"):
            hint = did_you_mean(key, ["passes", "train", "model"])
            if hint:
                raise UsageError(f"compile() has no keyword `{key}` ({hint}); other keywords "
                                 "are the model's parameters") from None


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
    if isinstance(spec, Graph):
        if model is not None or overrides:
            given = ", ".join(([f"model={model!r}"] if model is not None else [])
                              + [f"{k}=…" for k in overrides])
            raise UsageError(f"compile() of a Graph takes no {given}: the graph is already "
                             "elaborated; pass them to catspec.load, or compile the spec")
        graph = spec
    else:
        try:
            graph = load(spec, model, **overrides)
        except SpecError as err:
            _refuse_misspelt_keyword(err, overrides)
            raise
    if passes:
        from .compiler.passes import run_passes

        graph = run_passes(graph, passes)
    return Model(graph, train=train)
