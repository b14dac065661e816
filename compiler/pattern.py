"""Pattern rewriting: find chains of ops and replace each by another chain or by Python.

    rewrite(graph, "dense(out) >> relu", "dense(out) >> gelu")      # -> number of rewrites
    rewrite(graph, "relu >> relu", "relu")                          # relu is idempotent
    rewrite(graph, [("dense", {"bias": False})], lambda rw, m: ...)  # built in Python

A pattern is a chain ``p0 >> p1 >> …`` written as a spec expression (parsed by
``grammar.parse_expr``) or as a list of ``OpPattern``/``"op"``/``("op", {attrs})``.
Each element names an op (or a glob such as ``act.*``; ``_`` is any op); its
arguments constrain attributes: a literal must be equal, a bare name binds a
wildcard (the same name twice must bind equal values). The chain is walked
directly: every node after the first has one input, and every output inside the
chain has exactly one reader (otherwise replacing it would change other users).

A replacement is a chain spec expression, whose arguments are evaluated with
the bindings in scope (``dense(2 * out)``), ``"id"`` for the empty chain, or a
callable ``fn(rw, match)`` that builds with the ``Rewriter`` and returns the new
output wire (or ``None`` to decline the match). A replacement op equal to the
matched op at the same position keeps its instance name and parameter slots, so
trained weights stay valid. Every rewrite goes through the ``Rewriter``: a
replacement whose type breaks the graph is refused with ``IRVerifyError``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import IRVerifyError, SpecError
from ..grammar import ast as A
from .ir import Graph, Node, Wire
from .rewrite import Rewriter, resolve_op
from .select import op_matches


@dataclass(frozen=True)
class Var:
    """A wildcard attribute value, bound by name when a pattern matches."""

    name: str


@dataclass
class OpPattern:
    """One element of a chain: op name or glob, attribute constraints, optional predicate."""

    op: str
    attrs: dict[str, Any] = field(default_factory=dict)
    where: Callable[[Node], bool] | None = None


@dataclass
class Match:
    """A matched chain: its nodes in order, the bound wildcards, its input and output wires."""

    nodes: list[Node]
    bindings: dict[str, Any]
    inputs: list[Wire]
    output: Wire


# -- building patterns -----------------------------------------------------------------
def _chain(e: A.Expr) -> list[A.Expr]:
    if isinstance(e, A.BinOp) and e.op == ">>":
        return _chain(e.left) + _chain(e.right)
    return [e]


def _literal(e: A.Expr):
    if isinstance(e, (A.Int, A.Float, A.Str, A.Bool)):
        return e.value
    if isinstance(e, A.UnaryOp) and e.op == "-" and isinstance(e.operand, (A.Int, A.Float)):
        return -e.operand.value
    if isinstance(e, A.ListExpr):
        return tuple(_literal(i) for i in e.items)
    if isinstance(e, A.Name):
        return Var(e.id)
    raise IRVerifyError("a pattern argument must be a literal or a name to bind")


def _call_parts(e: A.Expr) -> tuple[str, list[A.Expr], dict[str, A.Expr]]:
    if isinstance(e, A.Name):
        return e.id, [], {}
    if isinstance(e, A.Call) and isinstance(e.func, A.Name):
        return e.func.id, list(e.args), {k.name: k.value for k in e.kwargs}
    raise IRVerifyError("a pattern is a chain of op calls joined by `>>`, like "
                        "`dense(out) >> relu`")


def _arg_names(op: str, n: int) -> list[str]:
    names = [a.name for a in resolve_op(op).args]
    if n > len(names):
        raise IRVerifyError(f"`{op}` takes at most {len(names)} argument(s), got {n}")
    return names[:n]


def compile_pattern(pattern) -> list[OpPattern]:
    """A spec string, or a list of ``OpPattern`` / op names / ``(op, attrs)``, as a chain."""
    if isinstance(pattern, str):
        from ..grammar.parser import parse_expr

        try:
            parsed = parse_expr(pattern, "<pattern>")
        except SpecError as err:
            raise IRVerifyError(f"bad pattern `{pattern}`: {err.message}") from None
        out = []
        for e in _chain(parsed):
            op, args, kwargs = _call_parts(e)
            attrs = {}
            if op != "_" and "*" not in op:
                attrs.update(zip(_arg_names(op, len(args)), map(_literal, args)))
            attrs.update({k: _literal(v) for k, v in kwargs.items()})
            out.append(OpPattern(op, attrs))
        return out
    out = []
    for p in pattern:
        if isinstance(p, OpPattern):
            out.append(p)
        elif isinstance(p, str):
            out.append(OpPattern(p))
        else:
            out.append(OpPattern(p[0], dict(p[1])))
    return out


# -- matching ----------------------------------------------------------------------------
def _node_matches(n: Node, p: OpPattern, bindings: dict) -> bool:
    if n.op in ("io.input", "io.output"):
        return False
    if p.op != "_" and not op_matches(n.op, p.op):
        return False
    for key, want in p.attrs.items():
        if key not in n.attrs:
            return False
        have = n.attrs[key]
        if isinstance(want, Var):
            if want.name in bindings and bindings[want.name] != have:
                return False
            bindings[want.name] = have
        elif (list(have) if isinstance(have, tuple) else have) != (
                list(want) if isinstance(want, tuple) else want) or \
                isinstance(have, bool) != isinstance(want, bool):
            return False
    return p.where is None or bool(p.where(n))


def match_at(graph: Graph, start: Node, chain: list[OpPattern]) -> Match | None:
    """The match of ``chain`` starting at ``start``, or ``None``."""
    bindings: dict[str, Any] = {}
    nodes = []
    node = start
    for k, p in enumerate(chain):
        if k > 0:
            prev = nodes[-1]
            if len(prev.out_types) != 1:
                return None
            users = graph.users_of((prev.id, 0))
            if len(users) != 1:
                return None
            node = graph.node(users[0][0])
            if len(graph.inputs_of(node.id)) != 1:
                return None
        if not _node_matches(node, p, bindings):
            return None
        nodes.append(node)
    if len(nodes[-1].out_types) != 1:
        return None
    return Match(nodes, bindings, graph.inputs_of(nodes[0].id), (nodes[-1].id, 0))


def find(graph: Graph, pattern) -> list[Match]:
    """Every match of ``pattern``, in topological order of their first node (may overlap)."""
    chain = compile_pattern(pattern)
    return [m for n in graph.topological() if (m := match_at(graph, n, chain)) is not None]


# -- rewriting ---------------------------------------------------------------------------
def _build(rw: Rewriter, match: Match, replacement: str) -> Wire:
    from ..grammar.parser import parse_expr
    from .evaluate import Env, Evaluator

    try:
        parsed = parse_expr(replacement, "<replacement>")
    except SpecError as err:
        raise IRVerifyError(f"bad replacement `{replacement}`: {err.message}") from None
    elems = [] if isinstance(parsed, A.Name) and parsed.id == "id" else _chain(parsed)
    env, ev = Env().child(**match.bindings), Evaluator()
    wires = list(match.inputs)
    for k, e in enumerate(elems):
        op, args, kwargs = _call_parts(e)
        try:
            values = [ev.eval(a, env) for a in args]
            kvalues = {key: ev.eval(v, env) for key, v in kwargs.items()}
        except SpecError as err:
            raise IRVerifyError(f"replacement `{replacement}`: {err.message}") from None
        attrs = dict(zip(_arg_names(op, len(values)), values), **kvalues)
        old = match.nodes[k] if k < len(match.nodes) else None
        same = old is not None and old.op == resolve_op(op).name
        node = rw.add(op, wires, attrs, name=old.name if same else None,
                      reuse_params=old.params if same else None,
                      span=(old or match.nodes[-1]).span)
        wires = [(node.id, 0)]
    if len(wires) != 1:
        raise IRVerifyError(f"replacement `{replacement}` must give one output; the matched "
                            f"chain starts with {len(wires)} inputs")
    return wires[0]


def rewrite(graph: Graph, pattern, replacement: str | Callable, limit: int | None = None) -> int:
    """Replace every non-overlapping match of ``pattern`` (in place); return how many.

    One sweep in topological order; run it again (or in a pass) for a fixed point.
    Raises ``IRVerifyError`` when a replacement does not fit the graph.
    """
    chain = compile_pattern(pattern)
    count = 0
    with Rewriter(graph) as rw:
        for start in graph.topological():
            if limit is not None and count >= limit:
                break
            if start.id not in graph.g:
                continue
            match = match_at(graph, start, chain)
            if match is None:
                continue
            # One match is one atomic edit: a replacement that does not fit leaves no trace.
            if rw._atomic(f"rewrite at {start.name}",
                          lambda m=match: _apply(rw, m, replacement)):
                count += 1
    return count


def _apply(rw: Rewriter, match: Match, replacement) -> bool:
    graph = rw.graph
    if callable(replacement):
        out = replacement(rw, match)
        if out is None:
            return False
        out = rw.wire(out)
    else:
        out = _build(rw, match, replacement)
    if out != match.output:
        rw.replace_uses(match.output, out)
        for node in reversed(match.nodes):  # those the replacement no longer reads
            if node.id in graph.g and not any(
                    graph.users_of((node.id, p)) for p in range(len(node.out_types))):
                rw.remove(node)
    return True
