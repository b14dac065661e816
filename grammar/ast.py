"""The abstract syntax of catspec specs: pydantic models shared by both surface syntaxes.

The text parser (``parser.py``) and the YAML loader (``yaml_form.py``) both
produce these nodes, and the formatter prints them back. Every node carries the
``Span`` it came from and the comments that preceded it; both are *trivia*:
excluded from equality and from serialisation, so a ``.cat`` file and its
``.yaml`` twin compare equal when they say the same thing.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from ..errors import Span

_TRIVIA = ("span", "comments")


class Node(BaseModel):
    """Base of every AST node: source span and leading comments are trivia."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    span: Span | None = Field(default=None, exclude=True, repr=False)

    def _key(self) -> tuple:
        return tuple(
            (name, getattr(self, name)) for name in type(self).model_fields if name not in _TRIVIA
        )

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        return self._key() == other._key()  # type: ignore[union-attr]

    def __hash__(self) -> int:  # pragma: no cover - AST nodes are not used as keys
        return hash(type(self).__name__)


# ---- expressions -------------------------------------------------------------


class Name(Node):
    kind: Literal["name"] = "name"
    id: str


class Int(Node):
    kind: Literal["int"] = "int"
    value: int


class Float(Node):
    kind: Literal["float"] = "float"
    value: float


class Str(Node):
    kind: Literal["str"] = "str"
    value: str


class Bool(Node):
    kind: Literal["bool"] = "bool"
    value: bool


class ListExpr(Node):
    kind: Literal["list"] = "list"
    items: list[Expr]


BinOpName = Literal[
    ">>", "@", "+", "-", "*", "/", "//", "%", "^", "==", "!=", "<", "<=", ">", ">=", "and", "or"
]


class BinOp(Node):
    """``left op right``; ``>>``, ``@``, ``+`` and ``^`` also act on morphisms."""

    kind: Literal["binop"] = "binop"
    op: BinOpName
    left: Expr
    right: Expr

    def chain(self) -> list[Expr]:
        """Terms of the left-nested chain of this operator: ``a >> b >> c`` -> ``[a, b, c]``."""
        terms: list = []
        e: Expr = self
        while isinstance(e, BinOp) and e.op == self.op:
            terms.append(e.right)
            e = e.left
        terms.append(e)
        return terms[::-1]

    def __eq__(self, other: object) -> bool:
        # Iterative over the chain: a 1,000-stage `>>` is 1,000 nodes deep.
        if not isinstance(other, BinOp):
            return NotImplemented
        if self.op != other.op:
            return False
        return self.chain() == other.chain()

    __hash__ = Node.__hash__


class UnaryOp(Node):
    kind: Literal["unary"] = "unary"
    op: Literal["-", "not"]
    operand: Expr


class Kwarg(Node):
    name: str
    value: Expr


class Call(Node):
    """``func(args…, name=value…)``: builds a morphism, or applies one to wires."""

    kind: Literal["call"] = "call"
    func: Expr
    args: list[Expr] = []
    kwargs: list[Kwarg] = []


class Attr(Node):
    """``module.name``: a definition from an imported spec."""

    kind: Literal["attr"] = "attr"
    value: Expr
    name: str


class IfExpr(Node):
    kind: Literal["if"] = "if"
    cond: Expr
    then: Expr
    orelse: Expr


class Reparam(Node):
    """A reparametrisation clause: ``lora(rank=4)``, ``freeze``, ``tie("enc")``."""

    name: str
    args: list[Expr] = []
    kwargs: list[Kwarg] = []
    called: bool = False  # written with parentheses (kept so fmt round-trips)


class With(Node):
    """``layer with reparam``: parameters of ``layer`` are defined through ``reparam``."""

    kind: Literal["with"] = "with"
    expr: Expr
    reparam: Reparam


class As(Node):
    """``layer as name``: names the instance (its parameters live under ``name``)."""

    kind: Literal["as"] = "as"
    expr: Expr
    name: str


Expr = Annotated[
    Union[Name, Int, Float, Str, Bool, ListExpr, BinOp, UnaryOp, Call, Attr, IfExpr, With, As],
    Field(discriminator="kind"),
]

# ---- types and signatures ----------------------------------------------------


class Dim(Node):
    """One axis of a tensor type: an optional axis name and a size expression."""

    name: str | None = None
    size: Expr


class TypeExpr(Node):
    """``Tensor[N, 64]`` or ``Field[x: N, c: 2]``; dtype defaults to ``f32``."""

    kind: Literal["Tensor", "Field"]
    dims: list[Dim]
    dtype: str = "f32"


class Port(Node):
    """One wire of a signature: ``x: Tensor[N]``, ``Tensor[N]`` or just ``x``."""

    name: str | None = None
    type: TypeExpr | None = None


class Signature(Node):
    inputs: list[Port]
    outputs: list[Port]


# ---- statements, definitions, modules ----------------------------------------


class Assign(Node):
    """``a, b = expr`` inside a named-wire block."""

    targets: list[str]
    value: Expr
    comments: list[str] = Field(default_factory=list, exclude=True, repr=False)


class Block(Node):
    """A named-wire body: bindings then one ``return`` of one or several wires."""

    stmts: list[Assign]
    returns: list[Expr]
    return_span: Span | None = Field(default=None, exclude=True, repr=False)
    return_comments: list[str] = Field(default_factory=list, exclude=True, repr=False)

    def _key(self) -> tuple:
        return (self.stmts, self.returns)


class Param(Node):
    name: str
    type: Literal["int", "float", "bool", "str"]
    default: Expr | None = None


class TrainEntry(Node):
    key: str
    value: Expr
    comments: list[str] = Field(default_factory=list, exclude=True, repr=False)


class Import(Node):
    kind: Literal["import"] = "import"
    path: str
    alias: str
    comments: list[str] = Field(default_factory=list, exclude=True, repr=False)


class Def(Node):
    """``def name(params) [: signature] = expr`` or ``{ block }``."""

    kind: Literal["def"] = "def"
    name: str
    params: list[Param] = []
    signature: Signature | None = None
    body: Expr | Block
    comments: list[str] = Field(default_factory=list, exclude=True, repr=False)


class Model(Node):
    """A runnable definition: a signature is required, parameters need defaults."""

    kind: Literal["model"] = "model"
    name: str
    params: list[Param] = []
    signature: Signature
    body: Expr | Block
    train: list[TrainEntry] | None = None
    comments: list[str] = Field(default_factory=list, exclude=True, repr=False)


Item = Annotated[Union[Import, Def, Model], Field(discriminator="kind")]


class Module(Node):
    """A whole spec file."""

    items: list[Item]
    file: str = Field(default="<spec>", exclude=True, repr=False)
    trailing_comments: list[str] = Field(default_factory=list, exclude=True, repr=False)

    def _key(self) -> tuple:
        return (self.items,)

    def find(self, name: str) -> Def | Model | None:
        """The definition or model called ``name``, if any."""
        for item in self.items:
            if isinstance(item, (Def, Model)) and item.name == name:
                return item
        return None

    @property
    def models(self) -> list[Model]:
        return [i for i in self.items if isinstance(i, Model)]


for _cls in (ListExpr, BinOp, UnaryOp, Kwarg, Call, Attr, IfExpr, Reparam, With, As, Dim):
    _cls.model_rebuild()
