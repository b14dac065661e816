"""``canonicalize``: the laws of the structure maps as a table of small rewrite rules.

Structure maps become plain wiring (a wire may have many readers, which is
what ``copy`` means), trivial ops disappear and sums are flattened:

    before                                     after
    %1, %2 = struct.copy[n=2](%0)              %3 = nn.dense[out=16](%0)
    %3 = nn.dense[out=16](%2)                  %4 = struct.add[n=2](%0, %3)
    %4 = struct.add[n=2](%1, %3)

Each rule takes a node and returns ``True`` if it rewrote it; the pass applies
the table over the graph until nothing changes. The law each rule implements
is its comment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..ir import Graph, Node
from .manager import Pass, register_pass
from .wiring import bypass, set_inputs, single_reader

Rule = Callable[[Graph, Node], bool]


def _copy(g: Graph, n: Node) -> bool:  # Δ >> (f ⊗ g) = f, g reading one wire (fan-out)
    src = g.inputs_of(n.id)[0]
    bypass(g, n, [src] * n.attrs["n"])
    return True


def _id(g: Graph, n: Node) -> bool:  # f >> id = f = id >> f
    bypass(g, n, g.inputs_of(n.id))
    return True


def _swap(g: Graph, n: Node) -> bool:  # σ: (a, b) -> (b, a) is re-routing; σ >> σ = id follows
    a, b = g.inputs_of(n.id)
    bypass(g, n, [b, a])
    return True


def _permute(g: Graph, n: Node) -> bool:  # output k is input perm[k]: re-routing
    ins = g.inputs_of(n.id)
    bypass(g, n, [ins[i] for i in n.attrs["perm"]])
    return True


def _drop(g: Graph, n: Node) -> bool:  # Δ >> (f ⊗ !) = f: a discarded wire is just unread
    g.remove_node(n.id)
    return True


def _unary_monoid(g: Graph, n: Node) -> bool:  # add/mul/concat of one wire = that wire
    if n.attrs["n"] != 1:
        return False
    bypass(g, n, g.inputs_of(n.id))
    return True


def _flatten_monoid(g: Graph, n: Node) -> bool:
    # (a + b) + c = a + b + c  (associativity; likewise for mul). Only when the inner node
    # has no other reader, so no work is duplicated.
    ins = g.inputs_of(n.id)
    flat, changed = [], False
    for w in ins:
        inner = g.node(w[0])
        if inner.op == n.op and single_reader(g, w) == n.id:
            flat.extend(g.inputs_of(inner.id))
            g.remove_node(inner.id)
            changed = True
        else:
            flat.append(w)
    if changed:
        set_inputs(g, n.id, flat)
        n.attrs = {**n.attrs, "n": len(flat)}
    return changed


def _reshape(g: Graph, n: Node) -> bool:
    (src,) = g.inputs_of(n.id)
    t_in, t_out = g.type_of(src), n.out_types[0]
    # reshape to the type it has = id (not when it renames axes or turns a Field into a
    # Tensor: then it is a cast the declared types depend on)
    if t_in == t_out:
        bypass(g, n, [src])
        return True
    producer = g.node(src[0])
    # reshape(reshape(x, s1), s2) = reshape(x, s2), when nothing else reads the middle
    if producer.op in ("shape.reshape", "shape.flatten") and single_reader(g, src) == n.id:
        set_inputs(g, n.id, g.inputs_of(producer.id))
        g.remove_node(producer.id)
        return True
    return False


def _flatten(g: Graph, n: Node) -> bool:  # flatten of a rank-1 tensor = id
    (src,) = g.inputs_of(n.id)
    if g.type_of(src) == n.out_types[0]:
        bypass(g, n, [src])
        return True
    return False


def _concat_of_split(g: Graph, n: Node) -> bool:
    # split(x, n, axis) >> concat(n, axis) = x: the parts, in order, put back together
    ins = g.inputs_of(n.id)
    producer = g.node(ins[0][0])
    if producer.op != "struct.split" or producer.attrs["n"] != n.attrs["n"]:
        return False
    rank = n.out_types[0].rank
    if producer.attrs["axis"] % rank != n.attrs["axis"] % rank:
        return False
    if ins != [(producer.id, k) for k in range(producer.attrs["n"])]:
        return False
    bypass(g, n, g.inputs_of(producer.id))
    return True


RULES: dict[str, list[Rule]] = {
    "struct.copy": [_copy],
    "struct.id": [_id],
    "struct.swap": [_swap],
    "struct.permute": [_permute],
    "struct.drop": [_drop],
    "struct.add": [_unary_monoid, _flatten_monoid],
    "struct.mul": [_unary_monoid, _flatten_monoid],
    "struct.concat": [_unary_monoid, _concat_of_split],
    "shape.reshape": [_reshape],
    "shape.flatten": [_flatten],
}


def canonicalize_graph(graph: Graph, rules: dict[str, list[Rule]] = RULES) -> bool:
    """Apply ``rules`` until none fires (regions included); returns whether anything changed."""
    changed_any = False
    while True:
        changed = False
        for node in graph.topological():
            if node.id not in graph:  # removed by an earlier rewrite in this sweep
                continue
            if node.region is not None:
                changed |= canonicalize_graph(node.region, rules)
            for fn in rules.get(node.op, ()):
                if node.id in graph and fn(graph, node):
                    changed = True
                    break
        changed_any |= changed
        if not changed:
            return changed_any


@register_pass
@dataclass(frozen=True)
class Canonicalize(Pass):
    """Structure maps to wiring, trivial ops removed, sums flattened (see module doc)."""

    name = "canonicalize"

    def apply(self, graph: Graph) -> bool:
        return canonicalize_graph(graph)
