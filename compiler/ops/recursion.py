"""Control ops with a region: ``ctl.fold`` (structural recursion over a sequence axis)
and ``ctl.map`` (a functor applying its region along an axis).

These are not surface ops (``fold``/``map`` are builtins taking a morphism, see
``compiler/evaluate.py``); this file holds their typing rules, shared by the
builder and the verifier, and the verifier itself.

``fold(cell, state=[h₁, …, h_k], init="zeros"|"learned", reverse=false)``
reads a sequence ``x: [T, …]``. Its region, the cell, has type
``(s₁, …, s_k, x_t) -> (s₁', …, s_k')`` or ``-> (s₁', …, s_k', y_t)`` with
``s_i: f32[h_i]`` and ``x_t = x[t]``. With k outputs fold returns the final
states (an algebra: the catamorphism of the list); with k+1 it returns the
stacked outputs ``[T, …y_t]`` (an RNN read as a sequence transducer).

``map(f, axis=a)`` reads n wires that share the size of axis ``a``; its region
``f`` sees each wire with that axis removed, and each output gets the axis
back at position ``a``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..types import FLOAT_DTYPES, TensorType, bundle_str
from .registry import OpTypeError, ParamSpec, normalize_axis

FOLD_INITS = ("zeros", "learned")


def state_types(attrs: dict, x: TensorType) -> list[TensorType]:
    dtype = x.dtype if x.dtype in FLOAT_DTYPES else "f32"
    return [TensorType((h,), dtype) for h in attrs["state"]]


def fold_region_inputs(attrs: dict, x: TensorType) -> list[TensorType]:
    """The cell's input types: the states, then one step of the sequence."""
    if x.rank < 1:
        raise OpTypeError(f"`fold` reads a sequence along axis 0, got a scalar {x}",
                          "give the input a sequence axis, e.g. `Tensor[T, 8]`")
    for h in attrs["state"]:
        if h < 1:
            raise OpTypeError(f"`fold`: state sizes must be positive, got {list(attrs['state'])}")
    step = TensorType(tuple(x.shape[1:]), x.dtype)
    return [*state_types(attrs, x), step]


def fold_out_types(attrs: dict, x: TensorType, cell_outs: list[TensorType]) -> list[TensorType]:
    """The fold's outputs from the cell's outputs (checks the state comes back unchanged)."""
    states = state_types(attrs, x)
    k = len(states)
    if len(cell_outs) not in (k, k + 1):
        raise OpTypeError(
            f"the cell of `fold` must return its {k} state wire(s), optionally followed by one "
            f"output, got {len(cell_outs)} wires",
            "return the new state (and, to get a sequence out, one output per step)",
        )
    for i, (want, got) in enumerate(zip(states, cell_outs)):
        if not got.same_as(want):
            raise OpTypeError(
                f"the cell of `fold` must return state {i} as {want}, got {got}",
                "the state's type is fixed by `state=`; end the cell's state path with "
                "a layer of that size",
            )
    if len(cell_outs) == k:
        return states
    y = cell_outs[k]
    return [TensorType((x.shape[0], *y.shape), y.dtype)]


def fold_params(attrs: dict, x: TensorType) -> dict[str, ParamSpec]:
    if attrs["init"] != "learned":
        return {}
    return {f"s{i}": ParamSpec((h,), "zeros") for i, h in enumerate(attrs["state"])}


def map_region_inputs(attrs: dict, ins: list[TensorType]) -> list[TensorType]:
    """Each input with the mapped axis removed (the axis sizes must agree)."""
    out, size = [], None
    for t in ins:
        if t.rank < 1:
            raise OpTypeError(f"`map` needs inputs with an axis to map over, got {t}")
        ax = normalize_axis(attrs["axis"], t.rank, "map")
        if size is None:
            size = t.shape[ax]
        elif t.shape[ax] != size:
            raise OpTypeError(f"`map` over axis {attrs['axis']}: the inputs disagree on its "
                              f"size ({bundle_str(ins)})")
        out.append(TensorType(tuple(s for i, s in enumerate(t.shape) if i != ax), t.dtype))
    return out


def map_out_types(attrs: dict, ins: list[TensorType], f_outs: list[TensorType]):
    ax = normalize_axis(attrs["axis"], ins[0].rank, "map")
    size = ins[0].shape[ax]
    out = []
    for t in f_outs:
        if ax > t.rank:
            raise OpTypeError(f"`map` over axis {attrs['axis']}: an output of the mapped "
                              f"morphism, {t}, has too few axes to put it back")
        shape = (*t.shape[:ax], size, *t.shape[ax:])
        out.append(TensorType(shape, t.dtype))
    return out


def map_axis_out(attrs: dict, ins: list[TensorType]) -> int:
    return normalize_axis(attrs["axis"], ins[0].rank, "map")


# -- verification ------------------------------------------------------------------------


def check_region(graph, node, where: str):
    """What every region-holding node needs: a region, on the parent's table, itself valid."""
    from ...errors import IRVerifyError

    region = node.region
    if region is None:
        raise IRVerifyError(f"{where} has no region")
    if region.params is not graph.params:
        raise IRVerifyError(f"{where}: its region must share the parent's parameter table")
    from ..verify import verify_graph  # the region alone: its owner is being verified

    verify_graph(region)
    return region


def _check(graph, node, region_ins: list[TensorType], outs_fn) -> None:
    from ...errors import IRVerifyError

    region = check_region(graph, node, f"`{node.name}` ({node.op})")
    got = region.input_types
    if len(got) != len(region_ins) or any(not a.same_as(b) for a, b in zip(got, region_ins)):
        raise IRVerifyError(f"`{node.name}`: region inputs {bundle_str(got)}, expected "
                            f"{bundle_str(region_ins)}")
    outs = outs_fn(region.output_types)
    if len(outs) != len(node.out_types) or any(
        not a.same_as(b) for a, b in zip(outs, node.out_types)
    ):
        raise IRVerifyError(f"`{node.name}`: its region gives {bundle_str(outs)}, but it is "
                            f"typed {bundle_str(node.out_types)}")


def verify_fold(graph, node) -> None:
    from ...errors import IRVerifyError

    ins = [graph.type_of(w) for w in graph.inputs_of(node.id)]
    if len(ins) != 1:
        raise IRVerifyError(f"`{node.name}` (ctl.fold): expected 1 input, got {len(ins)}")
    try:
        _check(graph, node, fold_region_inputs(node.attrs, ins[0]),
               lambda outs: fold_out_types(node.attrs, ins[0], outs))
        specs = fold_params(node.attrs, ins[0])
    except OpTypeError as err:
        raise IRVerifyError(f"`{node.name}` (ctl.fold): {err.message}") from None
    if set(specs) != set(node.params):
        raise IRVerifyError(f"`{node.name}`: parameters {sorted(node.params)}, expected "
                            f"{sorted(specs)}")


def verify_map(graph, node) -> None:
    from ...errors import IRVerifyError

    ins = [graph.type_of(w) for w in graph.inputs_of(node.id)]
    try:
        _check(graph, node, map_region_inputs(node.attrs, ins),
               lambda outs: map_out_types(node.attrs, ins, outs))
    except OpTypeError as err:
        raise IRVerifyError(f"`{node.name}` (ctl.map): {err.message}") from None


VERIFIERS: dict[str, Callable] = {"ctl.fold": verify_fold, "ctl.map": verify_map}
