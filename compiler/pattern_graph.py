"""Graph patterns: patterns written with ``@``, ``+`` and ``residual`` as well as ``>>``.

    rewrite(graph, "dense(k) + dense(k)", "dense(k)")             # a sum of two branches
    rewrite(graph, "residual(dense(d) >> relu >> dense(d))", …)   # x + f(x)
    rewrite(graph, "(relu @ relu) >> add", "add >> relu")         # two inputs, one output

A pattern expression is elaborated, without types, into a small DAG: op calls are
nodes (their arity comes from the op registry), ``a >> b`` feeds ``a``'s outputs
to ``b``, ``a @ b`` puts them side by side, ``a + b + …`` runs every term on the
same inputs and adds the results (``add[n=k]``, as the elaborator builds it),
``residual(f)`` is ``id + f`` and ``id`` passes its inputs through. The DAG's
boundary inputs match any wires; it must have exactly one output, produced by an
op. Matching starts at the node that produces that output and walks backwards
along the inputs, so each candidate is found in time proportional to the
pattern's size. Two things make it robust to how a graph was built:

- ``copy`` and ``id`` nodes are looked through: a wire read through ``copy`` is
  the same wire as the copied one (so ``dense + dense`` matches a graph straight
  from ``catspec.load``, which has the ``copy``, and one after ``canonicalize``,
  which fans the wire out instead);
- inputs of commutative ops (``add``, ``mul``) match in any order.

A match is only taken when nothing outside it reads an intermediate value, so
replacing it cannot change another part of the graph. A replacement is built by
the same rules from a spec expression (arguments evaluated with the bindings),
on the matched boundary wires; each op call of the replacement keeps the name and
parameter slots of the first matched node of the same op not taken yet (so
``dense(k) + dense(k)`` -> ``dense(k)`` keeps the first dense's weights).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import IRVerifyError, SpecError
from ..grammar import ast as A
from .ir import Graph, Node, Wire
from .ops.registry import OpDef

# A source inside a pattern: ("in", k) is boundary input k, ("node", i, port) an output.
Src = tuple


@dataclass
class PNode:
    """One op of a pattern graph: what it must match and where its inputs come from."""

    op: str
    attrs: dict[str, Any]
    inputs: list[Src]
    n_out: int = 1
    commutative: bool = False
    where: Callable[[Node], bool] | None = None


@dataclass
class PatternGraph:
    """A pattern as a DAG: ``n_in`` boundary inputs, nodes in construction order, one output."""

    n_in: int
    nodes: list[PNode] = field(default_factory=list)
    output: Src | None = None


_TRANSPARENT = ("struct.copy", "struct.id")


# -- building a pattern graph ------------------------------------------------------------
def _terms(e: A.Expr, op: str) -> list[A.Expr]:
    """The operands of a left-nested chain of ``op`` (``a + b + c`` -> [a, b, c])."""
    out = []
    while isinstance(e, A.BinOp) and e.op == op:
        out.append(e.right)
        e = e.left
    out.append(e)
    return out[::-1]


def call_name(e: A.Expr) -> str | None:
    """The op an expression calls (``dense`` for ``dense`` and ``dense(8)``), else ``None``."""
    if isinstance(e, A.Name):
        return e.id
    if isinstance(e, A.Call) and isinstance(e.func, A.Name):
        return e.func.id
    return None


def call_parts(e: A.Expr) -> tuple[str, list[A.Expr], dict[str, A.Expr]]:
    """An op call's name, positional and keyword argument expressions."""
    name = call_name(e)
    if name is None:
        raise IRVerifyError("a pattern or replacement is built from op calls with `>>`, `@`, "
                            "`+` and `residual(…)`, like `dense(out) + dense(out)`")
    if isinstance(e, A.Name):
        return name, [], {}
    return name, list(e.args), {k.name: k.value for k in e.kwargs}


class _Builder:
    """Shared walk over pattern and replacement expressions: arity and structure."""

    text = ""

    def op_of(self, e: A.Expr) -> tuple[str, list[A.Expr], dict[str, A.Expr]]:
        return call_parts(e)

    def arity(self, e: A.Expr) -> tuple[int, int]:
        if isinstance(e, A.BinOp) and e.op == ">>":
            parts = _terms(e, ">>")
            return self.arity(parts[0])[0], self.arity(parts[-1])[1]
        if isinstance(e, A.BinOp) and e.op == "@":
            ar = [self.arity(t) for t in _terms(e, "@")]
            return sum(a for a, _ in ar), sum(b for _, b in ar)
        if isinstance(e, A.BinOp) and e.op == "+":
            return self.arity(_terms(e, "+")[0])[0], 1
        name, args, kwargs = self.op_of(e)
        if name == "id":
            n = self._count(args, kwargs, 1)
            return n, n
        if name == "copy":
            return 1, self._count(args, kwargs, 2)
        if name == "residual":
            return 1, 1
        return self.op_arity(name, args, e)

    def _count(self, args, kwargs, default: int) -> int:
        """The `n` of `id(n)` (default 1) or `copy(n)` (default 2): a literal."""
        value = kwargs.get("n", args[0] if args else None)
        if value is None:
            return default
        if isinstance(value, A.Int) and value.value >= 1:
            return value.value
        raise IRVerifyError("`id(n)` and `copy(n)` in a pattern take a literal count n ≥ 1")

    def op_arity(self, name: str, args, e) -> tuple[int, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def build(self, e: A.Expr, ins: list) -> list:
        if isinstance(e, A.BinOp) and e.op == ">>":
            for part in _terms(e, ">>"):
                n_in = self.arity(part)[0]
                if n_in != len(ins):
                    raise IRVerifyError(f"`{_show(part, self.text)}` takes {n_in} input(s) but gets "
                                        f"{len(ins)} in `{_show(e, self.text)}`")
                ins = self.build(part, ins)
            return ins
        if isinstance(e, A.BinOp) and e.op == "@":
            outs, k = [], 0
            for part in _terms(e, "@"):
                n_in = self.arity(part)[0]
                outs += self.build(part, ins[k:k + n_in])
                k += n_in
            return outs
        if isinstance(e, A.BinOp) and e.op == "+":
            terms = _terms(e, "+")
            return self.sum([self.single(t, ins) for t in terms])
        name, args, kwargs = self.op_of(e)
        if name == "id":
            return list(ins)
        if name == "copy":  # fan-out: graphs are matched with copy nodes looked through
            return [ins[0]] * self._count(args, kwargs, 2)
        if name == "residual":
            if len(args) != 1 or self.arity(args[0]) != (1, 1):
                raise IRVerifyError("`residual` takes one block with one input and one output"
                                    + (f"; `{_show(args[0], self.text)}` is "
                                       "{} -> {}".format(*self.arity(args[0]))
                                       if len(args) == 1 else ""))
            return self.sum([ins[0], self.single(args[0], ins)])
        return self.op(e, ins)

    def single(self, term: A.Expr, ins: list):
        n_in = self.arity(term)[0]
        if n_in != len(ins):
            raise IRVerifyError(f"the terms of `+` must take the same inputs; "
                                f"`{_show(term, self.text)}` takes {n_in}, not {len(ins)}")
        outs = self.build(term, ins)
        if len(outs) != 1:
            raise IRVerifyError(f"the terms of `+` must have one output; `{_show(term, self.text)}` has "
                                f"{len(outs)}")
        return outs[0]

    def sum(self, wires: list) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def op(self, e: A.Expr, ins: list) -> list:  # pragma: no cover - abstract
        raise NotImplementedError


def _show(e: A.Expr, text: str) -> str:
    """The source text of ``e`` inside the one-line expression ``text``."""
    span = getattr(e, "span", None)
    if span is not None and span.end_line == span.line and span.end_col:
        return text[span.col - 1:span.end_col - 1]
    return text


class _PatternBuilder(_Builder):
    def __init__(self, literal, arg_names):
        self.literal, self.arg_names = literal, arg_names
        self.graph: PatternGraph | None = None

    def attrs_of(self, name: str, args, kwargs) -> dict:
        from .pattern import check_kwargs

        check_kwargs(name, kwargs)
        attrs = {}
        if name != "_" and "*" not in name:
            attrs.update(zip(self.arg_names(name, len(args)), map(self.literal, args)))
        attrs.update({k: self.literal(v) for k, v in kwargs.items()})
        return attrs

    def op_arity(self, name, args, e):
        if name == "_" or "*" in name:
            return 1, 1
        opdef = _resolve(name)
        _, _, kwargs = self.op_of(e)
        attrs = self.attrs_of(name, args, kwargs)
        return _arity(opdef, attrs)

    def sum(self, wires):
        g = self.graph
        g.nodes.append(PNode("struct.add", {"n": len(wires)}, list(wires), 1, True))
        return [("node", len(g.nodes) - 1, 0)]

    def op(self, e, ins):
        name, args, kwargs = self.op_of(e)
        n_in, n_out = self.op_arity(name, args, e)
        if n_in != len(ins):
            raise IRVerifyError(f"`{_show(e, self.text)}` takes {n_in} input(s) but gets {len(ins)}")
        commutative = name not in ("_",) and "*" not in name and \
            "commutative" in _resolve(name).traits
        g = self.graph
        g.nodes.append(PNode(name, self.attrs_of(name, args, kwargs), list(ins), n_out,
                             commutative))
        i = len(g.nodes) - 1
        return [("node", i, p) for p in range(n_out)]


def _resolve(name: str) -> OpDef:
    from .rewrite import resolve_op

    return resolve_op(name)


def _arity(opdef: OpDef, attrs: dict) -> tuple[int, int]:
    from .pattern import Var

    known = {a.name: a.default for a in opdef.args}
    known.update({k: v for k, v in attrs.items() if not isinstance(v, Var)})
    try:
        return opdef.arity(known)
    except Exception:  # noqa: BLE001 - an attribute the arity needs is a wildcard
        return 1, 1


def compile_graph_pattern(parsed: A.Expr, text: str, literal, arg_names) -> PatternGraph:
    """A parsed pattern expression -> a ``PatternGraph`` (one output, made by an op)."""
    b = _PatternBuilder(literal, arg_names)
    b.text = text
    n_in = b.arity(parsed)[0]
    b.graph = PatternGraph(n_in)
    outs = b.build(parsed, [("in", k) for k in range(n_in)])
    if len(outs) != 1:
        raise IRVerifyError(f"a pattern must have one output; this one has {len(outs)}")
    if outs[0][0] != "node":
        raise IRVerifyError("a pattern must end in an op (this one is only wiring)")
    b.graph.output = outs[0]
    return b.graph


# -- matching ------------------------------------------------------------------------------
def transparent_path(graph: Graph, wire: Wire) -> tuple[list[Node], Wire]:
    """The ``copy``/``id`` nodes ``wire`` passes through going upstream, and the wire it
    comes from."""
    passed = []
    while True:
        node = graph.node(wire[0])
        if node.op not in _TRANSPARENT:
            return passed, wire
        passed.append(node)
        ins = graph.inputs_of(node.id)
        wire = ins[0] if node.op == "struct.copy" else ins[wire[1]]


def source(graph: Graph, wire: Wire) -> Wire:
    """The wire with ``copy``/``id`` nodes looked through."""
    return transparent_path(graph, wire)[1]


def readers(graph: Graph, wire: Wire) -> tuple[list[int], list[int]]:
    """The nodes reading ``wire`` with ``copy``/``id`` looked through, and those copy/id
    nodes themselves."""
    out, seen = [], []
    todo = [wire]
    while todo:
        w = todo.pop()
        for dst, _port in graph.users_of(w):
            node = graph.node(dst)
            if node.op == "struct.copy":
                seen.append(dst)
                todo += [(dst, p) for p in range(len(node.out_types))]
            elif node.op == "struct.id":
                seen.append(dst)
                todo.append((dst, _port))
            else:
                out.append(dst)
    return out, seen


@dataclass
class _State:
    nodes: dict[int, int]          # pattern node -> graph node
    bound: dict[int, Wire]         # boundary input -> graph wire
    bindings: dict[str, Any]

    def copy(self) -> _State:
        return _State(dict(self.nodes), dict(self.bound), dict(self.bindings))


def _match_node(graph: Graph, pg: PatternGraph, i: int, gid: int, st: _State,
                node_ok) -> Iterator[_State]:
    p = pg.nodes[i]
    node = graph.node(gid)
    if gid in st.nodes.values() and st.nodes.get(i) != gid:
        return
    bindings = dict(st.bindings)
    if not node_ok(node, p, bindings):
        return
    ins = graph.inputs_of(gid)
    if len(ins) != len(p.inputs) or len(node.out_types) != p.n_out:
        return
    base = st.copy()
    base.nodes[i], base.bindings = gid, bindings
    srcs = [source(graph, w) for w in ins]
    orders = itertools.permutations(range(len(srcs))) if p.commutative and len(srcs) <= 6 \
        else [tuple(range(len(srcs)))]
    for order in orders:
        yield from _match_inputs(graph, pg, p.inputs, [srcs[k] for k in order], 0, base,
                                 node_ok)


def _match_inputs(graph, pg, psrcs, gsrcs, k, st, node_ok) -> Iterator[_State]:
    if k == len(psrcs):
        yield st
        return
    ps, gw = psrcs[k], gsrcs[k]
    if ps[0] == "in":
        if ps[1] in st.bound and st.bound[ps[1]] != gw:
            return
        nxt = st.copy()
        nxt.bound[ps[1]] = gw
        yield from _match_inputs(graph, pg, psrcs, gsrcs, k + 1, nxt, node_ok)
        return
    _, q, port = ps
    if gw[1] != port or graph.node(gw[0]).op in ("io.input", "io.output"):
        return
    if q in st.nodes:
        if st.nodes[q] == gw[0]:
            yield from _match_inputs(graph, pg, psrcs, gsrcs, k + 1, st, node_ok)
        return
    for nxt in _match_node(graph, pg, q, gw[0], st, node_ok):
        yield from _match_inputs(graph, pg, psrcs, gsrcs, k + 1, nxt, node_ok)


def match_graph_at(graph: Graph, out_node: Node, pg: PatternGraph, node_ok):
    """The first valid match of ``pg`` whose output is produced by ``out_node``: (graph nodes
    in pattern order, bindings, boundary wires, output wire), or ``None``."""
    _, i, port = pg.output
    for st in _match_node(graph, pg, i, out_node.id, _State({}, {}, {}), node_ok):
        if len(st.bound) != pg.n_in or len(st.nodes) != len(pg.nodes):
            continue
        inside = set(st.nodes.values())
        if any(w[0] in inside for w in st.bound.values()):
            continue  # an input of the pattern computed inside the match: not a subgraph
        if _closed(graph, pg, st):
            nodes = [graph.node(st.nodes[j]) for j in range(len(pg.nodes))]
            return nodes, st.bindings, [st.bound[k] for k in range(pg.n_in)], \
                (out_node.id, port)
    return None


def _closed(graph: Graph, pg: PatternGraph, st: _State) -> bool:
    """Nothing outside the match reads a value computed inside it (except the output)."""
    inside = set(st.nodes.values())
    out_pattern = pg.output[1]
    for j, gid in st.nodes.items():
        node = graph.node(gid)
        for port in range(len(node.out_types)):
            if j == out_pattern and port == pg.output[2]:
                continue
            users, _ = readers(graph, (gid, port))
            if any(u not in inside for u in users):
                return False
    return True


# -- building a replacement -------------------------------------------------------------------
class ReplacementBuilder(_Builder):
    """Builds a replacement expression with a ``Rewriter`` on the matched boundary wires."""

    def __init__(self, rw, evaluate, arg_names, matched: list[Node]):
        self.rw, self.evaluate, self.arg_names = rw, evaluate, arg_names
        self.matched = list(matched)
        self.taken: set[int] = set()

    def attrs_of(self, name, args, kwargs) -> dict:
        values = [self.evaluate(a) for a in args]
        return dict(zip(self.arg_names(name, len(values)), values),
                    **{k: self.evaluate(v) for k, v in kwargs.items()})

    def op_arity(self, name, args, e):
        _, _, kwargs = self.op_of(e)
        return _arity(_resolve(name), self.attrs_of(name, args, kwargs))

    def sum(self, wires):
        return self._make("add", list(wires), {"n": len(wires)})

    def op(self, e, ins):
        name, args, kwargs = self.op_of(e)
        return self._make(name, list(ins), self.attrs_of(name, args, kwargs))

    def _make(self, name: str, ins: list, attrs: dict) -> list:
        ir_name = _resolve(name).name
        old = next((n for n in self.matched if n.op == ir_name and n.id not in self.taken),
                   None)
        if old is not None:
            self.taken.add(old.id)
        like = old or self.matched[-1]  # source location and repetition tags
        node = self.rw.add(name, ins, attrs, name=old.name if old else None,
                           reuse_params=old.params if old else None,
                           span=like.span, meta=dict(like.meta),
                           _replacing={n.id for n in self.matched})
        return [(node.id, p) for p in range(len(node.out_types))]


def build_replacement(rw, parsed: A.Expr, matched: list[Node], bindings: dict,
                      inputs: list[Wire], text: str, arg_names) -> Wire:
    """Build ``parsed`` on ``inputs``; its one output wire."""
    from .evaluate import Env, Evaluator

    env, ev = Env().child(**bindings), Evaluator()

    def evaluate(e):
        try:
            return ev.eval(e, env)
        except SpecError as err:
            raise IRVerifyError(f"replacement `{text}`: {err.message}") from None

    b = ReplacementBuilder(rw, evaluate, arg_names, matched)
    b.text = text
    n_in = b.arity(parsed)[0]
    if n_in != len(inputs):
        raise IRVerifyError(f"replacement `{text}` takes {n_in} input(s); the pattern "
                            f"matched {len(inputs)}")
    outs = b.build(parsed, list(inputs))
    if len(outs) != 1:
        raise IRVerifyError(f"replacement `{text}` must give one output, not {len(outs)}")
    return outs[0]
