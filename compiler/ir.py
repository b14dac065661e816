"""The graph IR: op nodes wired by typed edges on a networkx ``MultiDiGraph``.

An open graph: ``io.input`` nodes are the boundary inputs, one ``io.output``
node collects the results. A *wire* is ``(node_id, port)``, one output of a
node; an edge ``src -> dst`` carries ``src_port``, ``dst_port`` and the wire's
type. Parameters live in a ``ParamTable`` of slots that nodes reference by
path, so weight tying is two nodes on one slot and a reparametrisation is a
slot computed from other slots. Nested constructs (``fold``, ``map``, ``scan``)
keep a sub-``Graph`` as their region; regions share the parent's table.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from ..errors import Span
from .types import TensorType

Wire = tuple[int, int]  # (node id, output port)


@dataclass
class Node:
    """One op instance.

    ``name`` is the instance's path in the spec (``fourier_layer_1/dense_0``),
    ``params`` maps the op's local parameter names to slot paths, ``meta``
    holds provenance that passes may use (e.g. which copy of a repetition).
    """

    id: int
    op: str
    attrs: dict[str, Any]
    out_types: tuple[TensorType, ...]
    params: dict[str, str] = field(default_factory=dict)
    name: str = ""
    span: Span | None = None
    region: Graph | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Derivation:
    """How a derived slot is computed: ``kind`` names a rule, ``inputs`` maps roles to slots."""

    kind: str
    inputs: dict[str, str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParamSlot:
    """One parameter tensor: a trained root, a frozen root, or derived from others."""

    path: str
    shape: tuple[int, ...]
    dtype: str = "f32"
    init: str = "lecun_normal"
    init_args: dict[str, Any] = field(default_factory=dict)
    trainable: bool = True
    derive: Derivation | None = None

    @property
    def is_root(self) -> bool:
        return self.derive is None

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


class ParamTable:
    """Slots by path, in creation order (which fixes the order of ``init``)."""

    def __init__(self):
        self.slots: dict[str, ParamSlot] = {}
        # How passes re-laid the slots out (``passes/layout.py``: a ``ParamLayout``, with
        # the table as written and the stackings); ``None`` until a pass stacks something.
        self.layout = None

    def add(self, slot: ParamSlot) -> ParamSlot:
        self.slots[slot.path] = slot
        return slot

    def __getitem__(self, path: str) -> ParamSlot:
        return self.slots[path]

    def __contains__(self, path: str) -> bool:
        return path in self.slots

    def __iter__(self) -> Iterator[ParamSlot]:
        return iter(self.slots.values())

    def __len__(self) -> int:
        return len(self.slots)

    def roots(self) -> list[ParamSlot]:
        """Slots that hold data (trained or frozen), as opposed to derived ones."""
        return [s for s in self.slots.values() if s.is_root]

    def trainable_count(self) -> int:
        return sum(s.size for s in self.roots() if s.trainable)


class Graph:
    """A typed open graph of op nodes. See the module docstring for the model."""

    def __init__(self, name: str = "main", params: ParamTable | None = None):
        self.name = name
        self.g = nx.MultiDiGraph()
        self.params = params if params is not None else ParamTable()
        self.inputs: list[int] = []
        self.output: int | None = None
        self.spec_params: dict[str, Any] = {}  # model parameter values used to build it
        self.declared_outputs: list[TensorType] | None = None
        self._next_id = 0
        # The graph whose node owns this one as its region (set by ``add_node``): an edit
        # inside a region is verified with its owner, whose type it may break.
        self.parent: Graph | None = None

    # -- construction ------------------------------------------------------------
    def add_node(
        self,
        op: str,
        inputs: list[Wire],
        out_types: tuple[TensorType, ...],
        attrs: dict[str, Any] | None = None,
        **kw: Any,
    ) -> Node:
        """Add a node fed by ``inputs`` (wires in port order) and return it."""
        node = Node(self._next_id, op, dict(attrs or {}), tuple(out_types), **kw)
        if node.region is not None:
            node.region.parent = self
        self._next_id += 1
        self.g.add_node(node.id, node=node)
        for port, (src, src_port) in enumerate(inputs):
            self.connect((src, src_port), node.id, port)
        return node

    def connect(self, wire: Wire, dst: int, dst_port: int) -> None:
        src, src_port = wire
        self.g.add_edge(
            src, dst, src_port=src_port, dst_port=dst_port, type=self.type_of(wire)
        )

    def add_input(self, type_: TensorType, name: str, span: Span | None = None) -> Wire:
        node = self.add_node(
            "io.input", [], (type_,), {"index": len(self.inputs)}, name=name, span=span
        )
        self.inputs.append(node.id)
        return (node.id, 0)

    def set_outputs(self, wires: list[Wire], span: Span | None = None) -> Node:
        node = self.add_node("io.output", wires, (), name="output", span=span)
        self.output = node.id
        return node

    # -- queries ---------------------------------------------------------------
    def node(self, node_id: int) -> Node:
        """The node with id ``node_id`` (``node_by_name`` finds one by instance name)."""
        try:
            return self.g.nodes[node_id]["node"]
        except (KeyError, TypeError):
            from ..errors import IRVerifyError

            raise IRVerifyError(f"no node {node_id!r} in graph `{self.name}`; ids are ints "
                                "(graph.node_by_name finds a node by name)") from None

    def __contains__(self, node_id: int) -> bool:
        return node_id in self.g

    def __len__(self) -> int:
        return self.g.number_of_nodes()

    def type_of(self, wire: Wire) -> TensorType:
        node_id, port = wire
        node = self.node(node_id)
        try:
            return node.out_types[port]
        except (IndexError, TypeError):
            from ..errors import IRVerifyError

            n = len(node.out_types)
            raise IRVerifyError(f"node {node.id} (`{node.name}`) of graph `{self.name}` has no "
                                f"output {port!r}; it has {n} output{'s' if n != 1 else ''}"
                                ) from None

    def inputs_of(self, node_id: int | Node) -> list[Wire]:
        """The wires feeding node ``node_id`` (an id or a ``Node``), in port order."""
        if isinstance(node_id, Node):
            node_id = node_id.id
        if node_id not in self.g:
            self.node(node_id)  # raises the error naming the graph
        edges = sorted(self.g.in_edges(node_id, data=True), key=lambda e: e[2]["dst_port"])
        return [(src, data["src_port"]) for src, _, data in edges]

    def users_of(self, wire: Wire | Node) -> list[tuple[int, int]]:
        """``(node, port)`` pairs that read ``wire`` (``(node_id, port)``; a ``Node`` means
        its output 0)."""
        src, port = (wire.id, 0) if isinstance(wire, Node) else wire
        if src not in self.g:
            self.node(src)  # raises the error naming the graph
        return [
            (dst, data["dst_port"])
            for _, dst, data in self.g.out_edges(src, data=True)
            if data["src_port"] == port
        ]

    @property
    def output_wires(self) -> list[Wire]:
        return self.inputs_of(self.output) if self.output is not None else []

    @property
    def input_types(self) -> list[TensorType]:
        return [self.node(i).out_types[0] for i in self.inputs]

    @property
    def output_types(self) -> list[TensorType]:
        return [self.type_of(w) for w in self.output_wires]

    def topological(self) -> list[Node]:
        """Nodes in a deterministic topological order (ties broken by id)."""
        return [self.node(i) for i in nx.lexicographical_topological_sort(self.g)]

    def nodes(self, op: str | None = None, where=None) -> list[Node]:
        """Nodes in topological order, optionally of one op and matching a predicate.

        ``op`` matches the full name (``nn.dense``) or the short one (``dense``); either
        may be a glob (``act.*``), as in ``select``.
        """
        from .select import check_op_pattern, op_matches

        if op is not None:
            check_op_pattern(op)
        out = []
        for n in self.topological():
            if op is not None and not op_matches(n.op, op):
                continue
            if where is not None and not where(n):
                continue
            out.append(n)
        return out

    def slots_used(self) -> dict[str, list[Node]]:
        """Slot path -> nodes that read it (through derivations too), regions included."""
        used: dict[str, list[Node]] = {}

        def visit(graph: Graph):
            for n in graph.topological():
                for path in n.params.values():
                    for root in self._roots_of(path):
                        used.setdefault(root, []).append(n)
                if n.region is not None:
                    visit(n.region)

        visit(self)
        return used

    def _roots_of(self, path: str) -> list[str]:
        slot = self.params[path]
        if slot.derive is None:
            return [path]
        out = []
        for p in slot.derive.inputs.values():
            out.extend(self._roots_of(p))
        return out

    # -- whole-graph operations ------------------------------------------------
    def copy(self) -> Graph:
        """A deep copy (nodes, regions and parameter table)."""
        return _copy.deepcopy(self)

    def remove_node(self, node_id: int) -> None:
        self.g.remove_node(node_id)

    def verify(self) -> None:
        """Check the invariants every pass and edit must keep; raise ``IRVerifyError``.

        A region is checked with the graph that owns it (up to the outermost one): an
        edit inside a ``fold`` body that changes its output type breaks the ``fold``.
        """
        from .verify import verify_graph

        verify_graph(self)
        root = self
        while root.parent is not None:
            root = root.parent
        if root is not self:
            verify_graph(root)

    # -- the library API (queries in select.py, edits in rewrite.py) -----------------
    def select(self, op: str | None = None, name: str | None = None, where=None,
               recursive: bool = False, **attrs: Any) -> list[Node]:
        """Nodes matching an op (glob on full or short name), an instance-name glob,
        attribute values and a predicate; see ``compiler/select.py``."""
        from .select import select

        return select(self, op=op, name=name, where=where, recursive=recursive, **attrs)

    def node_by_name(self, name: str) -> Node:
        """The node whose instance name is ``name``; ``IRVerifyError`` (with a hint) if none."""
        from .select import node_by_name

        return node_by_name(self, name)

    def fresh_name(self, base: str, avoid=()) -> str:
        """An instance name ``base_k`` not yet used in this graph (nor in ``avoid``: names
        and slot paths that must not come back, e.g. those of removed nodes)."""
        nodes = [self.node(i) for i in self.g.nodes]
        taken = {n.name for n in nodes} | set(avoid)
        # A region (the body of `map_0`) names its nodes under its owner (`map_0/…`):
        # new nodes there follow suit.
        named = [n.name for n in nodes if n.name and n.op not in ("io.input", "io.output")]
        scope = f"{self.name}/" if named and all(x.startswith(f"{self.name}/")
                                                  for x in named) else ""
        # Regions share their parent's parameter table: a name whose slots would land on
        # existing paths (`dense_0/w` of the top level) is taken too.
        prefixes = {path.rsplit("/", 1)[0] for path in [*self.params.slots, *avoid]}
        k = 0
        while f"{scope}{base}_{k}" in taken or f"{scope}{base}_{k}" in prefixes:
            k += 1
        return f"{scope}{base}_{k}"

    def param(self, path: str) -> ParamSlot:
        """The parameter slot at ``path`` (a leading ``@`` is allowed)."""
        from .select import param

        return param(self, path)

    def params_of(self, node: Node | int | str) -> dict[str, ParamSlot]:
        """A node's parameters: local name (``w``) -> slot."""
        from .select import params_of

        return params_of(self, node)

    def param_users(self, path: str) -> list[Node]:
        """Nodes that read slot ``path``, directly or through a slot derived from it."""
        from .select import users_of_param

        return users_of_param(self, path)

    def slot_readers(self, path: str) -> list[Node]:
        """Nodes (regions included) that read slot ``path`` directly."""
        out: list[Node] = []

        def visit(graph: Graph):
            for i in graph.g.nodes:
                n = graph.node(i)
                if path in n.params.values():
                    out.append(n)
                if n.region is not None:
                    visit(n.region)

        visit(self)
        return out

    def live_slots(self) -> set[str]:
        """Slot paths some node reads, directly or through derivations."""
        live: set[str] = set()
        stack: list[str] = []

        def visit(graph: Graph):
            for i in graph.g.nodes:
                n = graph.node(i)
                stack.extend(n.params.values())
                if n.region is not None:
                    visit(n.region)

        visit(self)
        while stack:
            p = stack.pop()
            if p in live or p not in self.params:
                continue
            live.add(p)
            if self.params[p].derive is not None:
                stack.extend(self.params[p].derive.inputs.values())
        return live

    def rewriter(self):
        """A ``Rewriter`` editing this graph in place (``with graph.rewriter() as rw:``)."""
        from .rewrite import Rewriter

        return Rewriter(self)

    def edited(self, edit) -> Graph:
        """Out of place: a verified copy after ``edit(rewriter)`` ran on it."""
        from .rewrite import Rewriter

        new = self.copy()
        with Rewriter(new) as rw:
            edit(rw)
        return new

    def to_json(self) -> dict:
        """The versioned JSON form (``compiler/serialize.py``)."""
        from .serialize import to_json

        return to_json(self)

    def to_dot(self) -> str:
        """Graphviz DOT text (``compiler/dot.py``)."""
        from .dot import to_dot

        return to_dot(self)

    def __str__(self) -> str:
        from .printer import print_graph

        return print_graph(self)
