"""Low-level wiring edits the passes share: move readers, delete nodes, drop dead slots.

Passes edit ``Graph.g`` directly (rather than through the checked ``Rewriter``)
because they run on every compile and must stay linear in the graph size; the
pass manager verifies the whole graph after each pass instead.
"""

from __future__ import annotations

from ..ir import Graph, Node, Wire


def replace_uses(graph: Graph, old: Wire, new: Wire) -> int:
    """Every reader of ``old`` reads ``new`` instead; returns how many readers moved."""
    src, port = old
    t = graph.type_of(new)
    moved = [(d, k, data["dst_port"])
             for _, d, k, data in graph.g.out_edges(src, keys=True, data=True)
             if data["src_port"] == port]
    for d, k, dst_port in moved:
        graph.g.remove_edge(src, d, k)
        graph.g.add_edge(new[0], d, src_port=new[1], dst_port=dst_port, type=t)
    return len(moved)


def bypass(graph: Graph, node: Node, sources: list[Wire]) -> None:
    """Remove ``node``; readers of its output k read ``sources[k]`` instead."""
    for k, wire in enumerate(sources):
        replace_uses(graph, (node.id, k), wire)
    graph.remove_node(node.id)


def set_inputs(graph: Graph, node_id: int, wires: list[Wire]) -> None:
    """Replace all of a node's input edges by ``wires`` (in port order)."""
    for s, d, k in list(graph.g.in_edges(node_id, keys=True)):
        graph.g.remove_edge(s, d, k)
    for port, wire in enumerate(wires):
        graph.connect(wire, node_id, port)


def single_reader(graph: Graph, wire: Wire) -> int | None:
    """The node reading ``wire`` if exactly one input port reads it, else ``None``."""
    users = graph.users_of(wire)
    return users[0][0] if len(users) == 1 else None


def drop_dead_slots(graph: Graph) -> int:
    """Remove parameter slots no node reads (directly or through a derivation)."""
    live = graph.live_slots()
    dead = [p for p in graph.params.slots if p not in live]
    for p in dead:
        del graph.params.slots[p]
    return len(dead)


def readers_by_slot(graph: Graph) -> dict[str, set[int]]:
    """Slot path -> ids of nodes that read it directly; region nodes count as their owner."""
    out: dict[str, set[int]] = {}

    def visit(g: Graph, owner: int | None):
        for i in g.g.nodes:
            n = g.node(i)
            who = i if owner is None else owner
            for path in n.params.values():
                out.setdefault(path, set()).add(who)
            if n.region is not None:
                visit(n.region, who)

    visit(graph, None)
    return out


def derivation_inputs(graph: Graph) -> set[str]:
    """Slots that some derived slot is computed from."""
    return {p for s in graph.params if s.derive is not None for p in s.derive.inputs.values()}


def copy_graph(graph: Graph, table=None) -> Graph:
    """A copy passes may edit freely: new nodes, edges, regions and parameter table.

    Much faster than ``Graph.copy`` (a ``deepcopy``) on large graphs: types, spans and
    attribute values are immutable or never edited in place, so they are shared.
    """
    import copy as _copy

    from .layout import snapshot

    if table is None:
        table = snapshot(graph.params)
        layout = getattr(graph.params, "layout", None)
        if layout is not None:
            table.layout = _copy.deepcopy(layout)
    new = Graph(graph.name, params=table)
    new.g = graph.g.copy()
    for i in new.g.nodes:
        n = graph.node(i)
        region = copy_graph(n.region, table) if n.region is not None else None
        new.g.nodes[i]["node"] = Node(n.id, n.op, dict(n.attrs), n.out_types, dict(n.params),
                                      n.name, n.span, region, dict(n.meta))
    new.inputs = list(graph.inputs)
    new.output = graph.output
    new.spec_params = dict(graph.spec_params)
    new.declared_outputs = graph.declared_outputs
    new._next_id = graph._next_id
    return new
