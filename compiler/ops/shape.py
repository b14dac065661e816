"""Shape ops: flatten and reshape."""

from __future__ import annotations

from ..dims import product
from .registry import Arg, OpDef, OpTypeError, fixed, register


def _flatten_infer(a, ins):
    t = ins[0]
    return [t.with_shape((product(t.shape),), axes=None)]


register(OpDef(
    "shape.flatten", "flatten", (), fixed(1, 1), _flatten_infer,
    doc="All axes of one example into one.",
))


def _reshape_infer(a, ins):
    t = ins[0]
    target = list(a["shape"])
    total = product(t.shape)
    if target.count(-1) > 1:
        raise OpTypeError("`reshape` allows at most one -1 in its shape")
    if any(s == 0 or s < -1 for s in target):
        raise OpTypeError(f"`reshape`: sizes must be positive (or one -1), got {target}")
    if -1 in target:
        known = product([s for s in target if s != -1])
        if isinstance(total, int) and total % known:
            raise OpTypeError(f"`reshape` cannot fit {t} into {target}")
        target[target.index(-1)] = total // known
    elif product(target) != total:
        raise OpTypeError(
            f"`reshape` must keep the number of elements: {t} has {total}, "
            f"{tuple(target)} has {product(target)}"
        )
    return [t.with_shape(tuple(target), axes=None)]


register(OpDef(
    "shape.reshape", "reshape", (Arg("shape", "ints"),), fixed(1, 1), _reshape_infer,
    doc="Reshape one example; one size may be -1.",
))
