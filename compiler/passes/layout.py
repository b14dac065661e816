"""Parameter layout after passes: which root slots were stacked into which.

Passes that stack per-copy parameters (``repeat-to-scan``, ``batch-parallel``)
record each stacking here, so a parameter pytree can be moved between the
layout of the spec as written (``block_0/dense_0/w``, ``block_1/dense_0/w``, …)
and the optimized one (``scan/block_0/dense_0/w`` of shape ``[n, …]``). The
record hangs off the graph's ``ParamTable`` as ``table.layout``, so it travels
with the graph (and its copies) into ``Model``.

    layout = graph.params.layout
    opt = layout.to_optimized(graph.params, params_as_written)   # stack
    back = layout.to_original(opt)                               # unstack

``Model.init`` uses ``layout.init``: it initialises the table *as written* and
stacks, so an optimized model starts from exactly the values the unoptimized
model would (slot i draws from ``fold_in(key, i)`` of the original order).
"""

from __future__ import annotations

import copy as _copy
from dataclasses import dataclass, field

from ..ir import ParamTable


@dataclass
class ParamLayout:
    """``original``: the table before any pass; ``stacks``: ``(new, (old₀, …))`` in order."""

    original: ParamTable
    stacks: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def __deepcopy__(self, memo):
        # The original table is never edited: share it between copies of the graph.
        return ParamLayout(self.original, list(self.stacks))

    def to_optimized(self, table: ParamTable, params: dict) -> dict:
        """A pytree in the original layout -> the layout of ``table`` (extra entries dropped)."""
        import jax.numpy as jnp

        from ...backends.jax.params import flatten, nest

        flat = dict(flatten(params))
        for new, olds in self.stacks:
            if all(o in flat for o in olds):
                flat[new] = jnp.stack([flat.pop(o) for o in olds])
        return nest({s.path: flat[s.path] for s in table.roots() if s.path in flat})

    def to_original(self, params: dict) -> dict:
        """A pytree in the optimized layout -> the spec's layout (slots a pass removed as dead
        stay missing)."""
        from ...backends.jax.params import flatten, nest

        flat = dict(flatten(params))
        for new, olds in reversed(self.stacks):
            if new in flat:
                stacked = flat.pop(new)
                for i, o in enumerate(olds):
                    flat[o] = stacked[i]
        return nest(flat)

    def init(self, table: ParamTable, key) -> dict:
        """Initial parameters equal to the unoptimized model's, in the optimized layout.

        Slots that edits made after the passes added (or reshaped) are not in the original
        table; they are initialised on their own, from a key folded past the original ones.
        """
        import jax

        from ...backends.jax.params import flatten, init_params, nest

        flat = flatten(self.to_optimized(table, init_params(self.original, key)))
        fresh = ParamTable()
        for slot in table.roots():
            value = flat.get(slot.path)
            if value is None or tuple(value.shape) != tuple(slot.shape):
                flat.pop(slot.path, None)
                fresh.add(slot)
        if len(fresh):
            extra_key = jax.random.fold_in(key, len(self.original) + 1)
            flat.update(flatten(init_params(fresh, extra_key)))
        return nest(flat)


def layout_of(table: ParamTable) -> ParamLayout:
    """The table's layout record, created (with a snapshot of the table) on first use."""
    layout = getattr(table, "layout", None)
    if layout is None:
        layout = ParamLayout(snapshot(table))
        table.layout = layout
    return layout


def snapshot(table: ParamTable) -> ParamTable:
    """A copy of the table whose slots later edits cannot reach."""
    out = ParamTable()
    for slot in table:
        out.add(_copy.copy(slot))
    return out
