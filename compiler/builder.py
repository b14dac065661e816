"""Emission of morphisms into a ``Graph``: naming, parameter slots, typing errors.

The builder is the only place that turns an op application into a node. It
names each instance by its path in the spec (``fourier_layer_1/dense_0``),
creates (or, for tied copies, reuses) its parameter slots, runs the op's
typing rule and turns a rejection into a ``SpecError`` at the call's span.
"""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

from ..errors import Span, SpecError
from ..limits import MAX_GRAPH_NODES
from .dims import SizeTooComplex
from .ir import Graph, ParamSlot, Wire
from .ops.registry import OpDef, OpTypeError
from .reparam import apply_reparams
from .types import size_problem
from .values import ReparamSpec, RepeatM


class Builder:
    def __init__(self, graph: Graph):
        self.graph = graph
        self._scope: list[str] = []
        self._counters: dict[tuple[str, ...], Counter] = {}
        self._reuse_params = 0  # > 0 while emitting tied copies
        self._repeat: list[tuple[int, int]] = []
        self._next_repeat = 0
        self._reparams: list[ReparamSpec] = []
        self._reparam_uses: list[list[int]] = []
        self.instances: dict[str, list[str]] = {}  # instance path -> its slot paths

    # -- naming -----------------------------------------------------------------
    def _fresh(self, base: str) -> str:
        counter = self._counters.setdefault(tuple(self._scope), Counter())
        k = counter[base]
        counter[base] += 1
        return f"{base}_{k}"

    def path(self, name: str) -> str:
        return "/".join([*self._scope, name])

    @contextmanager
    def scope(self, base: str, explicit: bool = False, span: Span | None = None):
        name = base if explicit else self._fresh(base)
        self._scope.append(name)
        try:
            yield name
        finally:
            self._scope.pop()

    @contextmanager
    def reparam(self, spec: ReparamSpec):
        """Apply ``spec`` to every parameterised op emitted inside; yields a one-item list
        counting those ops (a clause that reaches none is an error of the spec)."""
        self._reparams.append(spec)
        self._reparam_uses.append([0])
        try:
            yield self._reparam_uses[-1]
        finally:
            self._reparams.pop()
            self._reparam_uses.pop()

    # -- repetition ---------------------------------------------------------------
    def emit_repeat(self, rep: RepeatM, ins: list[Wire]) -> list[Wire]:
        """Unroll ``f ^ n``; copies are tagged in ``node.meta['repeat']`` for later passes."""
        group = self._next_repeat
        self._next_repeat += 1
        key = tuple(self._scope)
        # The name counters of this scope and of every scope under it (a `def` called in
        # the body opens `blk_0/…`), as they were before the first copy.
        saved = {k: Counter(c) for k, c in self._counters.items() if k[:len(key)] == key}
        for i in range(rep.times):
            if rep.tied and i > 0:
                # Same names again, so the copy finds (and shares) the first copy's slots.
                for k in [k for k in self._counters if k[:len(key)] == key]:
                    del self._counters[k]
                self._counters.update({k: Counter(c) for k, c in saved.items()})
                self._reuse_params += 1
            self._repeat.append((group, i))
            start = self.graph._next_id  # ids count every node made, regions included
            try:
                ins = rep.body.emit(self, ins)
            finally:
                self._repeat.pop()
                if rep.tied and i > 0:
                    self._reuse_params -= 1
            if i == 0:
                self._check_projected_size(rep, self.graph._next_id - start)
        return ins

    def _check_projected_size(self, rep: RepeatM, per_copy: int) -> None:
        """Refuse ``f ^ n`` whose unrolled copies would pass ``MAX_GRAPH_NODES``, before
        unrolling them (nested repetitions multiply)."""
        total = self.graph._next_id + per_copy * (rep.times - 1)
        if total > MAX_GRAPH_NODES:
            raise SpecError(
                f"`^ {rep.times}` would unroll to about {total:,} nodes; a graph holds at most "
                f"{MAX_GRAPH_NODES:,}", rep.span,
                f"one copy is {per_copy:,} node(s); lower the count, or fold a recurrence "
                "with `fold`")

    # -- regions (fold, map) ---------------------------------------------------------
    def emit_control(self, op_name, base, attrs, ins, body, span, region_ins, out_types,
                     params) -> list[Wire]:
        """Emit a control node: its region is ``body`` built on fresh inputs of the types
        ``region_ins()`` gives, in a sub-graph sharing this graph's parameter table; the
        region's nodes are named under the node's own instance name (``fold_0/dense_0``)."""
        parent = self.graph
        try:
            inner = region_ins()
        except (OpTypeError, SizeTooComplex) as err:
            raise SpecError(err.message, span, err.hint) from None
        with self.scope(base) as name:
            instance = "/".join(self._scope)
            region = Graph(name, params=parent.params)
            # Node ids unique across the parent and its regions: the printer names values
            # by id, and random ops fold the id into their key.
            region._next_id = parent._next_id
            wires = [region.add_input(t, f"in{i}", span) for i, t in enumerate(inner)]
            self.graph = region
            try:
                outs = body.emit(self, wires)
            finally:
                self.graph = parent
            region.set_outputs(outs, span)
            parent._next_id = max(parent._next_id, region._next_id)
            try:
                types = out_types(region.output_types)
                specs = params()
            except OpTypeError as err:
                raise SpecError(err.message, span, err.hint) from None
            slots: dict[str, str] = {}
            for pname, spec in specs.items():
                path = f"{instance}/{pname}"
                if path not in parent.params.slots:
                    parent.params.add(ParamSlot(path, spec.shape, spec.dtype, spec.init,
                                                dict(spec.init_args)))
                elif not self._reuse_params:
                    raise SpecError(f"two layers are both named `{instance}`", span)
                slots[pname] = path
        meta = {"repeat": tuple(self._repeat)} if self._repeat else {}
        node = parent.add_node(op_name, ins, tuple(types), attrs, params=slots, name=instance,
                               span=span, region=region, meta=meta)
        return [(node.id, i) for i in range(len(types))]

    # -- ops ------------------------------------------------------------------------
    def emit_op(
        self,
        op: OpDef,
        attrs: dict,
        ins: list[Wire],
        span: Span | None,
        name: str | None = None,
    ) -> list[Wire]:
        graph = self.graph
        in_types = [graph.type_of(w) for w in ins]
        try:
            out_types = op.infer(attrs, in_types)
            specs = op.params(attrs, in_types)
        except (OpTypeError, SizeTooComplex) as err:
            raise SpecError(err.message, span, err.hint) from None
        for t in out_types:
            # One check for every op: a size argument that went negative or zero (often
            # through an override like `-s width=0`) must not reach the IR as f32[-3].
            problem = size_problem(t.shape)
            if problem:
                raise SpecError(
                    f"`{op.surface}` would produce {t}: {problem}",
                    span, "check the arguments (and any -s overrides) that set its sizes")
        instance = self.path(name or self._fresh(op.surface))
        slots: dict[str, str] = {}
        for pname, spec in specs.items():
            path = f"{instance}/{pname}"
            existing = graph.params.slots.get(path)
            if existing is not None:
                if not self._reuse_params:
                    raise SpecError(
                        f"two layers are both named `{instance}`",
                        span,
                        "give each `as` name once; to share weights use `with tie(\"name\")`",
                    )
                if existing.shape != spec.shape:
                    raise SpecError(
                        f"tied copies of `{instance}` disagree on `{pname}`: "
                        f"{existing.shape} vs {spec.shape}",
                        span,
                        "tied repetition needs a body whose output type equals its input type",
                    )
            else:
                graph.params.add(
                    ParamSlot(path, spec.shape, spec.dtype, spec.init, dict(spec.init_args))
                )
            slots[pname] = path
        if slots and self._reparams:
            for uses in self._reparam_uses:
                uses[0] += 1
            slots = apply_reparams(graph.params, op, instance, slots, self._reparams,
                                   self.instances, span, reuse=bool(self._reuse_params))
        if slots:
            self.instances[instance] = list(slots.values())
        meta = {"repeat": tuple(self._repeat)} if self._repeat else {}
        node = graph.add_node(
            op.name, ins, tuple(out_types), attrs, params=slots, name=instance, span=span,
            meta=meta,
        )
        return [(node.id, i) for i in range(len(out_types))]
