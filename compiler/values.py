"""Values of the spec language during elaboration: morphisms, constructors, wires.

Evaluating an expression gives a scalar (int, float, bool, str, list), a
*constructor* (an op, a definition, a builtin, an imported module) or a
``Morphism``. A morphism knows its arity and how to *emit* itself into a graph
given input wires; composition, products, sums and repetition are morphisms
built from morphisms, so the structure of the spec survives until emission,
where every node gets the span of the expression that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import Span, SpecError
from ..grammar import ast as A
from .ops.registry import OpDef

if TYPE_CHECKING:  # pragma: no cover
    from .builder import Builder
    from .ir import Wire


@dataclass
class WireVal:
    """A wire inside a named-wire block."""

    wire: Wire
    span: Span | None = None


@dataclass
class WireTuple:
    """Several wires returned by applying a multi-output morphism."""

    wires: list[WireVal]


@dataclass
class OpCtor:
    op: OpDef


@dataclass
class DefCtor:
    """A ``def`` from some module, closed over that module's global environment."""

    item: A.Def | A.Model
    env: Any  # Env of the defining module
    module: Any  # LoadedModule


@dataclass
class BuiltinCtor:
    name: str


@dataclass
class ModuleVal:
    alias: str
    module: Any  # LoadedModule


@dataclass
class ReparamSpec:
    """A reparametrisation clause after evaluation of its arguments."""

    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    span: Span | None


class Morphism:
    """A parametric map with ``n_in`` inputs and ``n_out`` outputs."""

    n_in: int
    n_out: int
    span: Span | None = None

    def emit(self, b: Builder, ins: list[Wire]) -> list[Wire]:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> str:
        """How messages name this morphism (ops by their surface name, composites by kind)."""
        return _KINDS.get(type(self).__name__, "this expression")


@dataclass
class OpM(Morphism):
    op: OpDef
    attrs: dict[str, Any]
    n_in: int
    n_out: int
    span: Span | None = None

    def emit(self, b, ins):
        return b.emit_op(self.op, self.attrs, ins, self.span)

    def describe(self):
        return f"`{self.op.surface}`"


@dataclass
class IdM(Morphism):
    n_in: int
    n_out: int
    span: Span | None = None

    def emit(self, b, ins):
        return list(ins)

    def describe(self):
        return "`id`"


@dataclass
class SeqM(Morphism):
    parts: list[Morphism]
    span: Span | None = None

    @property
    def n_in(self):
        return self.parts[0].n_in

    @property
    def n_out(self):
        return self.parts[-1].n_out

    def emit(self, b, ins):
        for part in self.parts:
            ins = part.emit(b, ins)
        return ins


@dataclass
class ParM(Morphism):
    parts: list[Morphism]
    span: Span | None = None

    @property
    def n_in(self):
        return sum(p.n_in for p in self.parts)

    @property
    def n_out(self):
        return sum(p.n_out for p in self.parts)

    def emit(self, b, ins):
        outs, i = [], 0
        for part in self.parts:
            outs.extend(part.emit(b, ins[i : i + part.n_in]))
            i += part.n_in
        return outs


@dataclass
class SumM(Morphism):
    """``f + g + …`` = copy each input, run the branches side by side, add outputs pairwise."""

    parts: list[Morphism]
    span: Span | None = None

    @property
    def n_in(self):
        return self.parts[0].n_in

    @property
    def n_out(self):
        return self.parts[0].n_out

    def emit(self, b, ins):
        from .ops.registry import SURFACE

        k = len(self.parts)
        copies = [b.emit_op(SURFACE["copy"], {"n": k}, [w], self.span) for w in ins]
        branch_outs = [
            part.emit(b, [c[j] for c in copies]) for j, part in enumerate(self.parts)
        ]
        return [
            b.emit_op(SURFACE["add"], {"n": k}, [outs[i] for outs in branch_outs], self.span)[0]
            for i in range(self.n_out)
        ]


@dataclass
class RepeatM(Morphism):
    """``f ^ n``: n-fold composition; ``tied`` copies share one parameter set."""

    body: Morphism
    times: int
    tied: bool = False
    span: Span | None = None

    @property
    def n_in(self):
        return self.body.n_in

    @property
    def n_out(self):
        return self.body.n_out

    def emit(self, b, ins):
        return b.emit_repeat(self, ins)


@dataclass
class ScopeM(Morphism):
    """A named region of the parameter tree: a definition call or ``expr as name``."""

    base: str
    body: Morphism
    explicit: bool = False  # `as name` (exact name) vs a definition (numbered name)
    span: Span | None = None

    @property
    def n_in(self):
        return self.body.n_in

    @property
    def n_out(self):
        return self.body.n_out

    def emit(self, b, ins):
        with b.scope(self.base, explicit=self.explicit, span=self.span):
            return self.body.emit(b, ins)

    def describe(self):
        return f"`{self.base}`"  # the definition called, or the `as` name


@dataclass
class WithM(Morphism):
    """``f with reparam``: every parameterised op emitted inside gets the clause."""

    body: Morphism
    reparam: ReparamSpec
    span: Span | None = None

    @property
    def n_in(self):
        return self.body.n_in

    @property
    def n_out(self):
        return self.body.n_out

    def emit(self, b, ins):
        with b.reparam(self.reparam) as uses:
            out = self.body.emit(b, ins)
        if not uses[0]:
            from ..errors import SpecError

            raise SpecError(
                f"`with {self.reparam.name}` changes parameters, but {self.body.describe()} "
                "has none", self.reparam.span,
                "put the clause on a layer with parameters (`dense(8) with …`), or drop it")
        return out

    def describe(self):
        return self.body.describe()


@dataclass
class BlockM(Morphism):
    """A named-wire body; statements are evaluated when the block is emitted."""

    block: A.Block
    env: Any
    in_names: list[str]
    n_in: int
    n_out: int
    evaluator: Any = None
    span: Span | None = None
    local: dict = field(default_factory=dict)

    def emit(self, b, ins):
        return self.evaluator.emit_block(self, b, ins)


_KINDS = {
    "SeqM": "the composite (`>>`)",
    "ParM": "the parallel product (`@`)",
    "SumM": "the sum (`+`)",
    "RepeatM": "the repetition (`^`)",
    "BlockM": "the block",
}


def check_composable(f: Morphism, g: Morphism, span: Span | None) -> None:
    if f.n_out != g.n_in:
        raise SpecError(
            f"cannot compose: {f.describe()} has {f.n_out} output(s) "
            f"but {g.describe()} takes {g.n_in} input(s)",
            span,
            "use `@` to run morphisms side by side, or `copy`/`drop` to match the wires",
        )


@dataclass
class FoldM(Morphism):
    """``fold(cell, state=[…])``: one ``ctl.fold`` node whose region is the cell.

    See ``compiler/ops/recursion.py`` for the typing rule and the semantics.
    """

    cell: Morphism
    attrs: dict[str, Any]
    n_in: int = 1
    n_out: int = 1
    span: Span | None = None

    def emit(self, b, ins):
        from .ops import recursion as R

        x = b.graph.type_of(ins[0])
        return b.emit_control(
            "ctl.fold", "fold", self.attrs, ins, self.cell, self.span,
            region_ins=lambda: R.fold_region_inputs(self.attrs, x),
            out_types=lambda outs: R.fold_out_types(self.attrs, x, outs),
            params=lambda: R.fold_params(self.attrs, x),
        )

    def describe(self):
        return "`fold`"


@dataclass
class MapM(Morphism):
    """``map(f, axis=a)``: one ``ctl.map`` node whose region is ``f`` (vmap semantics)."""

    body: Morphism
    attrs: dict[str, Any]
    n_in: int = 1
    n_out: int = 1
    span: Span | None = None

    def emit(self, b, ins):
        from .ops import recursion as R

        types = [b.graph.type_of(w) for w in ins]
        return b.emit_control(
            "ctl.map", "map", self.attrs, ins, self.body, self.span,
            region_ins=lambda: R.map_region_inputs(self.attrs, types),
            out_types=lambda outs: R.map_out_types(self.attrs, types, outs),
            params=dict,
        )

    def describe(self):
        return "`map`"
