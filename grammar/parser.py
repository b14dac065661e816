"""Text form -> AST: the lark LALR parser, a transformer to pydantic nodes, friendly errors.

Only ``parse_module`` / ``parse_expr`` / ``parse_signature`` are public. Every
failure, whether lark's or ours, leaves as a ``SpecError`` with a span.
"""

from __future__ import annotations

import ast as pyast
from functools import lru_cache
from importlib import resources

import lark
from lark import Lark, Token, v_args
from lark.visitors import Transformer_NonRecursive

from ..errors import Span, SpecError, remember_source
from ..limits import MAX_INT_DIGITS, ensure_recursion_headroom
from . import ast as A

_BINOPS = {
    "seq": ">>", "par": "@", "or_": "or", "and_": "and", "add": "+", "sub": "-",
    "mul": "*", "div": "/", "floordiv": "//", "mod": "%", "rep": "^",
    "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
}  # fmt: skip

PARAM_TYPES = ("int", "float", "bool", "str")

# Readable names for lark terminals in "expected ..." hints.
_TERMINAL_TEXT = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`",
    "RBRACE": "`}`", "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`", "MINUS": "`-`",
    "DOT": "`.`", "SEMICOLON": "`;`", "__ANON_0": "`->`", "$END": "the end of the input",
}  # fmt: skip


@lru_cache(maxsize=1)
def _lark() -> Lark:
    text = resources.files(__package__).joinpath("catspec.lark").read_text()
    return Lark(
        text,
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        start=["start", "expr", "signature", "type"],
    )


def _describe_expected(expected: set[str]) -> str:
    if {"NAME", "INT", "LPAR"} <= expected:
        return "expected an expression"
    parser = _lark()
    names = []
    for term in sorted(expected):
        if term in _TERMINAL_TEXT:
            names.append(_TERMINAL_TEXT[term])
            continue
        try:
            pattern = parser.get_terminal(term).pattern
        except KeyError:
            names.append(term.lower())
            continue
        names.append(f"`{pattern.value}`" if pattern.type == "str" else term.lower())
    names = sorted(set(names))
    if not names:  # e.g. text after a complete expression (`0x10` is `0` then `x10`)
        return "the expression already ended before this; remove it"
    if len(names) > 6:
        return "expected " + ", ".join(names[:6]) + ", …"
    return "expected " + ", ".join(names)


def _token_text(token: Token) -> str:
    if token.type == "$END":
        return "end of input"
    return f"`{token}`"


def _syntax_error(err: lark.exceptions.UnexpectedInput, file: str, text: str) -> SpecError:
    line = getattr(err, "line", None) or 1
    col = getattr(err, "column", None) or 1
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        char = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        hint = "strings use double quotes" if char == "'" else None
        span = Span(file, line, col, line, col + 1)
        return SpecError(f"unexpected character `{char}`", span, hint)
    if isinstance(err, lark.exceptions.UnexpectedToken):
        tok = err.token
        if tok.type == "$END":
            lines = text.splitlines() or [""]
            line, col = len(lines), len(lines[-1]) + 1
            span = Span(file, line, col, line, col + 1)
        else:
            end = (tok.end_column or col + 1) if tok.end_line == tok.line else col + 1
            span = Span(file, line, col, line, end)
        return SpecError(
            f"unexpected {_token_text(tok)}", span, _describe_expected(set(err.expected))
        )
    span = Span(file, line, col, line, col + 1)  # UnexpectedEOF and friends
    return SpecError("unexpected end of input", span, None)


class _ToAst(Transformer_NonRecursive):
    """Turns lark's tree into pydantic AST nodes, attaching spans."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def _span(self, meta) -> Span | None:
        if getattr(meta, "empty", True):
            return None
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok_span(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # -- module ---------------------------------------------------------------
    @v_args(meta=True)
    def start(self, meta, items):
        return A.Module(items=list(items), file=self.file, span=self._span(meta))

    @v_args(meta=True)
    def import_(self, meta, children):
        path_tok, alias = children
        return A.Import(path=_unquote(path_tok), alias=str(alias), span=self._span(meta))

    @v_args(meta=True)
    def def_(self, meta, children):
        name, params, sig, body = children
        return A.Def(
            name=str(name), params=params or [], signature=sig, body=body, span=self._span(meta)
        )

    @v_args(meta=True)
    def model(self, meta, children):
        name, params, sig, body, train = children
        return A.Model(
            name=str(name),
            params=params or [],
            signature=sig,
            body=body,
            train=train,
            span=self._span(meta),
        )

    def params(self, children):
        out = [c for c in children if c is not None]
        _no_duplicates(out, lambda p: p.name, "parameter")
        return out

    @v_args(meta=True)
    def param(self, meta, children):
        name, type_tok, default = children
        if str(type_tok) not in PARAM_TYPES:
            from ..errors import did_you_mean

            raise SpecError(
                f"unknown parameter type `{type_tok}`",
                self._tok_span(type_tok),
                did_you_mean(str(type_tok), PARAM_TYPES)
                or "parameter types are int, float, bool and str",
            )
        return A.Param(name=str(name), type=str(type_tok), default=default, span=self._span(meta))

    # -- signatures -------------------------------------------------------------
    @v_args(meta=True)
    def signature(self, meta, children):
        inputs, outputs = children
        return A.Signature(inputs=inputs, outputs=outputs, span=self._span(meta))

    def ports(self, children):
        return [c for c in children if c is not None]

    @v_args(meta=True)
    def named_port(self, meta, children):
        name, type_ = children
        return A.Port(name=str(name), type=type_, span=self._span(meta))

    @v_args(meta=True)
    def anon_port(self, meta, children):
        return A.Port(type=children[0], span=self._span(meta))

    @v_args(meta=True)
    def untyped_port(self, meta, children):
        return A.Port(name=str(children[0]), span=self._span(meta))

    def _type(self, kind, meta, dims):
        dtype = "f32"
        kept = []
        for d in dims:
            if d is None:
                continue
            if isinstance(d, tuple):  # option_dim
                key, value = d
                if str(key) != "dtype":
                    raise SpecError(
                        f"unknown type option `{key}`",
                        self._tok_span(key),
                        "the only option of a type is `dtype=`, e.g. `Tensor[T, dtype=i32]`",
                    )
                dtype = str(value)
                continue
            kept.append(d)
        return A.TypeExpr(kind=kind, dims=kept, dtype=dtype, span=self._span(meta))

    @v_args(meta=True)
    def tensor_type(self, meta, dims):
        return self._type("Tensor", meta, dims)

    @v_args(meta=True)
    def field_type(self, meta, dims):
        return self._type("Field", meta, dims)

    @v_args(meta=True)
    def named_dim(self, meta, children):
        name, size = children
        return A.Dim(name=str(name), size=size, span=self._span(meta))

    def option_dim(self, children):
        return (children[0], children[1])

    @v_args(meta=True)
    def anon_dim(self, meta, children):
        return A.Dim(size=children[0], span=self._span(meta))

    # -- bodies -----------------------------------------------------------------
    def expr_body(self, children):
        return children[0]

    @v_args(meta=True)
    def block_body(self, meta, stmts):
        assigns, returns, return_span = [], None, None
        for s in stmts:
            if isinstance(s, A.Assign):
                if returns is not None:
                    raise SpecError(
                        "statement after `return`",
                        s.span,
                        "`return` must be the last statement of a block",
                    )
                assigns.append(s)
            else:
                if returns is not None:
                    raise SpecError("a block has exactly one `return`", s[1], None)
                returns, return_span = s
        if returns is None:
            end = Span(self.file, meta.end_line, meta.end_column - 1)
            raise SpecError(
                "block has no `return`", end, "end the block with `return wire` (or `return a, b`)"
            )
        return A.Block(
            stmts=assigns, returns=returns, return_span=return_span, span=self._span(meta)
        )

    @v_args(meta=True)
    def assign(self, meta, children):
        children = [c for c in children if c is not None]
        *targets, value = children
        return A.Assign(targets=[str(t) for t in targets], value=value, span=self._span(meta))

    @v_args(meta=True)
    def return_(self, meta, children):
        return ([c for c in children if c is not None], self._span(meta))

    def train(self, entries):
        out = list(entries)
        _no_duplicates(out, lambda t: t.key, "train setting")
        return out

    @v_args(meta=True)
    def train_entry(self, meta, children):
        key, value = children[:2]
        return A.TrainEntry(key=str(key), value=value, span=self._span(meta))

    # -- expressions --------------------------------------------------------------
    def __default__(self, data, children, meta):
        if data in _BINOPS:
            left, right = children
            return A.BinOp(op=_BINOPS[data], left=left, right=right, span=self._span(meta))
        return super().__default__(data, children, meta)

    @v_args(meta=True)
    def if_expr(self, meta, children):
        cond, then, orelse = children
        return A.IfExpr(cond=cond, then=then, orelse=orelse, span=self._span(meta))

    @v_args(meta=True)
    def not_(self, meta, children):
        return A.UnaryOp(op="not", operand=children[0], span=self._span(meta))

    @v_args(meta=True)
    def neg(self, meta, children):
        return A.UnaryOp(op="-", operand=children[0], span=self._span(meta))

    @v_args(meta=True)
    def with_(self, meta, children):
        expr, reparam = children
        return A.With(expr=expr, reparam=reparam, span=self._span(meta))

    @v_args(meta=True)
    def as_(self, meta, children):
        expr, name = children
        return A.As(expr=expr, name=str(name), span=self._span(meta))

    @v_args(meta=True)
    def reparam(self, meta, children):
        name = children[0]
        called = len(children) > 1
        args, kwargs = children[1] if called and children[1] is not None else ([], [])
        return A.Reparam(
            name=str(name), args=args, kwargs=kwargs, called=called, span=self._span(meta)
        )

    @v_args(meta=True)
    def call(self, meta, children):
        func, arglist = children
        args, kwargs = arglist if arglist is not None else ([], [])
        return A.Call(func=func, args=args, kwargs=kwargs, span=self._span(meta))

    @v_args(meta=True)
    def attr(self, meta, children):
        value, name = children
        return A.Attr(value=value, name=str(name), span=self._span(meta))

    def args(self, children):
        args, kwargs = [], []
        for c in children:
            if c is None:
                continue
            if isinstance(c, A.Kwarg):
                if any(k.name == c.name for k in kwargs):
                    raise SpecError(f"keyword argument `{c.name}` given twice", c.span, None)
                kwargs.append(c)
            else:
                if kwargs:
                    raise SpecError(
                        "positional argument after keyword argument",
                        c.span,
                        "put positional arguments first",
                    )
                args.append(c)
        return (args, kwargs)

    @v_args(meta=True)
    def kwarg(self, meta, children):
        name, value = children
        return A.Kwarg(name=str(name), value=value, span=self._span(meta))

    @v_args(meta=True)
    def name(self, meta, children):
        return A.Name(id=str(children[0]), span=self._span(meta))

    @v_args(meta=True)
    def int_(self, meta, children):
        digits = str(children[0]).replace("_", "")
        if len(digits) > MAX_INT_DIGITS:
            raise SpecError(f"an integer of {len(digits)} digits is too long", self._span(meta),
                            f"integers have at most {MAX_INT_DIGITS} digits")
        return A.Int(value=int(digits), span=self._span(meta))

    @v_args(meta=True)
    def float_(self, meta, children):
        return A.Float(value=float(str(children[0]).replace("_", "")), span=self._span(meta))

    @v_args(meta=True)
    def string(self, meta, children):
        return A.Str(value=_unquote(children[0]), span=self._span(meta))

    @v_args(meta=True)
    def true(self, meta, children):
        return A.Bool(value=True, span=self._span(meta))

    @v_args(meta=True)
    def false(self, meta, children):
        return A.Bool(value=False, span=self._span(meta))

    @v_args(meta=True)
    def list_(self, meta, children):
        return A.ListExpr(items=[c for c in children if c is not None], span=self._span(meta))


def _no_duplicates(nodes, key, what: str) -> None:
    seen = set()
    for n in nodes:
        if key(n) in seen:
            raise SpecError(f"{what} `{key(n)}` is given twice", n.span, "remove one of them")
        seen.add(key(n))


def _unquote(tok: Token | str) -> str:
    # STRING tokens are double-quoted with backslash escapes; literal_eval only
    # ever sees a string literal here (the lexer guarantees it), so it is safe.
    return pyast.literal_eval(str(tok))


def _comments(text: str) -> list[tuple[int, str]]:
    """(line, text) of every comment; lark drops them, the formatter keeps them."""
    out = []
    # Split on "\n" only: lark counts lines that way (str.splitlines also
    # splits on \x0b, \u2028, … which may sit inside string literals).
    for lineno, line in enumerate(text.split("\n"), start=1):
        i = 0
        in_string = False  # strings never span lines
        while i < len(line):
            ch = line[i]
            if in_string:
                if ch == "\\":
                    i += 1
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "#":
                out.append((lineno, line[i:].rstrip()))
                break
            i += 1
    return out


class _ReturnAnchor:
    """Stands for a block's ``return`` so comments above it stay above it."""

    def __init__(self, block: A.Block):
        self.comments = block.return_comments


def _in_header_or_expr_body(item, line: int) -> bool:
    body = getattr(item, "body", None)
    if isinstance(body, A.Block):
        return body.span is not None and line < body.span.line
    span = getattr(body, "span", None)
    return span is None or line <= (span.end_line or span.line)


def _attach_comments(module: A.Module, text: str) -> None:
    """Give each item, block statement and train entry the comments written with it.

    A comment on the lines of a node (above its first line is not "on") goes to
    the innermost such node: a statement, a ``return``, a train entry, else the
    item — so a comment *inside* a multi-line expression is printed above the
    statement or item that holds it. A comment between nodes goes to the next
    node; one after the last item is kept at the end of the file.
    """
    comments = _comments(text)
    if not comments:
        return
    items: list[tuple[int, int, object]] = []  # (first line, last line, node)
    leaves: list[tuple[int, int, object]] = []

    def add(into, span: Span | None, node) -> None:
        if span is not None:
            into.append((span.line, span.end_line or span.line, node))

    for item in module.items:
        add(items, item.span, item)
        body = getattr(item, "body", None)
        if isinstance(body, A.Block):
            for s in body.stmts:
                add(leaves, s.span, s)
            add(leaves, body.return_span, _ReturnAnchor(body))
        for t in getattr(item, "train", None) or []:
            add(leaves, t.span, t)
    anchors = sorted(items + leaves, key=lambda a: (a[0], -a[1]))
    for line, comment in comments:
        leaf = next((a for a in leaves if a[0] <= line <= a[1]), None)
        owner = next((a for a in items if a[0] <= line <= a[1]), None)
        following = next((a for a in anchors if a[0] >= line), None)
        if leaf is not None:
            target = leaf[2]
        elif owner is not None and (
            _in_header_or_expr_body(owner[2], line)
            or following is None
            or following[0] > owner[1]
        ):
            target = owner[2]  # inside the header or expression, or after the last statement
        elif following is not None:
            target = following[2]
        else:
            module.trailing_comments.append(comment)
            continue
        target.comments.append(comment)


MAX_NESTING = 100
# Chains of these operators are evaluated and printed iteratively, so a long
# `a >> b >> … >> z` is flat, not deep; everything else counts one level.
FLAT_CHAINS = (">>", "@", "+")


def check_nesting(node: A.Node, file: str = "<spec>") -> None:
    """Refuse ASTs nested deeper than ``MAX_NESTING`` before anything recurses on them."""
    stack: list[tuple[object, int, Span | None]] = [(node, 0, node.span)]
    while stack:
        n, depth, near = stack.pop()
        if isinstance(n, list):
            stack.extend((x, depth, near) for x in n)
            continue
        if not isinstance(n, A.Node):
            continue
        near = n.span or near
        if depth > MAX_NESTING:
            raise SpecError(
                "expression nested too deeply",
                near,
                f"at most {MAX_NESTING} levels of nesting; give parts a name with `def` "
                "or a named-wire block",
            )
        if isinstance(n, A.BinOp) and n.op in FLAT_CHAINS:
            stack.extend((t, depth + 1, near) for t in n.chain())
            continue
        for name in type(n).model_fields:
            if name not in ("span", "comments", "return_span", "return_comments", "file"):
                stack.append((getattr(n, name), depth + 1, near))


def _too_deep(file: str, text: str) -> SpecError:
    return SpecError(
        "expression nested too deeply", Span(file, 1, 1),
        f"at most {MAX_NESTING} levels of nesting; give parts a name with `def` "
        "or a named-wire block",
    )


def _parse(text: str, file: str, start: str, remember: bool = True):
    ensure_recursion_headroom()
    if remember:
        remember_source(file, text)
    try:
        tree = _lark().parse(text, start=start)
    except lark.exceptions.UnexpectedInput as err:
        raise _syntax_error(err, file, text) from None
    try:
        result = _ToAst(file).transform(tree)
    except lark.exceptions.VisitError as err:
        if isinstance(err.orig_exc, SpecError):
            raise err.orig_exc from None
        if isinstance(err.orig_exc, RecursionError):
            raise _too_deep(file, text) from None
        raise
    except RecursionError:
        raise _too_deep(file, text) from None
    if isinstance(result, A.Node):
        check_nesting(result, file)
    return result


def parse_module(text: str, file: str = "<spec>") -> A.Module:
    """Parse a whole ``.cat`` file; raises ``SpecError`` on bad input."""
    module = _parse(text, file, "start")
    _attach_comments(module, text)
    return module


def parse_expr(text: str, file: str = "<expr>", line: int = 1, col: int = 1) -> A.Expr:
    """Parse one expression (used by the YAML form and ``-s`` overrides).

    ``line``/``col`` say where the fragment starts in ``file`` so that spans
    and errors point into the file it came from.
    """
    return _parse(_pad(text, line, col), file, "expr", remember=False)


def parse_signature(text: str, file: str = "<signature>", line: int = 1, col: int = 1):
    """Parse ``A -> B`` (used by the YAML form)."""
    return _parse(_pad(text, line, col), file, "signature", remember=False)


def _pad(text: str, line: int, col: int) -> str:
    # Padding is the simplest exact way to make lark report file positions.
    return "\n" * (line - 1) + " " * (col - 1) + text
