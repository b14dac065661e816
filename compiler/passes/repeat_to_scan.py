"""``repeat-to-scan``: the n unrolled copies of ``f ^ n`` become one ``ctl.scan`` over
stacked parameters, so the compiled program holds ``f`` once, whatever n is.

    before (block ^ 2, canonicalized)            after
    %1 = nn.dense[out=16](%0) {w=@block_0/…/w}   %1 = ctl.scan[length=2, stacked=[…]](%0)
    %2 = struct.add[n=2](%0, %1)                     graph rmlp/scan(%2: f32[16]) -> f32[16] {
    %3 = nn.dense[out=16](%2) {w=@block_1/…/w}         %3 = nn.dense[out=16](%2) {w=@block_0/…/w}
    %4 = struct.add[n=2](%2, %3)                       %4 = struct.add[n=2](%2, %3)
    return %4                                          return %4 }
                                                  return %1

Which nodes form copy i of repetition g is recorded at elaboration in
``node.meta["repeat"]``. Copies convert when they are structurally identical:
node j of every copy has the same op, attributes and types; its inputs come
from the same node of its own copy, or, for the *carry*, from the same output
of the previous copy; only the last copy is read from outside the group, and
only at carry outputs. A parameter used at one place of every copy is either
shared (tied repetition: the region reads it directly) or per copy; per-copy
slots (root, same shape and initializer, read by nothing else) are stacked
into one root slot ``<prefix>/scan/<copy-0 path>`` of shape ``[n, …]``, and the
copy-0 path becomes a derived *view* slot (``scan_slice``) that the lowering
binds, at iteration i, to row i. The stackings are recorded in
``table.layout`` (``compiler/passes/layout.py``) so checkpoints written with
the unrolled layout load, and initialisation gives the same values.
Nested repetitions become nested scans. Groups that do not match are left
unrolled.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Derivation, Graph, ParamSlot
from ..ops.registry import OPS, graph_has_trait
from .layout import layout_of
from .manager import Pass, register_pass
from .wiring import derivation_inputs, readers_by_slot, replace_uses


def stacked_slot(base: ParamSlot, path: str, n: int) -> ParamSlot:
    """A root slot holding n copies of ``base`` (initialised row by row like ``base``)."""
    return ParamSlot(path, (n, *base.shape), base.dtype, "stacked",
                     {"init": base.init, "args": dict(base.init_args)}, base.trainable)


def stack_dir(graph: Graph, families: list[list[str]], base: str) -> str:
    """``<common prefix>/<base>`` for the slots of ``families``, unused in the table."""
    parts = [p.split("/") for fam in families for p in fam]
    prefix: list[str] = []
    for comps in zip(*parts):
        if len(set(comps)) != 1:
            break
        prefix.append(comps[0])
    prefix = prefix[: min(len(p) for p in parts) - 1]
    taken = {s.path for s in graph.params}
    k = 0
    while True:
        name = "/".join([*prefix, base if k == 0 else f"{base}_{k}"])
        if not any(t == name or t.startswith(name + "/") for t in taken):
            return name
        k += 1


def _root_family(graph: Graph, paths: list[str], derived_from: set[str]) -> bool:
    """Distinct root slots of one shape, dtype, initializer and trainability that no
    derivation reads (who reads them is the caller's check)."""
    if len(set(paths)) != len(paths):
        return False
    first = graph.params[paths[0]]
    for path in paths:
        s = graph.params[path]
        if (s.derive is not None or path in derived_from
                or (s.shape, s.dtype, s.init, s.init_args, s.trainable)
                != (first.shape, first.dtype, first.init, first.init_args, first.trainable)):
            return False
    return True


def _match(graph: Graph, copies: list[list[int]], readers, derived_from):
    """Check the copies line up; return (carry outputs K, map M, init wires, shared/stacked
    parameter families) or ``None``."""
    n, m = len(copies), len(copies[0])
    if any(len(c) != m for c in copies):
        return None
    member = {nid: (i, j) for i, c in enumerate(copies) for j, nid in enumerate(c)}
    first = [graph.node(x) for x in copies[0]]
    sigs = []
    for i, c in enumerate(copies):
        sig = {}
        for j, nid in enumerate(c):
            node, ref = graph.node(nid), first[j]
            if (node.region is not None or node.op != ref.op or node.attrs != ref.attrs
                    or list(map(str, node.out_types)) != list(map(str, ref.out_types))
                    or set(node.params) != set(ref.params)):
                return None
            for p, (s, q) in enumerate(graph.inputs_of(nid)):
                where = member.get(s)
                if where is not None and where[0] == i:
                    sig[(j, p)] = ("in", where[1], q)
                elif where is not None and where[0] == i - 1:
                    sig[(j, p)] = ("prev", where[1], q)
                elif i == 0:
                    sig[(j, p)] = ("ext", s, q)
                else:
                    return None
            for _, dst, data in graph.g.out_edges(nid, data=True):
                where = member.get(dst)
                if where is None and i != n - 1:
                    return None
                if where is not None and where[0] not in (i, i + 1):
                    return None
        sigs.append(sig)
    mapping = {pos: (e[1], e[2]) for pos, e in sigs[1].items() if e[0] == "prev"}
    for sig in sigs[1:]:
        if any(sigs[0][pos] != e for pos, e in sig.items() if e[0] == "in"):
            return None
        if {pos: (e[1], e[2]) for pos, e in sig.items() if e[0] == "prev"} != mapping:
            return None
    if {pos for pos, e in sigs[0].items() if e[0] == "ext"} != set(mapping):
        return None
    carry = sorted(set(mapping.values()))
    init: dict = {}
    for pos, out in mapping.items():
        wire = sigs[0][pos][1:]
        if init.setdefault(out, wire) != wire:
            return None
    for j, q in carry:  # the carry keeps its type from one iteration to the next
        if not graph.type_of(init[(j, q)]).same_as(first[j].out_types[q]):
            return None
    # Only the last copy is read from outside, and only at carry outputs.
    last = copies[-1]
    for j, nid in enumerate(last):
        for _, dst, data in graph.g.out_edges(nid, data=True):
            if dst not in member and (j, data["src_port"]) not in carry:
                return None
    stacked: list[list[str]] = []
    for j, ref in enumerate(first):
        for pname in ref.params:
            paths = [graph.node(c[j]).params[pname] for c in copies]
            if len(set(paths)) == 1 or paths in stacked:  # shared, or stacked already
                continue
            if not _per_copy_family(graph, paths, copies, member, readers, derived_from):
                return None
            stacked.append(paths)
    return carry, mapping, sigs[0], init, stacked


def _per_copy_family(graph: Graph, paths: list[str], copies: list[list[int]], member: dict,
                     readers: dict[str, set[int]], derived_from: set[str]) -> bool:
    """Slot i belongs to copy i: distinct root slots of one shape and initializer, each
    read only inside its own copy, and at the same places of every copy (more than one
    place when a tied repetition inside the block reads it)."""
    places = None
    for i, path in enumerate(paths):
        users = readers.get(path, set())
        if any(member.get(u, (None,))[0] != i for u in users):
            return False
        mine = sorted(member[u][1] for u in users)
        if places is None:
            places = mine
        elif mine != places:
            return False
    return _root_family(graph, paths, derived_from)


def _convert(graph: Graph, copies: list[list[int]], level: int, readers, derived_from) -> bool:
    found = _match(graph, copies, readers, derived_from)
    if found is None:
        return False
    carry, mapping, sig0, init, stacked = found
    n = len(copies)
    first = [graph.node(x) for x in copies[0]]
    table = graph.params
    layout = layout_of(table)
    base = stack_dir(graph, stacked, "scan") if stacked else None
    views = []
    if stacked:
        new_for = {}
        for paths in stacked:
            stack = _stack_path(base, paths[0])
            new_for[paths[0]] = (stack, paths)
            layout.stacks.append((stack, tuple(paths)))
            views.append((paths[0], stack))
        drop = {p for paths in stacked for p in paths[1:]}
        slots = {}
        for path, slot in table.slots.items():
            if path in drop:
                continue
            if path in new_for:
                stack, _ = new_for[path]
                slots[stack] = stacked_slot(slot, stack, n)
                slots[path] = ParamSlot(path, slot.shape, slot.dtype, derive=Derivation(
                    "scan_slice", {"stack": stack}, {"index": 0}), trainable=slot.trainable)
                continue
            slots[path] = slot
        table.slots = slots
    # The region: copy 0, reading the carry from its inputs.
    name = base or stack_dir(graph, [[first[0].name]], "scan")
    region = Graph(name, params=table)  # named after its node, as fold and map regions are
    kidx = {out: k for k, out in enumerate(carry)}
    region_in = [region.add_input(graph.type_of(init[out]), f"c{k}") for k, out in
                 enumerate(carry)]
    new_id: dict[int, int] = {}
    for j, ref in enumerate(first):
        wires = []
        for p in range(len(graph.inputs_of(ref.id))):
            e = sig0[(j, p)]
            wires.append((new_id[e[1]], e[2]) if e[0] == "in" else region_in[kidx[mapping[(j, p)]]])
        meta = dict(ref.meta)
        meta["repeat"] = ref.meta.get("repeat", ())[level + 1:]
        node = region.add_node(ref.op, wires, ref.out_types, dict(ref.attrs),
                               params=dict(ref.params), name=ref.name, span=ref.span, meta=meta)
        new_id[j] = node.id
    region.set_outputs([(new_id[j], q) for j, q in carry])
    outer = first[0].meta.get("repeat", ())[:level]
    scan = graph.add_node("ctl.scan", [init[out] for out in carry],
                          tuple(graph.type_of(init[out]) for out in carry),
                          {"length": n, "stacked": tuple(views)}, name=name, span=first[0].span,
                          region=region, meta={"repeat": outer} if outer else {})
    for k, (j, q) in enumerate(carry):
        replace_uses(graph, (copies[-1][j], q), (scan.id, k))
    graph.g.remove_nodes_from([x for c in copies for x in c])
    scan_graph(region, 0)
    return True


def _stack_path(base: str, path: str) -> str:
    prefix = base.rsplit("/", 1)[0] + "/" if "/" in base else ""
    return f"{base}/{path[len(prefix):]}"


def scan_graph(graph: Graph, start_level: int = 0,
               unrolled_traits: frozenset[str] = frozenset()) -> bool:
    """Convert every matching repetition group of ``graph``, outermost first; a group with
    a node whose op has one of ``unrolled_traits`` stays unrolled."""
    changed = False
    depth = max((len(graph.node(i).meta.get("repeat", ())) for i in graph.g.nodes), default=0)
    for level in range(start_level, depth):
        topo = {nid: k for k, nid in enumerate(n.id for n in graph.topological())}
        groups: dict[int, dict[int, list[int]]] = {}
        for nid in topo:
            rep = graph.node(nid).meta.get("repeat", ())
            if len(rep) > level:
                g, i = rep[level]
                groups.setdefault(g, {}).setdefault(i, []).append(nid)
        readers, derived_from = readers_by_slot(graph), derivation_inputs(graph)
        for g in sorted(groups):
            by_copy = groups[g]
            if len(by_copy) < 2 or sorted(by_copy) != list(range(len(by_copy))):
                continue
            copies = [sorted(by_copy[i], key=topo.__getitem__) for i in range(len(by_copy))]
            if any(x not in graph for c in copies for x in c):
                continue
            if unrolled_traits and any(
                    _has_traits(graph.node(x), unrolled_traits) for x in copies[0]):
                continue
            if _convert(graph, copies, level, readers, derived_from):
                changed = True
                readers, derived_from = readers_by_slot(graph), derivation_inputs(graph)
    return changed


def _has_traits(node, traits: frozenset[str]) -> bool:
    op = OPS.get(node.op)
    return (op is not None and bool(traits & op.traits)) or (
        node.region is not None and any(graph_has_trait(node.region, t) for t in traits))


@register_pass
@dataclass(frozen=True)
class RepeatToScan(Pass):
    """Unrolled repetitions to ``ctl.scan`` over stacked parameters (see module doc).

    ``unrolled_traits``: blocks holding an op with one of these traits stay unrolled. The
    default keeps convolutions out of loops, since XLA:CPU runs a convolution inside a
    ``while`` loop several times slower (mgno2d_darcy's train step: 12.6x with its
    V-cycle layers scanned); ``RepeatToScan(unrolled_traits=frozenset())`` scans them too
    (for GPUs)."""

    name = "repeat-to-scan"
    unrolled_traits: frozenset[str] = frozenset({"convolution"})

    def apply(self, graph: Graph) -> bool:
        return scan_graph(graph, unrolled_traits=self.unrolled_traits)
