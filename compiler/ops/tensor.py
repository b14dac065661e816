"""General tensor ops: ``einsum`` with a typed, shape-checked equation, and ``bias``.

``einsum("k,pk->p")`` takes one wire per operand of its equation; the typing
rule checks each operand's rank against its subscripts and that every letter
names one size across operands (symbolic sizes must be the same symbol).
``bias`` adds a learned constant (a scalar, or one per channel). Together they
contract DeepONet's branch and trunk: ``(branch @ trunk) >> einsum("k,pk->p") >> bias``.
"""

from __future__ import annotations

from ..types import TensorType
from .registry import Arg, OpDef, OpTypeError, ParamSpec, check_known, fixed, register

_HINT = 'write every subscript explicitly, e.g. `einsum("k,pk->p")`'


def parse_equation(eq: str) -> tuple[list[str], str]:
    """Split ``"ab,bc->ac"`` into operand subscripts and output subscripts (checked)."""
    eq = eq.replace(" ", "")
    if "..." in eq:
        raise OpTypeError("`einsum`: ellipsis `...` is not supported", _HINT)
    if eq.count("->") != 1:
        raise OpTypeError(f"`einsum`: the equation \"{eq}\" needs exactly one `->`", _HINT)
    lhs, out = eq.split("->")
    operands = lhs.split(",")
    for sub in [*operands, out]:
        if not all(ch.isascii() and ch.isalpha() for ch in sub):
            raise OpTypeError(f"`einsum`: subscripts must be letters, got \"{sub}\" in \"{eq}\"",
                              _HINT)
    if any(not sub for sub in operands) and len(operands) > 1:
        raise OpTypeError(f"`einsum`: an operand of \"{eq}\" has no subscripts",
                          "scalars are not supported as operands")
    seen = set("".join(operands))
    for ch in out:
        if ch not in seen:
            raise OpTypeError(f"`einsum`: output subscript `{ch}` of \"{eq}\" appears in no "
                              "operand")
    if len(set(out)) != len(out):
        raise OpTypeError(f"`einsum`: output subscripts of \"{eq}\" repeat a letter")
    return operands, out


def _einsum_arity(a):
    operands, _ = parse_equation(a["equation"])
    return (len(operands), 1)


def _einsum_infer(a, ins):
    operands, out = parse_equation(a["equation"])
    sizes: dict[str, object] = {}
    dtype = ins[0].dtype
    for k, (sub, t) in enumerate(zip(operands, ins)):
        if t.dtype != dtype:
            raise OpTypeError(f"`einsum` operands must share one dtype, got {ins[0]} and {t}")
        if len(sub) != t.rank:
            raise OpTypeError(
                f"`einsum`: operand {k} has subscripts \"{sub}\" (rank {len(sub)}) but its "
                f"input is {t} (rank {t.rank})"
            )
        for ch, size in zip(sub, t.shape):
            if ch not in sizes:
                sizes[ch] = size
            elif sizes[ch] != size:
                raise OpTypeError(
                    f"`einsum`: subscript `{ch}` has size {sizes[ch]} in one place and {size} "
                    f"in another (equation \"{a['equation']}\")",
                    "contracted and shared axes must have equal sizes",
                )
    return [TensorType(tuple(sizes[ch] for ch in out), dtype)]


register(OpDef(
    "tensor.einsum", "einsum", (Arg("equation", "str", doc='e.g. "k,pk->p"'),),
    _einsum_arity, _einsum_infer, traits=frozenset({"pure"}),
    doc="Einstein summation over its input wires (one per operand), explicit `->` output.",
))


def _bias_infer(a, ins):
    t = ins[0]
    if a["per_channel"]:
        if t.rank < 1:
            raise OpTypeError(f"`bias(per_channel=true)` needs an axis, got {t}")
        check_known(t.shape[-1], "its input's last axis", "bias")
    return [t]


def _bias_params(a, ins):
    shape = (ins[0].shape[-1],) if a["per_channel"] else ()
    return {"b": ParamSpec(shape, "zeros")}


register(OpDef(
    "tensor.bias", "bias", (Arg("per_channel", "bool", False),),
    fixed(1, 1), _bias_infer, _bias_params, main_param="b",
    doc="y = x + b with a learned b: one scalar, or one per last-axis entry.",
))
