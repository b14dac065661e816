"""AST -> canonical text form (``catspec fmt``).

Printing is precedence-aware: parentheses appear exactly where the AST needs
them, so ``parse(format(ast)) == ast`` for every AST. Layout is fixed (4-space
indent, one item per paragraph, long ``>>`` chains one stage per line) so that
formatting is idempotent; comments written above items and statements are kept.
"""

from __future__ import annotations

import re

from . import ast as A

WIDTH = 88
# A header (`model name(params) : A -> B =`) reads best whole, so it may run a
# little wider than the body before its signature moves to the next line.
HEADER_WIDTH = 100
INDENT = "    "

# Binding strength, loosest first (mirrors grammar/catspec.lark).
PREC = {
    "if": 0, ">>": 1, "@": 2, "or": 3, "and": 4, "not": 5,
    "==": 6, "!=": 6, "<": 6, "<=": 6, ">": 6, ">=": 6,
    "+": 7, "-": 7, "*": 8, "/": 8, "//": 8, "%": 8,
    "neg": 9, "^": 10, "with": 11, "as": 11, "call": 12, "atom": 13,
}  # fmt: skip
_CMP = {"==", "!=", "<", "<=", ">", ">="}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CHAINS = (">>", "@", "+", "-", "*", "/", "//", "%", "or", "and")  # left-associative
KEYWORDS = {
    "import", "as", "def", "model", "train", "return", "if", "then", "else", "and", "or",
    "not", "with", "true", "false", "Tensor", "Field",
}  # fmt: skip


def prec(e: A.Expr) -> int:
    if isinstance(e, A.BinOp):
        return PREC[e.op]
    if isinstance(e, A.UnaryOp):
        return PREC["neg"] if e.op == "-" else PREC["not"]
    if isinstance(e, A.IfExpr):
        return PREC["if"]
    if isinstance(e, (A.With, A.As)):
        return PREC["with"]
    if isinstance(e, (A.Call, A.Attr)):
        return PREC["call"]
    return PREC["atom"]


def format_float(v: float) -> str:
    text = repr(float(v))
    if "e" not in text and "." not in text and "n" not in text:
        text += ".0"
    return text


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def format_string(s: str) -> str:
    """A double-quoted literal; control and other non-printable characters are escaped."""
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def expr(e: A.Expr) -> str:
    """One-line text of an expression."""
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Int):
        return str(e.value) if e.value >= 0 else f"({e.value})"
    if isinstance(e, A.Float):
        return format_float(e.value) if e.value >= 0 else f"({format_float(e.value)})"
    if isinstance(e, A.Str):
        return format_string(e.value)
    if isinstance(e, A.Bool):
        return "true" if e.value else "false"
    if isinstance(e, A.ListExpr):
        return "[" + ", ".join(expr(x) for x in e.items) + "]"
    if isinstance(e, A.BinOp):
        p = PREC[e.op]
        if e.op in _CHAINS:  # iterative: chains may be very long
            terms = e.chain()
            return f" {e.op} ".join(
                [_wrap(terms[0], p)] + [_wrap(t, p + 1) for t in terms[1:]]
            )
        if e.op == "^":
            return f"{_wrap(e.left, PREC['with'])} ^ {_wrap(e.right, PREC['neg'])}"
        if e.op in _CMP:
            return f"{_wrap(e.left, p + 1)} {e.op} {_wrap(e.right, p + 1)}"
        return f"{_wrap(e.left, p)} {e.op} {_wrap(e.right, p + 1)}"
    if isinstance(e, A.UnaryOp):
        if e.op == "-":
            return "-" + _wrap(e.operand, PREC["neg"])
        return "not " + _wrap(e.operand, PREC["not"])
    if isinstance(e, A.IfExpr):
        return f"if {expr(e.cond)} then {expr(e.then)} else {expr(e.orelse)}"
    if isinstance(e, A.Call):
        return _wrap(e.func, PREC["call"]) + "(" + _args(e.args, e.kwargs) + ")"
    if isinstance(e, A.Attr):
        base = _wrap(e.value, PREC["call"])
        if isinstance(e.value, A.Int):  # `3.x` would lex as the float `3.`
            base = f"({base})"
        return base + "." + e.name
    if isinstance(e, A.With):
        return f"{_wrap(e.expr, PREC['with'])} with {reparam(e.reparam)}"
    if isinstance(e, A.As):
        return f"{_wrap(e.expr, PREC['with'])} as {e.name}"
    raise TypeError(f"not an expression: {e!r}")  # pragma: no cover


def _wrap(e: A.Expr, min_prec: int) -> str:
    text = expr(e)
    return f"({text})" if prec(e) < min_prec else text


def _args(args, kwargs) -> str:
    parts = [expr(a) for a in args] + [f"{k.name}={expr(k.value)}" for k in kwargs]
    return ", ".join(parts)


def reparam(r: A.Reparam) -> str:
    if not r.called and not r.args and not r.kwargs:
        return r.name
    return f"{r.name}({_args(r.args, r.kwargs)})"


def type_expr(t: A.TypeExpr) -> str:
    dims = [f"{d.name}: {expr(d.size)}" if d.name else expr(d.size) for d in t.dims]
    if t.dtype != "f32":
        dims.append(f"dtype={t.dtype}")
    return f"{t.kind}[{', '.join(dims)}]"


def port(p: A.Port) -> str:
    if p.type is None:
        return p.name or "_"
    return f"{p.name}: {type_expr(p.type)}" if p.name else type_expr(p.type)


def ports(ps: list[A.Port]) -> str:
    if len(ps) == 1 and (ps[0].type is not None or ps[0].name is None):
        return port(ps[0])
    return "(" + ", ".join(port(p) for p in ps) + ")"


def signature(s: A.Signature) -> str:
    return f"{ports(s.inputs)} -> {ports(s.outputs)}"


def param(p: A.Param) -> str:
    return f"{p.name}: {p.type}" + (f" = {expr(p.default)}" if p.default is not None else "")


def layout(e: A.Expr, indent: str, prefix: str = "", suffix: str = "") -> list[str]:
    """Lines of ``prefix + expr(e) + suffix`` at ``indent``, broken when wider than WIDTH.

    The layout is a pure function of the AST (no memory of the input's line
    breaks), which is what makes ``fmt`` idempotent. Long chains of ``>>``, ``@``
    and ``+`` break *before* an operator, packing stages greedily; a call or list
    too long for its line puts one argument per line (with a trailing comma); a
    parenthesised term breaks inside its parentheses.
    """
    one = indent + prefix + expr(e) + suffix
    if len(one) <= WIDTH:
        return [one]
    if isinstance(e, A.BinOp) and e.op in _CHAINS:
        return _layout_chain(e, indent, prefix, suffix)
    if isinstance(e, A.Call) and (e.args or e.kwargs):
        head = prefix + _wrap(e.func, PREC["call"]) + "("
        items = [(a, "") for a in e.args] + [(k.value, k.name + "=") for k in e.kwargs]
        return _layout_items(head, items, ")" + suffix, indent)
    if isinstance(e, A.ListExpr) and e.items:
        return _layout_items(prefix + "[", [(x, "") for x in e.items], "]" + suffix, indent)
    return [one]


def _layout_items(head: str, items, close: str, indent: str) -> list[str]:
    lines = [indent + head]
    for value, label in items:
        lines += layout(value, indent + INDENT, label, ",")
    lines.append(indent + close)
    return lines


def _layout_term(e: A.Expr, min_prec: int, indent: str, prefix: str, suffix: str) -> list[str]:
    if prec(e) < min_prec:
        return layout(e, indent, prefix + "(", ")" + suffix)
    return layout(e, indent, prefix, suffix)


def _layout_chain(e: A.BinOp, indent: str, prefix: str, suffix: str) -> list[str]:
    op = e.op
    p = PREC[op]
    terms = e.chain()
    lines = _layout_term(terms[0], p, indent, prefix, "")
    for i, t in enumerate(terms[1:], start=1):
        end = suffix if i == len(terms) - 1 else ""
        piece = _wrap(t, p + 1) + end
        if len(lines[-1]) + len(op) + 2 + len(piece) <= WIDTH:
            lines[-1] += f" {op} {piece}"
        else:
            lines += _layout_term(t, p + 1, indent, f"{op} ", end)
    return lines


def _comments(node, indent: str) -> list[str]:
    return [indent + c for c in getattr(node, "comments", [])]


def block(b: A.Block, indent: str) -> list[str]:
    lines = []
    for s in b.stmts:
        lines += _comments(s, indent)
        lines += layout(s.value, indent, f"{', '.join(s.targets)} = ")
    lines += [indent + c for c in b.return_comments]
    if len(b.returns) == 1:
        lines += layout(b.returns[0], indent, "return ")
    else:
        lines.append(f"{indent}return {', '.join(expr(r) for r in b.returns)}")
    return lines


def header(it: A.Def | A.Model, opener: str) -> list[str]:
    """``model name(params) : A -> B =``, broken over lines when wider than HEADER_WIDTH.

    First the signature moves to its own indented line; if the parameters alone
    are still too wide, they go one per line.
    """
    head = "model" if isinstance(it, A.Model) else "def"
    ps = [param(p) for p in it.params]
    params = f"({', '.join(ps)})" if ps else ""
    sig = f": {signature(it.signature)} " if it.signature is not None else ""
    one = f"{head} {it.name}{params} {sig}{opener}"
    if len(one) <= HEADER_WIDTH:
        return [one]
    first = f"{head} {it.name}{params}"
    if len(first) <= HEADER_WIDTH:
        lines = [first]
    else:
        lines = [f"{head} {it.name}("] + [f"{INDENT}{p}," for p in ps] + [")"]
    last = f"{INDENT}{sig}{opener}"
    if not sig:
        lines[-1] += f" {opener}"
    elif lines[-1] == ")" and len(f") {sig}{opener}") <= WIDTH:
        lines[-1] = f") {sig}{opener}"
    else:
        lines.append(last)
    return lines


def item(it) -> str:
    lines = _comments(it, "")
    if isinstance(it, A.Import):
        lines.append(f"import {format_string(it.path)} as {it.alias}")
        return "\n".join(lines)
    if isinstance(it.body, A.Block):
        lines += header(it, "{")
        lines += block(it.body, INDENT)
        lines.append("}")
    else:
        lines += header(it, "=")
        lines += layout(it.body, INDENT)
    if isinstance(it, A.Model) and it.train is not None:
        lines.append("train {")
        for t in it.train:
            lines += _comments(t, INDENT)
            lines += layout(t.value, INDENT, f"{t.key} = ")
        lines.append("}")
    return "\n".join(lines)


def format_module(m: A.Module) -> str:
    """Canonical text of a whole spec, ending in one newline."""
    parts = [item(it) for it in m.items]
    text = "\n\n".join(parts)
    if m.trailing_comments:
        text += ("\n\n" if text else "") + "\n".join(m.trailing_comments)
    return text + "\n"
