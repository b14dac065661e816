"""``dce``: remove nodes whose results never reach the output, and the slots only they read.

    before                                   after
    %1 = nn.dense[out=8](%0) {w=@a/w, …}     %2 = act.relu(%0)
    %2 = act.relu(%0)                        return %2
    return %2

Boundary inputs stay (they are the model's signature). Regions are cleaned too.
Parameter slots no live node reads are dropped from the table; the pytree of
an optimized model therefore lacks them (``layout.to_optimized`` drops them).
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from ..ir import Graph
from .manager import Pass, register_pass
from .wiring import drop_dead_slots


def dce_graph(graph: Graph) -> bool:
    """Remove dead nodes of ``graph`` and its regions; returns whether anything changed."""
    live = nx.ancestors(graph.g, graph.output) | {graph.output, *graph.inputs}
    dead = [i for i in graph.g.nodes if i not in live]
    graph.g.remove_nodes_from(dead)
    changed = bool(dead)
    for i in graph.g.nodes:
        region = graph.node(i).region
        if region is not None:
            changed |= dce_graph(region)
    return changed


@register_pass
@dataclass(frozen=True)
class DeadCodeElimination(Pass):
    """Remove nodes that do not reach the output (see module doc)."""

    name = "dce"

    def apply(self, graph: Graph) -> bool:
        changed = dce_graph(graph)
        dropped = drop_dead_slots(graph) > 0
        if dropped:
            _forget_dropped_views(graph)
        return dropped or changed


def _forget_dropped_views(graph: Graph) -> None:
    """A scan whose body lost the only reader of a per-iteration view (its dead node was
    removed above) stops binding that view: the view and its stack were dropped."""
    table = graph.params  # regions share it
    for node in graph.nodes():
        if node.op == "ctl.scan":
            kept = tuple((view, stack) for view, stack in node.attrs["stacked"]
                         if view in table and stack in table)
            if kept != tuple(node.attrs["stacked"]):
                node.attrs = {**node.attrs, "stacked": kept}
        if node.region is not None:
            _forget_dropped_views(node.region)
