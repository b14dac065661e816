"""Lowering of the region ops: ``ctl.fold`` -> ``lax.scan``, ``ctl.map`` -> ``jax.vmap``.

The region is planned once per trace and run with ``run_plan`` inside the scan
body (or the vmapped function), reading parameters from ``ctx.slots``: a
region's nodes share the parent's parameter table, so the same weights are used
at every step. Random ops inside a region get a key folded with the step index.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
from jax import lax

from ...compiler.types import NUMPY_DTYPE
from .rules import rule


def _plan(region):
    from .model import plan  # model imports the rule table; import late

    return plan(region)


def _run(steps, ctx, inputs):
    from .model import run_plan

    return run_plan(steps, ctx.slots, inputs, ctx)


@rule("ctl.fold")
def _fold(node, ins, p, ctx):
    steps = _plan(node.region)
    attrs = node.attrs
    k = len(attrs["state"])
    state_dtype = jnp.dtype(NUMPY_DTYPE[node.region.input_types[0].dtype])
    if attrs["init"] == "learned":
        init = tuple(p[f"s{i}"] for i in range(k))
    else:
        init = tuple(jnp.zeros((h,), state_dtype) for h in attrs["state"])
    xs = ins[0]
    n_steps = xs.shape[0]
    emits = len(node.region.output_wires) == k + 1

    def body(carry, inp):
        t, x_t = inp
        step_ctx = ctx if ctx.key is None else replace(ctx, key=jax.random.fold_in(ctx.key, t))
        outs = _run(steps, step_ctx, [*carry, x_t])
        return tuple(outs[:k]), (outs[k] if emits else None)

    t_index = jnp.arange(n_steps, dtype=jnp.int32)
    final, ys = lax.scan(body, init, (t_index, xs), reverse=attrs["reverse"])
    return [ys] if emits else list(final)


@rule("ctl.map")
def _map(node, ins, p, ctx):
    steps = _plan(node.region)
    in_axis = [a % x.ndim if a < 0 else a for a, x in [(node.attrs["axis"], x) for x in ins]]
    out_axis = in_axis[0]
    size = ins[0].shape[in_axis[0]]

    if ctx.key is None:
        def one(*xs):
            return tuple(_run(steps, ctx, list(xs)))

        return list(jax.vmap(one, in_axes=tuple(in_axis), out_axes=out_axis)(*ins))

    keys = jax.random.split(jax.random.fold_in(ctx.key, node.id), size)

    def one_keyed(key, *xs):
        return tuple(_run(steps, replace(ctx, key=key), list(xs)))

    return list(jax.vmap(one_keyed, in_axes=(0, *in_axis), out_axes=out_axis)(keys, *ins))
