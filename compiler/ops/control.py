"""Control ops introduced by passes: ``ctl.scan``, ``ctl.batched`` and ``ctl.const``.

No spec writes these; the optimizer creates them (``compiler/passes``) and the
verifier checks them through ``VERIFIERS`` (shared with ``ctl.fold``/``ctl.map``).

``ctl.scan[length=n, stacked=[[view, stack], …]](c₁, …, c_k)`` runs its region
n times, feeding the region's outputs back as its next inputs (the carry); it
returns the final carry. The region reads per-iteration parameters through
*view* slots (derived ``scan_slice`` slots of the per-copy shape) whose values
the lowering replaces, at iteration i, by row i of the stacked root slot.

``ctl.batched[op=…, k=…, shared=…, <the op's attributes>](…)`` is k instances
of one op side by side (``f @ f @ … @ f``), each with its own row of stacked
parameters. With ``shared=true`` all instances read the same input wires (the
inputs are given once); otherwise the inputs are the k instances' inputs in
order. Outputs are the instances' outputs in order — or, with
``reduce="sum"`` / ``reduce="concat", reduce_axis=a`` (single-output ops only),
one output: their sum, or their concatenation along axis ``a`` in instance order.

``ctl.const[value=…]()`` is a constant tensor folded at compile time.
"""

from __future__ import annotations

from ...errors import IRVerifyError
from ..types import bundle_str
from .recursion import VERIFIERS, check_region
from .registry import OPS, OpTypeError

BATCHED_KEYS = ("op", "k", "shared", "reduce", "reduce_axis")
REDUCTIONS = ("sum", "concat")


def inner_attrs(attrs: dict) -> dict:
    """The attributes of the op a ``ctl.batched`` node batches."""
    return {k: v for k, v in attrs.items() if k not in BATCHED_KEYS}


def verify_scan(graph, node) -> None:
    where = f"`{node.name}` (ctl.scan)"
    region = check_region(graph, node, where)
    ins = [graph.type_of(w) for w in graph.inputs_of(node.id)]
    for name, got in (("inputs", region.input_types), ("outputs", region.output_types)):
        if len(got) != len(ins) or any(not a.same_as(b) for a, b in zip(got, ins)):
            raise IRVerifyError(f"{where}: region {name} {bundle_str(got)}, expected the carry "
                                f"{bundle_str(ins)}")
    if len(node.out_types) != len(ins) or any(
            not a.same_as(b) for a, b in zip(node.out_types, ins)):
        raise IRVerifyError(f"{where}: typed {bundle_str(node.out_types)}, expected the carry "
                            f"{bundle_str(ins)}")
    n = node.attrs["length"]
    for view, stack in node.attrs["stacked"]:
        if view not in graph.params or stack not in graph.params:
            raise IRVerifyError(f"{where}: slot @{view} or @{stack} does not exist")
        want = (n, *graph.params[view].shape)
        if graph.params[stack].shape != want:
            raise IRVerifyError(f"{where}: @{stack} has shape {graph.params[stack].shape}, "
                                f"expected {want}")


def verify_batched(graph, node) -> None:
    where = f"`{node.name}` (ctl.batched)"
    a = node.attrs
    op = OPS.get(a["op"])
    if op is None:
        raise IRVerifyError(f"{where}: unknown op `{a['op']}`")
    k, attrs = a["k"], inner_attrs(a)
    n_in, n_out = op.arity(attrs)
    ins = [graph.type_of(w) for w in graph.inputs_of(node.id)]
    want_in = n_in if a["shared"] else n_in * k
    reduce = a.get("reduce")
    if reduce is not None and (reduce not in REDUCTIONS or n_out != 1):
        raise IRVerifyError(f"{where}: reduce={reduce!r} needs a single-output op and one of "
                            f"{', '.join(map(repr, REDUCTIONS))}")
    want_out = n_out * k if reduce is None else 1
    if len(ins) != want_in or len(node.out_types) != want_out:
        raise IRVerifyError(f"{where}: expected {want_in} inputs and {want_out} outputs, got "
                            f"{len(ins)} and {len(node.out_types)}")
    member_ins = ins if a["shared"] else ins[:n_in]
    try:
        outs = op.infer(attrs, member_ins)
        specs = op.params(attrs, member_ins)
    except OpTypeError as err:
        raise IRVerifyError(f"{where}: {err.message}") from None
    for i in range(k):
        if not a["shared"] and any(
                not x.same_as(y) for x, y in zip(ins[i * n_in:(i + 1) * n_in], member_ins)):
            raise IRVerifyError(f"{where}: instance {i} has inputs of another type")
    if reduce is not None:
        _verify_reduced(where, node, outs[0], k)
    for i in range(k if reduce is None else 0):
        got = node.out_types[i * n_out:(i + 1) * n_out]
        if any(not x.same_as(y) for x, y in zip(got, outs)):
            raise IRVerifyError(f"{where}: instance {i} typed {bundle_str(got)}, its op gives "
                                f"{bundle_str(outs)}")
    if set(specs) != set(node.params):
        raise IRVerifyError(f"{where}: parameters {sorted(node.params)}, expected {sorted(specs)}")
    for pname, path in node.params.items():
        want = (k, *specs[pname].shape)
        if path not in graph.params or graph.params[path].shape != want:
            raise IRVerifyError(f"{where}: @{path} should be a stacked slot of shape {want}")


def _verify_reduced(where: str, node, member, k: int) -> None:
    if node.attrs["reduce"] == "sum":
        want = member
    else:
        axis = node.attrs.get("reduce_axis")
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise IRVerifyError(f"{where}: reduce=\"concat\" needs an integer `reduce_axis`")
        try:
            want = OPS["struct.concat"].infer({"n": k, "axis": axis}, [member] * k)[0]
        except OpTypeError as err:
            raise IRVerifyError(f"{where}: {err.message}") from None
    if not node.out_types[0].same_as(want):
        raise IRVerifyError(f"{where}: typed {node.out_types[0]}, the {node.attrs['reduce']} "
                            f"of its {k} instances is {want}")


def verify_const(graph, node) -> None:
    label = node.name or f"node {node.id}"
    if graph.inputs_of(node.id) or len(node.out_types) != 1 or "value" not in node.attrs:
        raise IRVerifyError(f"`{label}` (ctl.const) must have no inputs, one output and a "
                            f"`value`")
    t = node.out_types[0]
    value = node.attrs["value"]
    flat = list(_flatten(value))
    want = 1
    for size in t.shape:
        if not isinstance(size, int):
            raise IRVerifyError(f"`{label}` (ctl.const) needs a concrete type, got {t}")
        want *= size
    if len(flat) != want or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                    for v in flat):
        raise IRVerifyError(f"`{label}` (ctl.const): its value holds {len(flat)} number(s), "
                            f"its type {t} needs {want}")


def _flatten(value):
    if isinstance(value, (tuple, list)):
        for v in value:
            yield from _flatten(v)
    else:
        yield value


VERIFIERS.update({"ctl.scan": verify_scan, "ctl.batched": verify_batched,
                  "ctl.const": verify_const})
