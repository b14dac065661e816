"""``batch-parallel``: k side-by-side instances of one op become one batched op over
stacked parameters (the interchange law: ``(f₁ @ … @ f_k)`` with one op ``f`` is
``f`` applied once to the stacked bundle, with stacked parameters).

    before                                          after
    %1 = nn.dense[out=8](%0) {w=@e_0/w, b=@e_0/b}   %1, %2 = ctl.batched[op="nn.dense", k=2,
    %2 = nn.dense[out=8](%0) {w=@e_1/w, b=@e_1/b}       shared=true, out=8, bias=true](%0)
    %3 = struct.add[n=2](%1, %2)                        {w=@batch/e_0/w, b=@batch/e_0/b}
                                                    %3 = struct.add[n=2](%1, %2)

Candidates are nodes of one op with equal attributes, input types and
parameter shapes whose outputs are all read by one and the same node (the
``add``/``concat`` that closes a ``f + g + …`` or ``split >> (f @ …) >> concat``).
That condition also proves they are independent: a path from one to another
would have to pass through the common reader, which reads both. Each
instance's parameters must be root slots of its own; they are stacked into
``<prefix>/batch/<first instance's path>`` (recorded in ``table.layout``).
When all instances read the same wires (``shared=true``, e.g. the experts of a
mixture after ``canonicalize`` removed the ``copy``) the inputs are given once;
the lowering then computes every instance in one contraction.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Node
from ..ops.control import BATCHED_KEYS
from ..ops.registry import OPS
from .layout import layout_of
from .manager import Pass, register_pass
from .repeat_to_scan import slot_family_ok, stack_dir, stacked_slot
from .wiring import derivation_inputs, readers_by_slot, replace_uses


def _candidate(graph: Graph, node: Node, reader: int) -> bool:
    op = OPS.get(node.op)
    if op is None or "pure" not in op.traits or not node.params or node.region is not None:
        return False
    if any(k in node.attrs for k in BATCHED_KEYS):
        return False
    return all(dst == reader for _, dst in graph.g.out_edges(node.id))


def _key(graph: Graph, node: Node):
    shapes = tuple((k, graph.params[p].shape) for k, p in sorted(node.params.items()))
    ins = tuple(str(graph.type_of(w)) for w in graph.inputs_of(node.id))
    return (node.op, repr(sorted(node.attrs.items())), ins, shapes)


def _batch(graph: Graph, members: list[Node]) -> bool:
    k = len(members)
    first = members[0]
    ins = [graph.inputs_of(m.id) for m in members]
    shared = all(i == ins[0] for i in ins)
    families = [[m.params[p] for m in members] for p in first.params]
    base = stack_dir(graph, families, "batch")
    prefix = base.rsplit("/", 1)[0] + "/" if "/" in base else ""
    table, layout = graph.params, layout_of(graph.params)
    stacks = {}
    for pname, paths in zip(first.params, families):
        stack = f"{base}/{paths[0][len(prefix):]}"
        stacks[pname] = stack
        layout.stacks.append((stack, tuple(paths)))
    drop = {p for paths in families for p in paths}
    heads = {paths[0]: (pname, paths) for pname, paths in zip(first.params, families)}
    slots = {}
    for path, slot in table.slots.items():
        if path in heads:
            stack = stacks[heads[path][0]]
            slots[stack] = stacked_slot(slot, stack, k)
        elif path not in drop:
            slots[path] = slot
    table.slots = slots
    n_out = len(first.out_types)
    wires = ins[0] if shared else [w for i in ins for w in i]
    node = graph.add_node(
        "ctl.batched", wires, tuple(t for m in members for t in m.out_types),
        {"op": first.op, "k": k, "shared": shared, **first.attrs},
        params=stacks, name=base, span=first.span)
    for i, m in enumerate(members):
        for r in range(n_out):
            replace_uses(graph, (m.id, r), (node.id, i * n_out + r))
        graph.remove_node(m.id)
    return True


def batch_graph(graph: Graph) -> bool:
    changed = False
    readers, derived_from = readers_by_slot(graph), derivation_inputs(graph)
    for reader in graph.topological():
        if reader.id not in graph:
            continue
        groups: dict = {}
        seen: set[int] = set()
        for src, _ in graph.inputs_of(reader.id):
            if src in seen:
                continue
            seen.add(src)
            node = graph.node(src)
            if _candidate(graph, node, reader.id):
                groups.setdefault(_key(graph, node), []).append(node)
        for members in groups.values():
            if len(members) < 2:
                continue
            if not all(slot_family_ok(graph, [m.params[p] for m in members],
                                      [m.id for m in members], readers, derived_from)
                       for p in members[0].params):
                continue
            changed |= _batch(graph, members)
            readers, derived_from = readers_by_slot(graph), derivation_inputs(graph)
    for i in list(graph.g.nodes):
        if graph.node(i).region is not None:
            changed |= batch_graph(graph.node(i).region)
    return changed


@register_pass
@dataclass(frozen=True)
class BatchParallel(Pass):
    """Side-by-side instances of one op to one batched op (see module doc)."""

    name = "batch-parallel"

    def apply(self, graph: Graph) -> bool:
        return batch_graph(graph)
