"""Op declarations: the table every stage looks ops up in.

An op is declared, not coded into the core: its surface name, typed arguments,
arity, typing rule, parameter rule and traits. The elaborator binds arguments
and calls ``infer``; the backend keeps its own lowering table keyed by
``OpDef.name``. Adding an op never edits the elaborator or the IR.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..types import TensorType

REQUIRED = object()


class OpTypeError(Exception):
    """A typing rule rejected its inputs; the elaborator adds the call's location."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Arg:
    """One surface argument: name, kind (int, float, bool, str, ints, any) and default."""

    name: str
    kind: str
    default: Any = REQUIRED
    choices: tuple | None = None
    doc: str = ""


@dataclass(frozen=True)
class ParamSpec:
    """A parameter an op instance needs: concrete shape and initializer."""

    shape: tuple[int, ...]
    init: str = "lecun_normal"
    init_args: dict = field(default_factory=dict)
    dtype: str = "f32"


Infer = Callable[[dict, list[TensorType]], list[TensorType]]
Params = Callable[[dict, list[TensorType]], dict[str, ParamSpec]]


def _no_params(attrs: dict, ins: list[TensorType]) -> dict[str, ParamSpec]:
    return {}


@dataclass(frozen=True)
class OpDef:
    """Declaration of one op.

    ``arity(attrs) -> (n_in, n_out)``; ``infer(attrs, in_types) -> out_types``
    raises ``OpTypeError``; ``params(attrs, in_types)`` gives the parameter
    slots an instance owns; ``main_param`` is what reparametrisation clauses
    act on by default. Traits: ``pure``, ``elementwise``, ``structural``,
    ``commutative``, ``linear``, ``convolution`` (lowers to an XLA convolution: XLA:CPU
    runs those inside loops several times slower, which ``repeat-to-scan`` and the
    training loop take into account), ``complex_pairs`` (the main weight holds complex
    numbers as (re, im) in its last axis: not a real matrix for the matrix clauses).
    """

    name: str
    surface: str
    args: tuple[Arg, ...]
    arity: Callable[[dict], tuple[int, int]]
    infer: Infer
    params: Params = _no_params
    traits: frozenset[str] = frozenset({"pure"})
    main_param: str | None = None
    doc: str = ""


OPS: dict[str, OpDef] = {}  # IR name -> op


def graph_has_trait(graph, trait: str) -> bool:
    """Whether any node of ``graph`` (regions included; for ``ctl.batched`` the op it
    batches) has ``trait``."""
    for node in graph.nodes():
        op = OPS.get(node.attrs.get("op") if node.op == "ctl.batched" else node.op)
        if op is not None and trait in op.traits:
            return True
        if node.region is not None and graph_has_trait(node.region, trait):
            return True
    return False
SURFACE: dict[str, OpDef] = {}  # spec name -> op


def register(op: OpDef) -> OpDef:
    if op.name in OPS or op.surface in SURFACE:
        raise ValueError(f"op {op.name} ({op.surface}) registered twice")
    OPS[op.name] = op
    SURFACE[op.surface] = op
    return op


def fixed(n_in: int, n_out: int) -> Callable[[dict], tuple[int, int]]:
    return lambda attrs: (n_in, n_out)


def check_known(size, what: str, op: str) -> int:
    """A size a parameter shape depends on must be a concrete integer."""
    if not isinstance(size, int):
        raise OpTypeError(
            f"`{op}` needs a known size for {what}, got `{size}`",
            "parameter shapes must be fixed: give this axis a number in the type",
        )
    return size


def require_rank(t: TensorType, op: str, low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not (low <= t.rank <= high):
        want = f"rank {low}" if low == high else f"rank {low} to {high}"
        raise OpTypeError(f"`{op}` expects an input of {want}, got {t}")


def require_float(t: TensorType, op: str) -> None:
    if t.dtype not in ("f32", "f16", "bf16", "f64"):
        raise OpTypeError(f"`{op}` expects a floating-point input, got {t}")


def normalize_axis(axis: int, rank: int, op: str) -> int:
    if not -rank <= axis < rank:
        raise OpTypeError(f"`{op}`: axis {axis} is out of range for rank {rank}")
    return axis % rank
