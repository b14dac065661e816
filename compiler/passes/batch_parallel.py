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

When the common reader only *combines* the instances, the batched node takes
its part of the reader over (``reduce``), so the instances' outputs never
exist one by one:

    %5 = struct.add[n=4](%1, %2, %3, %4)       →  ctl.batched[…, reduce="sum"] (one output)
    %5 = struct.concat[n=2, axis=-1](%1, %2)   →  ctl.batched[…, reduce="concat", reduce_axis=-1]

(a sum needs every instance's output read once by the ``add``, in any order;
a concat needs them side by side in instance order; other inputs of the reader
stay on it, and a reader left with one input is removed). This matters for
dense layers: ``Σₖ x·Wₖ`` is ``x·(Σₖ Wₖ)`` on a shared input and
``[x₀ | x₁ | …]·[W₀; W₁; …]`` otherwise — one GEMM of the single size forward
and backward — and a concat of dense heads is one GEMM with no split or copy.

Dense layers that read exactly the same wires are batched too, whatever reads
their outputs (``_batch_siblings``: the first layers of MLP experts, the gates
of a GRU cell computed from one input) — one GEMM against the weights side by
side.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Node
from ..ops.control import BATCHED_KEYS
from ..ops.registry import OPS
from .layout import layout_of
from .manager import Pass, register_pass
from .repeat_to_scan import stack_dir, stacked_slot
from .wiring import bypass, derivation_inputs, readers_by_slot, replace_uses, set_inputs

# Ops batched when they merely share their inputs (see ``_batch_siblings``).
SIBLING_OPS = ("nn.dense",)


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


def _batch(graph: Graph, reader: Node | None, members: list[Node]) -> bool:
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
    attrs = {"op": first.op, "k": k, "shared": shared}
    reduction = None if reader is None else _reduction(graph, reader, members)
    if reduction is None:
        out_types = tuple(t for m in members for t in m.out_types)
    else:
        kind, axis, _ = reduction
        attrs["reduce"] = kind
        t = first.out_types[0]
        if kind == "concat":
            attrs["reduce_axis"] = axis
            t = OPS["struct.concat"].infer({"n": k, "axis": axis}, [t] * k)[0]
        out_types = (t,)
    # The first member's provenance (``meta["repeat"]``: which copy of a repetition it is
    # in), so `repeat-to-scan` can still scan a block whose experts were batched.
    node = graph.add_node("ctl.batched", wires, out_types, {**attrs, **first.attrs},
                          params=stacks, name=base, span=first.span, meta=dict(first.meta))
    if reduction is None:
        for i, m in enumerate(members):
            for r in range(n_out):
                replace_uses(graph, (m.id, r), (node.id, i * n_out + r))
    else:
        _shrink_reader(graph, reader, reduction[2], (node.id, 0))
    for m in members:
        graph.remove_node(m.id)
    return True


def _reduction(graph: Graph, reader: Node, members: list[Node]):
    """``(kind, axis, positions)`` when ``reader`` (an add or concat) can be folded into
    the batched node: every member has one output, read exactly once by the reader (a
    concat also needs them adjacent and in member order); otherwise ``None``."""
    if len(members[0].out_types) != 1 or reader.op not in ("struct.add", "struct.concat"):
        return None
    ins = graph.inputs_of(reader.id)
    wanted = [(m.id, 0) for m in members]
    mine = set(wanted)
    positions = [i for i, w in enumerate(ins) if w in mine]
    if len(positions) != len(members):
        return None
    if reader.op == "struct.add":
        return "sum", None, positions
    start = positions[0]
    if positions != list(range(start, start + len(members))) or \
            [ins[i] for i in positions] != wanted:
        return None
    return "concat", reader.attrs["axis"], positions


def _shrink_reader(graph: Graph, reader: Node, positions: list[int], combined) -> None:
    """The reader reads ``combined`` in place of the inputs at ``positions``; a reader
    left with a single input is removed (an add or concat of one wire is that wire)."""
    ins = graph.inputs_of(reader.id)
    kept = [w for i, w in enumerate(ins) if i not in positions]
    kept.insert(positions[0], combined)
    if len(kept) == 1:
        bypass(graph, reader, [combined])
        return
    set_inputs(graph, reader.id, kept)
    reader.attrs = {**reader.attrs, "n": len(kept)}


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
        for candidates in groups.values():
            for members in _stackable(graph, candidates, readers, derived_from):
                if reader.id not in graph:
                    break
                changed |= _batch(graph, reader, members)
                readers, derived_from = readers_by_slot(graph), derivation_inputs(graph)
    changed |= _batch_siblings(graph)
    for i in list(graph.g.nodes):
        if graph.node(i).region is not None:
            changed |= batch_graph(graph.node(i).region)
    return changed


def _batch_siblings(graph: Graph) -> bool:
    """Dense layers reading exactly the same wires, whoever reads their outputs, become
    one shared batched dense (one GEMM against the weights side by side — e.g. the
    first layers of MLP experts, or gates computed from one input). Reading the same
    wires proves them independent: a path from one to the other would make that
    wire its own descendant. Other ops are batched only under a common reader: alone,
    they would go through ``vmap``, whose gain is not measured."""
    groups: dict = {}
    for node in graph.topological():
        if node.op in SIBLING_OPS and not any(k in node.attrs for k in BATCHED_KEYS) \
                and node.region is None and graph.inputs_of(node.id):
            key = (tuple(graph.inputs_of(node.id)), _key(graph, node))
            groups.setdefault(key, []).append(node)
    changed = False
    readers, derived_from = readers_by_slot(graph), derivation_inputs(graph)
    for candidates in groups.values():
        for members in _stackable(graph, candidates, readers, derived_from):
            changed |= _batch(graph, None, members)
            readers, derived_from = readers_by_slot(graph), derivation_inputs(graph)
    return changed


def _stackable(graph: Graph, candidates: list[Node], readers, derived_from) -> list[list[Node]]:
    """The candidates whose parameters can be stacked, in groups of two or more: each
    slot a root slot read by its own node only (so a frozen, tied or LoRA expert is left
    out, not the whole group), grouped by dtype, initializer and trainability."""
    groups: dict = {}
    for m in candidates:
        slots = {k: graph.params[p] for k, p in m.params.items()}
        if any(s.derive is not None or s.path in derived_from or readers.get(s.path) != {m.id}
               for s in slots.values()):
            continue
        sig = tuple((k, s.dtype, s.init, repr(s.init_args), s.trainable)
                    for k, s in sorted(slots.items()))
        groups.setdefault(sig, []).append(m)
    return [g for g in groups.values() if len(g) >= 2]


@register_pass
@dataclass(frozen=True)
class BatchParallel(Pass):
    """Side-by-side instances of one op to one batched op (see module doc)."""

    name = "batch-parallel"

    def apply(self, graph: Graph) -> bool:
        return batch_graph(graph)
