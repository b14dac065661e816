"""Structure maps of the symmetric monoidal category: id, copy, drop, swap, add, mul, concat, split.

These have no parameters; their typing rules say how a bundle of wires is
rearranged. ``add``/``mul`` are the commutative monoids on equal tensor types.
"""

from __future__ import annotations

from ..types import TensorType
from .registry import Arg, OpDef, OpTypeError, fixed, normalize_axis, register

STRUCT = frozenset({"pure", "structural"})


def _positive(n: int, op: str) -> int:
    if n < 1:
        raise OpTypeError(f"`{op}` needs n ≥ 1, got {n}")
    return n


def _all_equal(ins: list[TensorType], op: str) -> None:
    first = ins[0]
    for t in ins[1:]:
        if not t.same_as(first):
            raise OpTypeError(
                f"`{op}` expects inputs of one type, got {first} and {t}",
                "insert a `dense` or `reshape` so both branches agree",
            )


register(OpDef(
    "struct.id", "id", (Arg("n", "int", 1),),
    lambda a: (a["n"], a["n"]),
    lambda a, ins: list(ins),
    traits=STRUCT, doc="Identity on a bundle of n wires.",
))

register(OpDef(
    "struct.copy", "copy", (Arg("n", "int", 2),),
    lambda a: (1, _positive(a["n"], "copy")),
    lambda a, ins: [ins[0]] * a["n"],
    traits=STRUCT, doc="Δ: one wire to n copies of itself.",
))

register(OpDef(
    "struct.drop", "drop", (),
    fixed(1, 0),
    lambda a, ins: [],
    traits=STRUCT, doc="!: discard a wire.",
))

register(OpDef(
    "struct.swap", "swap", (),
    fixed(2, 2),
    lambda a, ins: [ins[1], ins[0]],
    traits=STRUCT, doc="Symmetry: exchange two wires.",
))


def _permute_arity(a):
    perm = a["perm"]
    if sorted(perm) != list(range(len(perm))):
        raise OpTypeError(f"`permute`: {list(perm)} is not a permutation of 0..{len(perm) - 1}")
    return (len(perm), len(perm))


register(OpDef(
    "struct.permute", "permute", (Arg("perm", "ints"),),
    _permute_arity,
    lambda a, ins: [ins[i] for i in a["perm"]],
    traits=STRUCT, doc="Reorder a bundle: output k is input perm[k].",
))


def _monoid_infer(op):
    def infer(a, ins):
        _all_equal(ins, op)
        return [ins[0]]
    return infer


register(OpDef(
    "struct.add", "add", (Arg("n", "int", 2),),
    lambda a: (_positive(a["n"], "add"), 1),
    _monoid_infer("add"),
    traits=STRUCT | {"commutative", "elementwise"}, doc="Sum of n wires of one type.",
))

register(OpDef(
    "struct.mul", "mul", (Arg("n", "int", 2),),
    lambda a: (_positive(a["n"], "mul"), 1),
    _monoid_infer("mul"),
    traits=STRUCT | {"commutative", "elementwise"}, doc="Elementwise product of n wires.",
))


def _concat_infer(a, ins):
    rank = ins[0].rank
    axis = normalize_axis(a["axis"], rank, "concat")
    total = 0
    for t in ins:
        if t.rank != rank or t.dtype != ins[0].dtype or any(
            t.shape[i] != ins[0].shape[i] for i in range(rank) if i != axis
        ):
            raise OpTypeError(
                f"`concat` along axis {a['axis']} needs inputs that agree on every other axis, "
                f"got {ins[0]} and {t}"
            )
        total = total + t.shape[axis]
    shape = list(ins[0].shape)
    shape[axis] = total
    return [ins[0].with_shape(shape)]


register(OpDef(
    "struct.concat", "concat", (Arg("n", "int", 2), Arg("axis", "int", -1)),
    lambda a: (_positive(a["n"], "concat"), 1),
    _concat_infer,
    traits=STRUCT, doc="Join n wires along an axis (the last by default).",
))


def _split_infer(a, ins):
    t = ins[0]
    axis = normalize_axis(a["axis"], t.rank, "split")
    size = t.shape[axis]
    n = a["n"]
    if isinstance(size, int) and size % n:
        raise OpTypeError(f"`split` into {n} parts needs axis {a['axis']} divisible by {n}, got {t}")
    shape = list(t.shape)
    shape[axis] = size // n
    return [t.with_shape(shape)] * n


register(OpDef(
    "struct.split", "split", (Arg("n", "int", 2), Arg("axis", "int", -1)),
    lambda a: (1, _positive(a["n"], "split")),
    _split_infer,
    traits=STRUCT, doc="Cut a wire into n equal parts along an axis (the last by default).",
))
