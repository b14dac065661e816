"""Lowering of the ops passes introduce: ``ctl.scan``, ``ctl.batched``, ``ctl.const``;
the derived-slot rules they use (``scan_slice``, ``fuse_dense_w``/``_b``) and the
``stacked`` initializer.

``ctl.scan`` is one ``lax.scan`` whose body runs the region; the stacked root
slots are scanned over, and at each iteration the region's *view* slots are
bound to the current rows (``ctx.slots`` is replaced for the body), so every
rule inside the region reads its per-copy parameters without knowing about the
scan. ``ctl.batched`` ``vmap``s the batched op's own lowering rule over the
stacked parameters (and over the stacked inputs unless they are shared), then
sums or concatenates the results when the node has a ``reduce``; batched dense
layers take a direct path that makes them one GEMM (``_dense_batched``).
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
from jax import lax

from ...compiler.ops.control import inner_attrs
from ...compiler.types import NUMPY_DTYPE
from .params import _INITS, DERIVE, derive_rule, register_init
from .rules import RULES, rule


@rule("ctl.scan")
def _scan(node, ins, p, ctx):
    from .model import plan, run_plan  # model imports the rule table; import late

    steps = plan(node.region)
    views = {view: ctx.slots[stack] for view, stack in node.attrs["stacked"]}
    index = jnp.arange(node.attrs["length"], dtype=jnp.int32)
    later = _derived_from_views(node.region.params, set(views))

    def body(carry, xs):
        i, rows = xs
        slots = {**ctx.slots, **rows}
        for slot in later:  # e.g. fuse-dense's product of two views: from this row's values
            d = slot.derive
            slots[slot.path] = DERIVE[d.kind]({k: slots[v] for k, v in d.inputs.items()},
                                              d.attrs, slot.shape)
        key = None if ctx.key is None else jax.random.fold_in(ctx.key, i)
        outs = run_plan(steps, slots, list(carry), replace(ctx, slots=slots, key=key))
        return tuple(outs), None

    final, _ = lax.scan(body, tuple(ins), (index, views))
    return list(final)


def _derived_from_views(table, views: set[str]) -> list:
    """Derived slots that read a view slot, directly or through another derived slot, in
    table order (a derivation only reads earlier slots): ``resolve`` computed them from
    the views' values outside the loop, so the body must compute them again per row."""
    out, tainted = [], set(views)
    for slot in table:
        if slot.derive is not None and slot.path not in views and \
                any(v in tainted for v in slot.derive.inputs.values()):
            out.append(slot)
            tainted.add(slot.path)
    return out


@rule("ctl.batched")
def _batched(node, ins, p, ctx):
    a = node.attrs
    k, reduce = a["k"], a.get("reduce")
    if a["op"] == "nn.dense":
        fast = _dense_batched(ins, p, k, a["shared"], reduce, a.get("reduce_axis"),
                              node.out_types[0].rank)
        if fast is not None:
            return fast
    outs = _each_instance(node, ins, p, ctx)
    if reduce == "sum":
        return [_sum(outs)]
    if reduce == "concat":
        return [jnp.concatenate(outs, axis=a["reduce_axis"])]
    return outs


def _each_instance(node, ins, p, ctx) -> list:
    """The k instances' outputs, in order: the op's own rule ``vmap``ped over the
    stacked parameters (and over the stacked inputs unless they are shared)."""
    a = node.attrs
    k = a["k"]
    # A reduced node has one output, the sum or concatenation of single-output instances;
    # its type stands in for an instance's (same rank; rules read no sizes from it).
    n_out = 1 if a.get("reduce") else len(node.out_types) // k
    member = replace(node, op=a["op"], attrs=inner_attrs(a), out_types=node.out_types[:n_out])
    inner = RULES[a["op"]]
    if a["shared"]:
        outs = jax.vmap(lambda ps: tuple(inner(member, list(ins), ps, ctx)))(p)
    else:
        n_in = len(ins) // k
        stacked = tuple(jnp.stack([ins[i * n_in + r] for i in range(k)]) for r in range(n_in))
        outs = jax.vmap(lambda xs, ps: tuple(inner(member, list(xs), ps, ctx)))(stacked, p)
    return [outs[r][i] for i in range(k) for r in range(n_out)]


def _sum(xs: list):
    # Adds of k slices fuse into one elementwise kernel; XLA:CPU's reduction over a
    # leading stacked axis (``jnp.sum(stack, 0)``) measured several times slower.
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


def _rows(stack, k: int) -> list:
    # One split, whose gradient is one concatenation; `stack[i]` k times would give k
    # gradients padded to the whole stack and added (k² memory traffic).
    return [jnp.squeeze(r, 0) for r in jnp.split(stack, k)]


# Per-instance weight size above which, on CPU, batched dense layers are computed one GEMM
# per instance unless they share their input and are summed or concatenated (measured on
# a 2-core CPU: batched won at 32×32, lost at 64×64).
CPU_UNBATCHED_WEIGHT = 32 * 32


def _dense_batched(ins, p, k, shared, reduce, axis, rank):
    """k dense layers as one GEMM, where their arrangement allows:

    - shared input, separate outputs or concat on the last axis: ``x·[W₀ | W₁ | …]``;
    - shared input, sum: ``x·(Σₖ Wₖ) + Σₖ bₖ`` (linearity);
    - separate inputs, sum: ``[x₀ | x₁ | …]·[W₀; W₁; …] + Σₖ bₖ`` (block matrix).

    ``None`` for the other arrangement (separate inputs, separate or concatenated
    outputs), which the generic ``vmap`` path computes as one batched GEMM.

    On CPU, instances whose weights exceed ``CPU_UNBATCHED_WEIGHT`` elements run one
    GEMM each (on rows of the stacked weights: same values, same layout) unless they
    share their input and are summed or concatenated: a GEMM that large is
    compute-bound there, and the block, batched and wide forms of the other
    arrangements measured 0.8–0.9× as fast (docs/BENCHMARKS.md, MLP experts), while a
    shared sum or concat measured within a few percent of separate GEMMs or faster.
    """
    w, b = p["w"], p.get("b")
    _, d, o = w.shape
    if (not shared or reduce is None) and d * o > CPU_UNBATCHED_WEIGHT and \
            jax.default_backend() == "cpu":
        xs = [ins[0]] * k if shared else ins
        ws = _rows(w, k)
        bs = [0] * k if b is None else _rows(b, k)
        ys = [x @ wi + bi for x, wi, bi in zip(xs, ws, bs)]
        if reduce == "sum":
            return [_sum(ys)]
        return [jnp.concatenate(ys, axis=axis)] if reduce == "concat" else ys
    if reduce == "sum":
        x = ins[0] if shared else jnp.concatenate(ins, axis=-1)
        y = x @ (_sum(_rows(w, k)) if shared else w.reshape(k * d, o))
        return [y if b is None else y + _sum(_rows(b, k))]
    if not shared or (reduce == "concat" and axis not in (-1, rank - 1)):
        return None
    # x·[W₀ | W₁ | … ] — one GEMM forward and backward, where vmap would leave a batched dot.
    y = ins[0] @ jnp.transpose(w, (1, 0, 2)).reshape(d, k * o)
    if b is not None:
        y = y + b.reshape(k * o)
    if reduce == "concat":
        return [y]
    y = y.reshape(*y.shape[:-1], k, o)
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
