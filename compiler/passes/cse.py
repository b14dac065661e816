"""``cse``: nodes with the same op, attributes, input wires and parameter slots become one.

    before                                   after
    %1 = nn.dense[out=8](%0) {w=@t/w, …}     %1 = nn.dense[out=8](%0) {w=@t/w, …}
    %2 = nn.dense[out=8](%0) {w=@t/w, …}     %3 = struct.add[n=2](%1, %1)
    %3 = struct.add[n=2](%1, %2)

Two nodes on the same slots compute the same value only if the op is pure:
ops without the ``pure`` trait (dropout) and nodes with regions are left alone.
Nodes are visited in topological order, so chains of duplicates collapse in
one sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Node
from ..ops.registry import OPS
from .manager import Pass, register_pass
from .wiring import bypass


def _key(graph: Graph, node: Node):
    op = OPS.get(node.op)
    if node.region is not None or node.op.startswith("io."):
        return None
    if op is not None and "pure" not in op.traits:
        return None
    if op is None and node.op != "ctl.batched":
        return None
    return (node.op, repr(sorted(node.attrs.items())), tuple(graph.inputs_of(node.id)),
            tuple(sorted(node.params.items())), tuple(map(str, node.out_types)))


def cse_graph(graph: Graph) -> bool:
    seen: dict = {}
    changed = False
    for node in graph.topological():
        if node.region is not None:
            changed |= cse_graph(node.region)
        key = _key(graph, node)
        if key is None:
            continue
        first = seen.get(key)
        if first is None:
            seen[key] = node
            continue
        bypass(graph, node, [(first.id, k) for k in range(len(node.out_types))])
        changed = True
    return changed


@register_pass
@dataclass(frozen=True)
class CommonSubexpressionElimination(Pass):
    """Merge identical pure nodes (see module doc)."""

    name = "cse"

    def apply(self, graph: Graph) -> bool:
        return cse_graph(graph)
