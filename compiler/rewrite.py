"""Editing a graph: the ``Rewriter``, through which every IR mutation can go.

    with graph.rewriter() as rw:          # verified when the block ends
        rw.replace("dense_1", "gelu")     # a node becomes another op
        rw.insert_after("dense_0", "layer_norm")
        rw.remove("relu_0")               # its users read its input instead
        rw.set_attrs("dense_2", out=32)   # re-types downstream, or refuses

Every edit is atomic: it re-infers the types of the nodes it touches and of
everything downstream through the op registry, and when that fails (a wire of
the wrong type, a parameter slot of the wrong shape, a changed model output) it
undoes itself and raises ``IRVerifyError`` naming the node that broke. Nodes
may be given as ``Node`` objects, ids, or instance names (``"dense_0"``).
A node's own parameter slots follow its attributes (``set_attrs(out=32)``
reshapes ``w``) unless another node shares them; slots an edit leaves unused
are dropped from the table.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Callable
from typing import Any

import networkx as nx

from ..errors import IRVerifyError, SpecError, did_you_mean
from .ir import Graph, Node, ParamSlot, Wire
from .ops.registry import OPS, SURFACE, OpDef, OpTypeError
from .verify import IO_OPS, _where, check_sizes

NodeRef = Node | int | str
WireRef = Node | int | str | tuple


def _region_owner(graph: Graph, node: Node) -> Node | None:
    """The node (of ``graph`` or of a region inside it) whose region holds ``node``."""
    for n in graph.nodes():
        if n.region is None:
            continue
        if node.id in n.region.g and n.region.node(node.id) is node:
            return n
        inner = _region_owner(n.region, node)
        if inner is not None:
            return inner
    return None


def resolve_op(op: str) -> OpDef:
    """An op by IR name (``nn.dense``) or surface name (``dense``)."""
    if not isinstance(op, str):
        raise IRVerifyError(f"an op is named by a string like \"dense\" or \"nn.dense\", got "
                            f"{op!r}")
    found = OPS.get(op) or SURFACE.get(op)
    if found is None:
        from ..errors import did_you_mean
        from .select import not_an_op

        not_an_op(op)
        if op == "_":
            raise IRVerifyError("`_` matches any op in a pattern; a replacement names the ops "
                                "it builds")

        hint = did_you_mean(op, list(SURFACE) + list(OPS))
        raise IRVerifyError(f"unknown op `{op}`" + (f" ({hint})" if hint else ""))
    return found


def bind_attrs(op: OpDef, attrs: dict[str, Any] | None, base: dict | None = None) -> dict:
    """Attributes in declaration order with defaults filled in (``base`` gives earlier values)."""
    from .evaluate import bind_args

    if attrs is not None and not isinstance(attrs, dict):
        raise IRVerifyError(f"attributes of `{op.surface}` are a dict of name -> value, got "
                            f"{attrs!r}")
    given = dict(base or {})
    given.update(attrs or {})
    # The spec checker wants lists where the IR keeps tuples.
    kwargs = {k: (list(v) if isinstance(v, tuple) else v, None) for k, v in given.items()}
    try:
        return bind_args(op.surface, op.args, [], kwargs, None)
    except SpecError as err:
        raise IRVerifyError(err.message + (f" ({err.hint})" if err.hint else "")) from None


class _Transactions:
    """The undo log of one graph and the start marks of its open transactions."""

    def __init__(self):
        self.undo: list[Callable[[], None]] = []
        self.marks: list[int] = []
        self.depth = 0  # edits in progress (an edit may be made of edits)
        # Instance names and slot paths edits removed: new nodes and slots do not take them
        # (a checkpoint of the old graph would load the removed layer's weights into them).
        self.retired: set[str] = set()


_TRANSACTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Rewriter:
    """Atomic, type-checked edits of ``graph`` (in place).

    Used as a context manager it is a transaction: the whole graph is verified on exit, and
    a block that raises (an edit refused, the final verification, or the caller's own code)
    is undone as a whole. Used bare, each edit is still checked (in a region, against the
    control nodes around it) and undone by itself, and ``verify()`` checks the whole.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        # One undo log per graph, shared by every rewriter on it: a transaction rolls back
        # the edits made inside it by any rewriter (catspec.rewrite, a nested block).
        state = _TRANSACTIONS.get(graph)
        if state is None:
            state = _TRANSACTIONS[graph] = _Transactions()
        self._state = state
        self._undo = state.undo
        self.log: list[str] = []  # one line per successful edit, for debugging and tests
        self._log_marks: list[int] = []

    # -- context manager -------------------------------------------------------
    def __enter__(self) -> Rewriter:
        self._state.marks.append(len(self._undo))
        self._log_marks.append(len(self.log))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        mark = self._state.marks.pop()
        edits = self.log[self._log_marks.pop():]
        try:
            if exc_type is None:
                try:
                    self.graph.verify()
                except IRVerifyError as err:
                    self._rollback(mark)
                    # Each edit was checked where it was made; what fails now is the graph
                    # around it (a region's new type breaking its fold): name the edits.
                    if not edits:
                        raise
                    raise IRVerifyError(f"cannot {'; '.join(edits)}: {err}") from None
                except BaseException:
                    self._rollback(mark)
                    raise
                return
            self._rollback(mark)
        finally:
            if not self._state.marks:  # outermost transaction over: nothing to undo later
                del self._undo[:]

    def verify(self) -> None:
        self.graph.verify()

    # -- references ---------------------------------------------------------------
    def node(self, ref: NodeRef) -> Node:
        """The node ``ref`` names: a ``Node`` (matched by id), an id, or an instance name."""
        if isinstance(ref, Node):
            # Ids repeat between a graph and its regions: a node is this graph's only if it
            # is the very object stored here.
            if ref.id not in self.graph.g or self.graph.node(ref.id) is not ref:
                raise self._elsewhere(ref)
            return ref
        if isinstance(ref, bool):
            raise IRVerifyError(f"not a node: {ref!r}")
        if isinstance(ref, int):
            if ref not in self.graph.g:
                raise IRVerifyError(f"no node {ref} in graph `{self.graph.name}`")
            return self.graph.node(ref)
        if isinstance(ref, str):
            node = self.graph.node_by_name(ref)
            if node.id not in self.graph.g or self.graph.node(node.id) is not node:
                raise self._elsewhere(node)
            return node
        raise IRVerifyError(f"not a node: {ref!r}")

    def _elsewhere(self, node: Node) -> IRVerifyError:
        owner = _region_owner(self.graph, node)
        if owner is None and node.id in self.graph.g and \
                self.graph.node(node.id).name == node.name:
            return IRVerifyError(
                f"{_where(node)} is a Node of another Graph object (a copy of this one?); "
                f"pass its name or id ({node.id}), or take the node from this graph")
        if owner is None:
            return IRVerifyError(f"{_where(node)} is not in graph `{self.graph.name}`")
        return IRVerifyError(
            f"`{node.name}` is inside the region of `{owner.name}` ({owner.op}); edit it "
            f"through that region's graph: graph.node_by_name({owner.name!r}).region"
            ".rewriter()")

    def wire(self, ref: WireRef) -> Wire:
        """A wire: ``(node, port)`` or a node (its output 0)."""
        if isinstance(ref, tuple):
            if len(ref) != 2:
                raise IRVerifyError(f"a wire is a node or a (node, port) pair, got {ref!r}")
            node, port = ref
            node = self.node(node)
            if not isinstance(port, int) or isinstance(port, bool):
                raise IRVerifyError(f"an output port is an int, got {port!r}")
            if not 0 <= port < len(node.out_types):
                raise IRVerifyError(f"{_where(node)} has no output {port}")
            return (node.id, port)
        node = self.node(ref)
        if not node.out_types:
            raise IRVerifyError(f"{_where(node)} has no outputs")
        if len(node.out_types) > 1:
            raise IRVerifyError(f"{_where(node)} has {len(node.out_types)} outputs; name one "
                                f"as ({node.name!r}, port)")
        return (node.id, 0)

    # -- edits ----------------------------------------------------------------------
    def add(self, op: str, inputs: list[WireRef], attrs: dict | None = None,
            name: str | None = None, params: dict[str, str] | None = None,
            reuse_params: dict[str, str] | None = None, *,
            _replacing: set[int] | None = None, **kw) -> Node:
        """A new node of ``op`` reading ``inputs``, typed by inference.

        ``params`` names slots to read as they are; ``reuse_params`` names slots to read
        when their shapes fit; other parameters get new slots ``name/param``. ``kw`` sets
        ``span`` or ``meta``. The node is unused until something reads it. (Pattern
        rewriting passes ``_replacing``: the nodes it replaces, whose names it may reuse.)
        """
        self._check_new_name(name, keep=_replacing)
        wires = [self.wire(w) for w in inputs]
        return self._atomic(f"add {op}", lambda: self._add(op, wires, attrs, name, params, kw,
                                                           reuse=reuse_params))

    def _check_new_name(self, name: str | None, keep: set[int] | None = None) -> None:
        """A name given to a new node: a path of identifiers, not taken by another node
        (``keep``: ids of nodes about to be replaced, whose names may be reused)."""
        if name is None:
            return
        from .verify import NAME

        if not isinstance(name, str) or not NAME.match(name):
            raise IRVerifyError(f"instance name `{name}` is not a path of identifiers like "
                                "`block_0/dense_1`")
        for n in self.graph.nodes():
            if n.name == name and n.id not in (keep or set()):
                raise IRVerifyError(f"instance name `{name}` is taken by {_where(n)}")

    def replace(self, ref: NodeRef, op: str, attrs: dict | None = None,
                name: str | None = None) -> Node:
        """Put a node of ``op`` in ``ref``'s place: same inputs, same users, re-typed downstream.

        Parameters with the same local name and shape are kept (trained weights stay valid).
        """
        old = self.node(ref)
        if old.op in IO_OPS:
            raise IRVerifyError(f"cannot replace {_where(old)}: it is a boundary node (edit "
                                "after it with insert_after, or before the output with "
                                "insert_before)")
        if name is not None and name != old.name:
            self._check_new_name(name, keep={old.id})

        def run() -> Node:
            keep = {k: v for k, v in old.params.items()}
            new = self._add(op, self.graph.inputs_of(old.id), attrs, name or old.name,
                            None, {"span": old.span, "meta": dict(old.meta)}, reuse=keep)
            if len(new.out_types) != len(old.out_types):
                raise IRVerifyError(f"{_where(new)} has {len(new.out_types)} outputs, "
                                    f"{_where(old)} has {len(old.out_types)}")
            for port in range(len(old.out_types)):
                self._move_uses((old.id, port), (new.id, port))
            self._delete(old)
            self._retype([u for p in range(len(new.out_types))
                          for u, _ in self.graph.users_of((new.id, p))])
            return new

        return self._atomic(f"replace {old.name or old.id} by {op}", run)

    def insert_after(self, ref: WireRef, op: str, attrs: dict | None = None,
                     name: str | None = None) -> Node:
        """A 1-in/1-out ``op`` on the wire ``ref``; its former readers read the new node."""
        wire = self.wire(ref)

        def run() -> Node:
            users = self.graph.users_of(wire)
            new = self._add(op, [wire], attrs, name, None, {})
            self._check_unary(new)
            for dst, port in users:
                self._reconnect(dst, port, (new.id, 0))
            self._retype([dst for dst, _ in users])
            return new

        return self._atomic(f"insert {op} after {self._wire_str(wire)}", run)

    def insert_before(self, ref: NodeRef, op: str, attrs: dict | None = None, port: int = 0,
                      name: str | None = None) -> Node:
        """A 1-in/1-out ``op`` on input ``port`` of ``ref``."""
        node = self.node(ref)
        ins = self.graph.inputs_of(node.id)
        if not 0 <= port < len(ins):
            raise IRVerifyError(f"{_where(node)} has no input {port}")

        def run() -> Node:
            new = self._add(op, [ins[port]], attrs, name, None, {})
            self._check_unary(new)
            self._reconnect(node.id, port, (new.id, 0))
            self._retype([node.id])
            return new

        return self._atomic(f"insert {op} before {node.name or node.id}", run)

    def remove(self, ref: NodeRef) -> None:
        """Delete a node. A 1-in/1-out node's readers then read its input (types must match);
        any other node must be unused."""
        node = self.node(ref)
        if node.op in IO_OPS:
            raise IRVerifyError(f"cannot remove {_where(node)}: it is a boundary node")
        ins = self.graph.inputs_of(node.id)
        used = [p for p in range(len(node.out_types)) if self.graph.users_of((node.id, p))]

        def run() -> None:
            if used:
                if len(ins) != 1 or len(node.out_types) != 1:
                    raise IRVerifyError(
                        f"cannot remove {_where(node)}: it has {len(ins)} inputs and "
                        f"{len(node.out_types)} outputs and its outputs are used; only a "
                        f"1-in/1-out node can be bypassed")
                t_in, t_out = self.graph.type_of(ins[0]), node.out_types[0]
                if not t_in.same_as(t_out):
                    raise IRVerifyError(
                        f"cannot remove {_where(node)}: its readers expect {t_out}, but its "
                        f"input is {t_in}")
                self._move_uses((node.id, 0), ins[0])
            self._delete(node)

        self._atomic(f"remove {node.name or node.id}", run)

    def rewire(self, ref: NodeRef, port: int, source: WireRef) -> None:
        """Make input ``port`` of ``ref`` read ``source``; re-types downstream or refuses."""
        node = self.node(ref)
        n_ins = len(self.graph.inputs_of(node.id))
        if not isinstance(port, int) or isinstance(port, bool):
            raise IRVerifyError(f"an input port is an int (0..{n_ins - 1} for {_where(node)}), "
                                f"got {port!r}")
        if not 0 <= port < n_ins:
            raise IRVerifyError(f"{_where(node)} has no input {port}")
        wire = self.wire(source)

        def run() -> None:
            if wire[0] == node.id or nx.has_path(self.graph.g, node.id, wire[0]):
                raise IRVerifyError(f"cannot rewire {_where(node)} to read "
                                    f"{_where(self.graph.node(wire[0]))}: it would make a cycle")
            self._reconnect(node.id, port, wire)
            self._retype([node.id])

        self._atomic(f"rewire input {port} of {node.name or node.id}", run)

    def replace_uses(self, old: WireRef, new: WireRef) -> None:
        """Every reader of ``old`` reads ``new`` instead (types must agree downstream)."""
        a, b = self.wire(old), self.wire(new)

        def run() -> None:
            users = self.graph.users_of(a)
            self._move_uses(a, b)
            if b[0] in {u for u, _ in users} or any(
                    nx.has_path(self.graph.g, u, b[0]) for u, _ in users):
                raise IRVerifyError("replace_uses would make a cycle")
            self._retype([u for u, _ in users])

        self._atomic(f"replace uses of {self._wire_str(a)} by {self._wire_str(b)}", run)

    def set_attrs(self, ref: NodeRef, **attrs: Any) -> Node:
        """Change attributes; the node and everything downstream are re-typed, or it refuses."""
        node = self.node(ref)
        if node.op.startswith("ctl."):
            raise IRVerifyError(f"cannot set attributes of {_where(node)}: the attributes of "
                                "control ops are fixed by the spec or the pass that made them; "
                                "edit the spec, or the nodes of its region")
        op = resolve_op(node.op) if node.op not in IO_OPS else None
        if op is None:
            raise IRVerifyError(f"cannot set attributes of {_where(node)}")

        def run() -> Node:
            self._set(node, "attrs", bind_attrs(op, attrs, node.attrs))
            self._retype([node.id], own_params={node.id})
            return node

        shown = ", ".join(f"{k}={v!r}" for k, v in attrs.items())
        return self._atomic(f"set {shown} on {node.name or node.id}", run)

    def tie(self, ref: NodeRef, to: NodeRef, params: list[str] | str | None = None) -> None:
        """Make ``ref`` read ``to``'s parameter slots (all shared names, or ``params``)."""
        node, other = self.node(ref), self.node(to)
        names = _names(params) if params is not None else [p for p in node.params
                                                           if p in other.params]
        if not names:
            raise IRVerifyError(f"cannot tie {_where(node)} to {_where(other)}: "
                                f"they have no parameter in common")

        def run() -> None:
            new = dict(node.params)
            for p in names:
                if p not in node.params or p not in other.params:
                    raise IRVerifyError(f"cannot tie `{p}`: {_where(node if p not in node.params else other)} "
                                        f"has no parameter `{p}`")
                mine, theirs = self.graph.params[node.params[p]], self.graph.params[other.params[p]]
                if mine.shape != theirs.shape:
                    raise IRVerifyError(
                        f"cannot tie {_where(node)} to {_where(other)}: `{p}` has shape "
                        f"{mine.shape} here and {theirs.shape} there")
                new[p] = other.params[p]
            released = [node.params[p] for p in names]
            _refuse_releasing_views(self.graph.params, node, released)
            self._set(node, "params", new)
            self._collect(released)

        self._atomic(f"tie {node.name} to {other.name}", run)

    def freeze(self, ref: NodeRef | str, params: list[str] | str | None = None,
               trainable: bool = False) -> list[str]:
        """Stop training a node's parameters (or one slot path: ``"dense_0/w"``).

        Derived slots freeze their roots; a control node (fold, map, scan) freezes its own
        slots and every slot its region reads. Returns the root paths changed.
        """
        if not isinstance(trainable, bool):
            raise IRVerifyError(f"`trainable` is True or False, got {trainable!r}")
        table = self.graph.params
        if isinstance(ref, str) and ref.removeprefix("@") in table:
            paths = [ref.removeprefix("@")]
        elif isinstance(ref, str) and ref.startswith("@"):
            raise IRVerifyError(f"no parameter slot {ref} in graph `{self.graph.name}`")
        else:
            try:
                node = self.node(ref)
            except IRVerifyError as err:
                if isinstance(ref, str) and str(err).startswith("no node named"):
                    # a string here may have meant a slot path: say both were looked for,
                    # and suggest the nearest of either
                    from .select import select

                    names = [n.name for n in select(self.graph, recursive=True) if n.name]
                    hint = did_you_mean(ref, [*table.slots, *names])
                    raise IRVerifyError(f"no node or parameter slot named `{ref}` in graph "
                                        f"`{self.graph.name}`"
                                        + (f"; {hint}" if hint else "")) from None
                raise
            if params is None and node.region is not None:
                # a control node (fold, map, scan): its own slots (a fold's learned initial
                # state) and every slot its region reads
                paths = [*node.params.values(), *sorted(node.region.slots_used())]
            else:
                names = _names(params) if params is not None else list(node.params)
                for p in names:
                    if p not in node.params:
                        raise IRVerifyError(f"{_where(node)} has no parameter `{p}`")
                paths = [node.params[p] for p in names]
            if not paths:
                raise IRVerifyError(f"{_where(node)} has no parameters to "
                                    f"{'unfreeze' if trainable else 'freeze'}")
        roots = [r for p in paths for r in self.graph._roots_of(p)]
        for r in roots:
            self._set(table[r], "trainable", trainable)
        self.log.append(("unfreeze " if trainable else "freeze ") + ", ".join(roots))
        return roots

    # -- internals: the transaction ------------------------------------------------
    def _wire_str(self, wire: Wire) -> str:
        node = self.graph.node(wire[0])
        base = node.name or f"node {node.id}"
        return base if wire[1] == 0 else f"{base}:{wire[1]}"

    def _atomic(self, what: str, fn: Callable[[], Any]) -> Any:
        mark = len(self._undo)
        self._state.depth += 1
        try:
            result = fn()
            if self.graph.parent is not None and not self._state.marks and \
                    self._state.depth == 1:
                # a bare edit in a region is final: the control nodes around it must still
                # hold (a transaction checks them when it closes, so that several edits may
                # pass through a state that does not)
                _check_owners(self.graph)
        except IRVerifyError as err:
            self._rollback(mark)
            msg = str(err)
            raise IRVerifyError(msg if msg.startswith("cannot ") else f"cannot {what}: {msg}") \
                from None
        except BaseException:
            self._rollback(mark)
            raise
        finally:
            self._state.depth -= 1
        if not self._state.depth and not self._state.marks:
            del self._undo[:]  # a bare edit that succeeded is final
        self.log.append(what)
        return result

    def _rollback(self, mark: int) -> None:
        while len(self._undo) > mark:
            self._undo.pop()()

    def _set(self, obj: Any, attr: str, value: Any) -> None:
        old = getattr(obj, attr)
        setattr(obj, attr, value)
        self._undo.append(lambda: setattr(obj, attr, old))

    def _connect(self, wire: Wire, dst: int, port: int) -> None:
        g = self.graph.g
        key = g.add_edge(wire[0], dst, src_port=wire[1], dst_port=port,
                         type=self.graph.type_of(wire))
        self._undo.append(lambda: g.remove_edge(wire[0], dst, key))

    def _disconnect(self, dst: int, port: int) -> Wire:
        g = self.graph.g
        for src, _, key, data in list(g.in_edges(dst, keys=True, data=True)):
            if data["dst_port"] == port:
                g.remove_edge(src, dst, key)
                self._undo.append(lambda s=src, k=key, d=data: g.add_edge(s, dst, k, **d))
                return (src, data["src_port"])
        raise IRVerifyError(f"{_where(self.graph.node(dst))} has no input {port}")

    def _reconnect(self, dst: int, port: int, wire: Wire) -> None:
        self._disconnect(dst, port)
        self._connect(wire, dst, port)

    def _move_uses(self, old: Wire, new: Wire) -> None:
        for dst, port in self.graph.users_of(old):
            self._reconnect(dst, port, new)

    def _delete(self, node: Node) -> None:
        g = self.graph.g
        edges = list(g.in_edges(node.id, keys=True, data=True)) + list(
            g.out_edges(node.id, keys=True, data=True))
        g.remove_node(node.id)

        def undo():
            g.add_node(node.id, node=node)
            for s, d, k, data in edges:
                g.add_edge(s, d, k, **data)

        self._undo.append(undo)
        if node.name:
            self._state.retired.add(node.name)
        self._collect(_slots_read(node))

    def _collect(self, paths: list[str]) -> None:
        """Drop the given slots (and what they derive from) once no node reads them."""
        table = self.graph.params
        live = self.graph.live_slots()
        order = list(table.slots)
        stack = list(paths)
        while stack:
            path = stack.pop()
            if path in live or path not in table:
                continue
            slot = table.slots.pop(path)
            self._state.retired.add(path)
            self._undo.append(lambda p=path, s=slot: _reinsert(table.slots, order, p, s))
            if slot.derive is not None:
                stack.extend(slot.derive.inputs.values())

    def _add(self, op_name: str, wires: list[Wire], attrs: dict | None, name: str | None,
             params: dict[str, str] | None, kw: dict, reuse: dict | None = None) -> Node:
        op = resolve_op(op_name)
        bound = bind_attrs(op, attrs)
        try:
            n_in, _ = op.arity(bound)
        except OpTypeError as err:
            raise IRVerifyError(f"`{op.name}`: {err.message}") from None
        if len(wires) != n_in:
            raise IRVerifyError(f"`{op.name}` takes {n_in} inputs, got {len(wires)}")
        in_types = [self.graph.type_of(w) for w in wires]
        try:
            out_types = op.infer(bound, in_types)
            specs = op.params(bound, in_types)
        except OpTypeError as err:
            raise IRVerifyError(f"`{op.name}` on {', '.join(map(str, in_types))}: "
                                f"{err.message}") from None
        name = name or self.graph.fresh_name(op.surface, avoid=self._state.retired)
        table = self.graph.params
        slots: dict[str, str] = {}
        for pname, spec in specs.items():
            if params and pname in params:
                slots[pname] = params[pname]
                continue
            if reuse and pname in reuse and table[reuse[pname]].shape == spec.shape:
                slots[pname] = reuse[pname]
                continue
            path = self._fresh_path(f"{name}/{pname}")
            self._add_slot(ParamSlot(path, spec.shape, spec.dtype, spec.init,
                                     dict(spec.init_args)))
            slots[pname] = path
        node = self.graph.add_node(op.name, [], tuple(out_types), bound, params=slots,
                                   name=name, **kw)
        g, graph = self.graph.g, self.graph

        def undo():
            g.remove_node(node.id)
            graph._next_id = node.id  # ids stay dense, so a refused edit leaves no trace

        self._undo.append(undo)
        for port, w in enumerate(wires):
            self._connect(w, node.id, port)
        return node

    def _fresh_path(self, path: str) -> str:
        table, k, out = self.graph.params, 1, path
        while out in table or out in self._state.retired:
            out = f"{path}_{k}"
            k += 1
        return out

    def _add_slot(self, slot: ParamSlot) -> None:
        table = self.graph.params
        table.add(slot)
        self._undo.append(lambda: table.slots.pop(slot.path, None))

    def _check_unary(self, node: Node) -> None:
        ins = self.graph.inputs_of(node.id)
        if len(ins) != 1 or len(node.out_types) != 1:
            raise IRVerifyError(f"`{node.op}` is not a 1-in/1-out op; use `add` and `rewire`")

    def _retype(self, start: list[int], own_params: set[int] = frozenset()) -> None:
        """Re-infer ``start`` and, while types change, everything downstream (in topological
        order); a node's own slots are reshaped only for nodes in ``own_params``."""
        g = self.graph.g
        if not start:
            return
        order = {n: i for i, n in enumerate(nx.topological_sort(g))}
        heap = [(order[n], n) for n in set(start)]
        heapq.heapify(heap)
        seen: set[int] = set()
        while heap:
            _, nid = heapq.heappop(heap)
            if nid in seen:
                continue
            seen.add(nid)
            node = self.graph.node(nid)
            new_types = self._infer(node, nid in own_params)
            if new_types is None:
                continue
            if tuple(new_types) == node.out_types:
                continue
            read = sorted({data["src_port"] for _, _, data in g.out_edges(nid, data=True)})
            if read and read[-1] >= len(new_types):
                raise IRVerifyError(f"{_where(node)} would have {len(new_types)} output(s), but "
                                    f"its output {read[-1]} is read")
            self._set(node, "out_types", tuple(new_types))
            for _, dst, key, data in list(g.out_edges(nid, keys=True, data=True)):
                self._set_edge_type(data, new_types[data["src_port"]])
                heapq.heappush(heap, (order[dst], dst))

    def _set_edge_type(self, data: dict, t) -> None:
        old = data["type"]
        data["type"] = t
        self._undo.append(lambda: data.__setitem__("type", old))

    def _infer(self, node: Node, own_params: bool):
        ins = self.graph.inputs_of(node.id)
        in_types = [self.graph.type_of(w) for w in ins]
        if node.op == "io.output":
            want = self.graph.declared_outputs or []
            for k, t in enumerate(in_types):
                if k < len(want) and not t.same_as(want[k]):
                    raise IRVerifyError(f"the model's output {k} would become {t}, but the "
                                        f"graph is declared to return {want[k]}")
            return None
        if node.op == "io.input":
            return None
        op = OPS.get(node.op)
        if op is None:
            from .ops.recursion import VERIFIERS

            if node.op in VERIFIERS:
                # A control node (fold, map, scan, batched) keeps its type: its region and
                # attributes were built for its inputs. Its verifier says whether the new
                # input types still fit them.
                VERIFIERS[node.op](self.graph, node)
                return None
            raise IRVerifyError(f"{_where(node)}: cannot re-type unknown op `{node.op}`")
        try:
            n_in, _ = op.arity(node.attrs)
        except OpTypeError as err:
            raise IRVerifyError(f"{_where(node)}: {err.message}") from None
        if len(in_types) != n_in:
            raise IRVerifyError(f"{_where(node)}: expected {n_in} inputs, got {len(in_types)}")
        try:
            out_types = op.infer(node.attrs, in_types)
            specs = op.params(node.attrs, in_types)
        except OpTypeError as err:
            raise IRVerifyError(f"{_where(node)}: {err.message}") from None
        check_sizes(node, out_types)
        table = self.graph.params
        for pname, path in node.params.items():
            spec = specs.get(pname)
            if spec is None or table[path].shape == spec.shape:
                continue
            readers = self.graph.slot_readers(path)
            if own_params and len(readers) == 1 and table[path].is_root:
                self._set(table[path], "shape", spec.shape)
                continue
            raise IRVerifyError(f"{_where(node)}: @{path} has shape {table[path].shape}, "
                                f"`{pname}` needs {spec.shape}"
                                + (_why_not_resized(table[path], readers) if own_params else ""))
        if set(specs) != set(node.params):
            new = {k: v for k, v in node.params.items() if k in specs}
            for pname in specs:
                if pname not in new:
                    if not own_params:
                        raise IRVerifyError(f"{_where(node)}: needs a new parameter `{pname}`")
                    spec = specs[pname]
                    path = self._fresh_path(f"{node.name}/{pname}")
                    self._add_slot(ParamSlot(path, spec.shape, spec.dtype, spec.init,
                                             dict(spec.init_args)))
                    new[pname] = path
            released = [v for k, v in node.params.items() if k not in specs]
            _refuse_releasing_views(table, node, released)
            self._set(node, "params", new)
            self._collect(released)
        return out_types


def _check_owners(region: Graph) -> None:
    """An edit inside a region must keep the control nodes around it valid (a fold's cell
    still returns its state type): run their verifiers, innermost first."""
    from .ops import control  # noqa: F401  (registers the ctl.* verifiers)
    from .ops.recursion import VERIFIERS

    while region.parent is not None:
        outer = region.parent
        owner = next(outer.node(i) for i in outer.g.nodes if outer.node(i).region is region)
        check = VERIFIERS.get(owner.op)
        if check is not None:
            check(outer, owner)
        region = outer


def _refuse_releasing_views(table, node: Node, paths: list[str]) -> None:
    """A scanned body's per-iteration views stay while their stack does: an edit that
    would stop reading one is refused."""
    for path in paths:
        derive = table[path].derive
        if derive is not None and derive.kind == "scan_slice":
            raise IRVerifyError(
                f"{_where(node)}: @{path} is a per-iteration view of the stacked "
                f"@{derive.inputs['stack']}, which an edit does not remove; edit the "
                "graph before `repeat-to-scan`")


def _names(params: list[str] | str) -> list[str]:
    """Parameter names given to tie/freeze: a list, or one name as a string."""
    if isinstance(params, str):
        return [params]
    names = list(params)
    bad = [p for p in names if not isinstance(p, str)]
    if bad:
        raise IRVerifyError(f"parameter names are strings (like \"w\"), got {bad[0]!r}")
    return names


def _slots_read(node: Node) -> list[str]:
    """The slot paths ``node`` reads, with those of the nodes in its region (recursively)."""
    paths = list(node.params.values())
    if node.region is not None:
        for inner in node.region.nodes():
            paths.extend(_slots_read(inner))
    return paths


def _why_not_resized(slot: ParamSlot, readers: list) -> str:
    """Why an edited node's slot cannot simply take its new shape."""
    if not slot.is_root:
        sources = ", ".join("@" + q for q in slot.derive.inputs.values())
        return f": it is derived ({slot.derive.kind}) from {sources}, which an edit does not resize"
    if len(readers) > 1:
        return f": {len(readers)} nodes read it (tied)"
    return ""


def _reinsert(slots: dict, order: list[str], path: str, slot: ParamSlot) -> None:
    """Put a slot back at its old position (the table's order fixes ``init``)."""
    slots[path] = slot
    rank = {p: i for i, p in enumerate(order)}
    items = sorted(slots.items(), key=lambda kv: rank.get(kv[0], len(order)))
    slots.clear()
    slots.update(items)
