"""Pointwise nonlinearities: same type in, same type out."""

from __future__ import annotations

from .registry import Arg, OpDef, fixed, register, require_float

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "sin", "silu", "elu", "exp")


def _same(op):
    def infer(a, ins):
        require_float(ins[0], op)
        return [ins[0]]
    return infer


for _name in ACTIVATIONS:
    register(OpDef(
        f"act.{_name}", _name, (), fixed(1, 1), _same(_name),
        traits=frozenset({"pure", "elementwise"}), doc=f"Pointwise {_name}.",
    ))

# Exact (erf) GELU by default, as in PyTorch and the FNO/transformer papers; the
# tanh approximation is one flag away.
register(OpDef(
    "act.gelu", "gelu", (Arg("approximate", "bool", False),), fixed(1, 1), _same("gelu"),
    traits=frozenset({"pure", "elementwise"}), doc="Pointwise GELU (exact unless approximate).",
))
