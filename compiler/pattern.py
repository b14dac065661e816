"""Pattern rewriting: find chains of ops and replace each by another chain or by Python.

Patterns with ``@``, ``+`` or ``residual`` are DAGs; ``pattern_graph`` builds and matches
those, and this module dispatches to it.

    rewrite(graph, "dense(out) >> relu", "dense(out) >> gelu")      # -> number of rewrites
    rewrite(graph, "relu >> relu", "relu")                          # relu is idempotent
    rewrite(graph, [("dense", {"bias": False})], lambda rw, m: ...)  # built in Python

A pattern is a chain ``p0 >> p1 >> …`` written as a spec expression (parsed by
``grammar.parse_expr``) or as a list of ``OpPattern``/``"op"``/``("op", {attrs})``.
Each element names an op (``_`` is any op; in a Python list also a glob such as
``act.*``, which the spec syntax cannot spell); its
arguments constrain attributes: a literal must be equal, a bare name binds a
wildcard (the same name twice must bind equal values). The chain is walked
directly: every node after the first has one input, and every output inside the
chain has exactly one reader (otherwise replacing it would change other users).

A replacement is a chain spec expression, whose arguments are evaluated with
the bindings in scope (``dense(2 * out)``), ``"id"`` for the empty chain, or a
callable ``fn(rw, match)`` that builds with the ``Rewriter`` and returns the new
output wire (or ``None`` to decline the match). A replacement op equal to the
matched op of the same kind keeps its instance name and parameter slots, so
trained weights stay valid. Every rewrite goes through the ``Rewriter``: a
replacement whose type breaks the graph is refused with ``IRVerifyError``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import IRVerifyError, SpecError
from ..grammar import ast as A
from .ir import Graph, Node, Wire
from .ops.registry import OPS, SURFACE
from .pattern_graph import (
    PatternGraph,
    build_replacement,
    call_name,
    call_parts,
    compile_graph_pattern,
    match_graph_at,
    transparent_path,
)
from .rewrite import Rewriter, resolve_op
from .select import check_op_pattern, op_matches


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


def _arg_names(op: str, n: int) -> list[str]:
    names = [a.name for a in resolve_op(op).args]
    if n > len(names):
        raise IRVerifyError(f"`{op}` takes at most {len(names)} argument(s), got {n}")
    return names[:n]


def check_kwargs(op: str, keys) -> None:
    """Refuse attribute names ``op`` does not have (globs and ``_`` take any)."""
    if op == "_" or any(c in op for c in "*?["):
        return
    names = [a.name for a in resolve_op(op).args]
    for key in keys:
        if key not in names:
            from ..errors import did_you_mean

            hint = did_you_mean(key, names) or (f"its arguments are {', '.join(names)}"
                                                if names else "it takes no arguments")
            raise IRVerifyError(f"`{op}` has no argument `{key}` ({hint})")


def _is_chain(e: A.Expr) -> bool:
    """Whether ``e`` is ``op >> op >> …`` of one-output ops, each after the first with one
    input (the chain walker's case; anything else is matched as a graph pattern)."""
    for k, part in enumerate(_chain(e)):
        name = call_name(part)
        if name is None or name in ("id", "residual", "copy"):
            return False
        if name == "_" or any(c in name for c in "*?["):
            continue
        op = OPS.get(name) or SURFACE.get(name)
        if op is None:
            continue  # unknown: the chain compiler reports it
        try:
            n_in, n_out = op.arity({a.name: a.default for a in op.args})
        except Exception:  # noqa: BLE001 - an arity that needs an argument (einsum's equation)
            if k == 0:
                continue  # the chain's first op may take any number of inputs
            return False
        if n_out != 1 or (k > 0 and n_in != 1):
            return False
    return True


def _parse(text: str, what: str) -> A.Expr:
    from ..grammar.parser import parse_expr

    try:
        return parse_expr(text, f"<{what}>")
    except SpecError as err:
        raise IRVerifyError(f"bad {what} `{text}`: {err.message}") from None


def compile_pattern(pattern) -> list[OpPattern] | PatternGraph:
    """A spec string, or a list of ``OpPattern`` / op names / ``(op, attrs)``: a chain, or a
    ``PatternGraph`` when the string uses ``@``, ``+`` or ``residual`` (see
    ``pattern_graph``)."""
    if isinstance(pattern, PatternGraph):
        _check_pattern_graph(pattern)
        return pattern
    if isinstance(pattern, str):
        parsed = _parse(pattern, "pattern")
        if not _is_chain(parsed):
            return compile_graph_pattern(parsed, pattern, _literal, _arg_names)
        out = []
        for e in _chain(parsed):
            op, args, kwargs = call_parts(e)
            attrs = {}
            if op != "_" and "*" not in op:
                attrs.update(zip(_arg_names(op, len(args)), map(_literal, args)))
            check_kwargs(op, kwargs)
            attrs.update({k: _literal(v) for k, v in kwargs.items()})
            out.append(OpPattern(op, attrs))
        return out
    shapes = ("a pattern is a spec string (\"dense >> relu\"), a PatternGraph, or a list "
              "of ops: OpPattern, op names or (op, attrs) pairs")
    if not isinstance(pattern, (list, tuple)):
        raise IRVerifyError(f"{shapes}; got {pattern!r}")
    if not pattern:
        raise IRVerifyError(f"{shapes}; got an empty list")
    out = []
    for p in pattern:
        if isinstance(p, OpPattern):
            out.append(p)
        elif isinstance(p, str):
            out.append(OpPattern(p))
        elif isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str) and \
                isinstance(p[1], dict):
            out.append(OpPattern(p[0], dict(p[1])))
        else:
            raise IRVerifyError(f"{shapes}; got {p!r} in the list")
    for p in out:
        check_op_pattern(p.op)
        if p.op in OPS or p.op in SURFACE:
            check_kwargs(p.op, p.attrs)
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
            while node.op == "struct.id" and len(node.out_types) == 1:  # looked through
                users = graph.users_of((node.id, 0))
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


def _graph_node_ok(n: Node, p, bindings: dict) -> bool:
    return _node_matches(n, OpPattern(p.op, p.attrs, p.where), bindings)


def _match(graph: Graph, node: Node, compiled) -> Match | None:
    if isinstance(compiled, PatternGraph):
        found = match_graph_at(graph, node, compiled, _graph_node_ok)
        return None if found is None else Match(*found)
    return match_at(graph, node, compiled)


def find(graph: Graph, pattern) -> list[Match]:
    """Every match of ``pattern``, in topological order of their first node (chains) or of
    their output node (graph patterns); matches may overlap."""
    compiled = compile_pattern(pattern)
    return [m for n in graph.topological() if (m := _match(graph, n, compiled)) is not None]


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
    unused = list(match.nodes)  # each op call takes the first matched node of its op left
    for k, e in enumerate(elems):
        op, args, kwargs = call_parts(e)
        try:
            values = [ev.eval(a, env) for a in args]
            kvalues = {key: ev.eval(v, env) for key, v in kwargs.items()}
        except SpecError as err:
            raise IRVerifyError(f"replacement `{replacement}`: {err.message}") from None
        attrs = dict(zip(_arg_names(op, len(values)), values), **kvalues)
        ir_name = resolve_op(op).name
        old = next((n for n in unused if n.op == ir_name), None)
        if old is not None:
            unused.remove(old)
        like = old or match.nodes[min(k, len(match.nodes) - 1)]
        node = rw.add(op, wires, attrs, name=old.name if old else None,
                      reuse_params=old.params if old else None,
                      span=like.span,
                      meta=dict(like.meta),  # repetition tags survive
                      _replacing={n.id for n in match.nodes})
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
    compiled = compile_pattern(pattern)
    if isinstance(replacement, str):
        parsed = _parse(replacement, "replacement")
        _check_ops(parsed)  # a misspelt replacement fails even where nothing matches
        is_id = isinstance(parsed, A.Name) and parsed.id == "id"
        if isinstance(compiled, PatternGraph) or not (is_id or _is_chain(parsed)):
            replacement = _GraphReplacement(replacement, parsed)
    count = 0
    first_new = graph._next_id  # nodes from this call's replacements have ids from here on
    with Rewriter(graph) as rw:
        for start in graph.topological():
            if limit is not None and count >= limit:
                break
            if start.id not in graph.g:
                continue
            match = _match(graph, start, compiled)
            if match is None or any(n.id >= first_new for n in match.nodes):
                continue  # one sweep: what a replacement built is not matched again
            # A replacement that does not fit raises, and the `with` block undoes the whole
            # rewrite (earlier matches included): the graph is left as it was.
            try:
                done = rw._atomic(f"rewrite at {start.name}",
                                  lambda m=match: _apply(rw, m, replacement))
            except IRVerifyError as err:
                reason = re.sub(r"^cannot [^:]*: ", "", str(err))
                raise IRVerifyError(
                    f"cannot rewrite the match at `{start.name}` with {_describe(replacement)}: "
                    f"{reason} (nothing was rewritten)") from None
            count += bool(done)
    return count


def _describe(replacement) -> str:
    if isinstance(replacement, str):
        return f"`{replacement}`"
    if isinstance(replacement, _GraphReplacement):
        return f"`{replacement.text}`"
    return f"`{getattr(replacement, '__name__', 'the callable')}`"


def _check_pattern_graph(pg: PatternGraph) -> None:
    """A hand-built pattern graph: known ops and sources that exist, one output."""
    if pg.output is None or pg.output[0] != "node" or not 0 <= pg.output[1] < len(pg.nodes):
        raise IRVerifyError("a PatternGraph needs `output=(\"node\", i, port)` naming one of "
                            "its nodes")
    for i, node in enumerate(pg.nodes):
        check_op_pattern(node.op)
        for src in node.inputs:
            ok = (src[0] == "in" and 0 <= src[1] < pg.n_in) or \
                (src[0] == "node" and 0 <= src[1] < i)
            if not ok:
                raise IRVerifyError(f"PatternGraph node {i} (`{node.op}`) reads {src!r}: "
                                    f"sources are (\"in\", k < {pg.n_in}) or (\"node\", j < {i}, "
                                    "port)")


def _check_ops(e: A.Expr) -> None:
    """Every op a replacement expression calls exists."""
    if isinstance(e, A.BinOp) and e.op in (">>", "@", "+"):
        _check_ops(e.left)
        _check_ops(e.right)
        return
    name = call_name(e)
    if name is None:
        return  # the builder reports the shape of the expression
    if name == "residual" and isinstance(e, A.Call):
        for a in e.args:
            _check_ops(a)
    elif name not in ("id", "copy", "residual"):
        resolve_op(name)


@dataclass
class _GraphReplacement:
    """A replacement spec for a graph pattern, built on the matched boundary wires."""

    text: str
    parsed: A.Expr

    def __call__(self, rw: Rewriter, match: Match) -> Wire:
        return build_replacement(rw, self.parsed, match.nodes, match.bindings, match.inputs,
                                 self.text, _arg_names)


def _apply(rw: Rewriter, match: Match, replacement) -> bool:
    graph = rw.graph
    if callable(replacement):
        mark = len(rw._undo)
        out = replacement(rw, match)
        if out is None:
            rw._rollback(mark)  # declined: whatever it built goes too
            return False
        out = rw.wire(out)
    else:
        out = _build(rw, match, replacement)
    if out != match.output:
        rw.replace_uses(match.output, out)
        # Remove what the replacement no longer reads: the matched nodes and the copy/id
        # nodes between them (graph patterns look through those), until nothing changes.
        candidates = list(reversed(match.nodes))
        for node in match.nodes:
            for w in graph.inputs_of(node.id) if node.id in graph.g else []:
                candidates += transparent_path(graph, w)[0]
        changed = True
        while changed:
            changed = False
            for node in candidates:
                if node.id in graph.g and not any(
                        graph.users_of((node.id, p)) for p in range(len(node.out_types))):
                    rw.remove(node)
                    changed = True
    return True
