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


def format_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


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
        return _wrap(e.value, PREC["call"]) + "." + e.name
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


def _seq_stages(e: A.Expr) -> list[A.Expr]:
    stages = []
    while isinstance(e, A.BinOp) and e.op == ">>":
        stages.append(e.right)
        e = e.left
    stages.append(e)
    return stages[::-1]


def body_expr(e: A.Expr, indent: str) -> str:
    """An expression body on its own line(s); long `>>` chains wrap before a `>>`."""
    one = indent + expr(e)
    if len(one) <= WIDTH or not (isinstance(e, A.BinOp) and e.op == ">>"):
        return one
    stages = _seq_stages(e)
    lines = [indent + _wrap(stages[0], PREC[">>"])]
    for s in stages[1:]:
        piece = _wrap(s, PREC[">>"] + 1)
        if len(lines[-1]) + 4 + len(piece) <= WIDTH:
            lines[-1] += " >> " + piece
        else:
            lines.append(f"{indent}>> {piece}")
    return "\n".join(lines)


def _comments(node, indent: str) -> list[str]:
    return [indent + c for c in getattr(node, "comments", [])]


def block(b: A.Block, indent: str) -> list[str]:
    lines = []
    for s in b.stmts:
        lines += _comments(s, indent)
        lines.append(f"{indent}{', '.join(s.targets)} = {expr(s.value)}")
    lines.append(f"{indent}return {', '.join(expr(r) for r in b.returns)}")
    return lines


def item(it) -> str:
    lines = _comments(it, "")
    if isinstance(it, A.Import):
        lines.append(f"import {format_string(it.path)} as {it.alias}")
        return "\n".join(lines)
    head = "model" if isinstance(it, A.Model) else "def"
    params = f"({', '.join(param(p) for p in it.params)})"
    if isinstance(it, A.Model) and not it.params:
        params = ""
    sig = f" : {signature(it.signature)}" if it.signature is not None else ""
    header = f"{head} {it.name}{params}{sig}"
    if isinstance(it.body, A.Block):
        lines.append(header + " {")
        lines += block(it.body, INDENT)
        lines.append("}")
    else:
        lines.append(header + " =")
        lines.append(body_expr(it.body, INDENT))
    if isinstance(it, A.Model) and it.train is not None:
        lines.append("train {")
        lines += [f"{INDENT}{t.key} = {expr(t.value)}" for t in it.train]
        lines.append("}")
    return "\n".join(lines)


def format_module(m: A.Module) -> str:
    """Canonical text of a whole spec, ending in one newline."""
    parts = [item(it) for it in m.items]
    text = "\n\n".join(parts)
    if m.trailing_comments:
        text += ("\n\n" if text else "") + "\n".join(m.trailing_comments)
    return text + "\n"
