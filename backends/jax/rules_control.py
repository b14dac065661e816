"""Lowering of the ops passes introduce: ``ctl.scan``, ``ctl.batched``, ``ctl.const``;
the derived-slot rules they use (``scan_slice``, ``fuse_dense_w``/``_b``) and the
``stacked`` initializer.

``ctl.scan`` is one ``lax.scan`` whose body runs the region; the stacked root
slots are scanned over, and at each iteration the region's *view* slots are
bound to the current rows (``ctx.slots`` is replaced for the body), so every
rule inside the region reads its per-copy parameters without knowing about the
scan. ``ctl.batched`` ``vmap``s the batched op's own lowering rule over the
stacked parameters (and over the stacked inputs unless they are shared), so a
dense batch is a single contraction.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
from jax import lax

from ...compiler.ops.control import inner_attrs
from ...compiler.types import NUMPY_DTYPE
from .params import _INITS, derive_rule, register_init
from .rules import RULES, rule


@rule("ctl.scan")
def _scan(node, ins, p, ctx):
    from .model import plan, run_plan  # model imports the rule table; import late

    steps = plan(node.region)
    views = {view: ctx.slots[stack] for view, stack in node.attrs["stacked"]}
    index = jnp.arange(node.attrs["length"], dtype=jnp.int32)

    def body(carry, xs):
        i, rows = xs
        slots = {**ctx.slots, **rows}
        key = None if ctx.key is None else jax.random.fold_in(ctx.key, i)
        outs = run_plan(steps, slots, list(carry), replace(ctx, slots=slots, key=key))
        return tuple(outs), None

    final, _ = lax.scan(body, tuple(ins), (index, views))
    return list(final)


@rule("ctl.batched")
def _batched(node, ins, p, ctx):
    a = node.attrs
    k = a["k"]
    n_out = len(node.out_types) // k
    member = replace(node, op=a["op"], attrs=inner_attrs(a), out_types=node.out_types[:n_out])
    inner = RULES[a["op"]]
    if a["op"] == "nn.dense" and a["shared"]:
        return _dense_shared(ins[0], p, k)
    if a["shared"]:
        outs = jax.vmap(lambda ps: tuple(inner(member, list(ins), ps, ctx)))(p)
    else:
        n_in = len(ins) // k
        stacked = tuple(jnp.stack([ins[i * n_in + r] for i in range(k)]) for r in range(n_in))
        outs = jax.vmap(lambda xs, ps: tuple(inner(member, list(xs), ps, ctx)))(stacked, p)
    return [outs[r][i] for i in range(k) for r in range(n_out)]


def _dense_shared(x, p, k):
    # k dense layers on one input are one matmul against the weights laid side by side:
    # x·[W₀ | W₁ | … ] — one GEMM forward and backward, where vmap would leave a batched dot.
    w = p["w"]
    _, d, o = w.shape
    y = x @ jnp.transpose(w, (1, 0, 2)).reshape(d, k * o)
    y = y.reshape(*y.shape[:-1], k, o)
    if "b" in p:
        y = y + p["b"]
    return [y[..., i, :] for i in range(k)]


@rule("ctl.const")
def _const(node, ins, p, ctx):
    t = node.out_types[0]
    return [jnp.asarray(node.attrs["value"], dtype=NUMPY_DTYPE[t.dtype]).reshape(t.shape)]


@derive_rule("scan_slice")
def _scan_slice(inputs: dict, attrs: dict, shape):
    return inputs["stack"][attrs["index"]]


@derive_rule("fuse_dense_w")
def _fuse_w(inputs: dict, attrs: dict, shape):
    return inputs["w1"] @ inputs["w2"]


@derive_rule("fuse_dense_b")
def _fuse_b(inputs: dict, attrs: dict, shape):
    b = inputs["b1"] @ inputs["w2"] if "b1" in inputs else jnp.zeros(shape, inputs["w2"].dtype)
    return b + inputs["b2"] if "b2" in inputs else b


def _stacked(args: dict):
    base = _INITS[args["init"]](args.get("args", {}))

    def init(key, shape, dtype=jnp.float32):
        keys = jax.random.split(key, shape[0])
        return jax.vmap(lambda k: base(k, tuple(shape[1:]), dtype))(keys)

    return init


register_init("stacked", _stacked)
