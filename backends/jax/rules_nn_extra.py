"""Lowering rules for the sequence-model ops of ``compiler/ops/nn_extra.py``.

Rules see one example (no batch axis). Dropout draws from ``ctx.key`` (one key
per example, split by ``Model``), folded with the node id so two dropout
layers never share a mask.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ...errors import LoweringError
from .rules import rule


@rule("nn.embedding")
def _embedding(node, ins, p, ctx):
    return [jnp.take(p["table"], ins[0], axis=0)]


@rule("nn.attention")
def _attention(node, ins, p, ctx):
    q, k, v = ins
    heads, causal = node.attrs["heads"], node.attrs["causal"]
    qp, kp, vp = q @ p["wq"], k @ p["wk"], v @ p["wv"]
    if "bq" in p:
        qp, kp, vp = qp + p["bq"], kp + p["bk"], vp + p["bv"]
    t, d = qp.shape
    s = kp.shape[0]
    dh = d // heads
    # [T, d] -> [heads, T, dh]
    qh = qp.reshape(t, heads, dh).transpose(1, 0, 2)
    kh = kp.reshape(s, heads, dh).transpose(1, 0, 2)
    vh = vp.reshape(s, heads, dh).transpose(1, 0, 2)
    logits = jnp.einsum("htd,hsd->hts", qh, kh) / jnp.sqrt(jnp.float32(dh)).astype(qh.dtype)
    if causal:
        mask = jnp.arange(t)[:, None] >= jnp.arange(s)[None, :]
        logits = jnp.where(mask[None], logits, jnp.finfo(logits.dtype).min)
    weights = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum("hts,hsd->htd", weights, vh).transpose(1, 0, 2).reshape(t, d)
    out = out @ p["wo"]
    if "bo" in p:
        out = out + p["bo"]
    return [out]


@rule("nn.softmax")
def _softmax(node, ins, p, ctx):
    return [jax.nn.softmax(ins[0], axis=node.attrs["axis"])]


@rule("nn.log_softmax")
def _log_softmax(node, ins, p, ctx):
    return [jax.nn.log_softmax(ins[0], axis=node.attrs["axis"])]


@rule("nn.dropout")
def _dropout(node, ins, p, ctx):
    x, rate = ins[0], node.attrs["rate"]
    if not ctx.train or rate == 0.0:
        return [x]
    if ctx.key is None:
        raise LoweringError(
            f"`dropout` (node `{node.name}`) runs in training mode and needs a random key: "
            "call the model as `model(params, x, key=jax.random.key(0))`"
        )
    keep = jax.random.bernoulli(jax.random.fold_in(ctx.key, node.id), 1.0 - rate, x.shape)
    return [jnp.where(keep, x / jnp.asarray(1.0 - rate, x.dtype), jnp.zeros_like(x))]


def sinusoidal_table(length: int, d: int, base: float, dtype) -> jax.Array:
    """PE[t, 2i] = sin(t / base^(2i/d)), PE[t, 2i+1] = cos(t / base^(2i/d))."""
    pos = jnp.arange(length, dtype=jnp.float32)[:, None]
    freq = jnp.exp(jnp.arange(0, d, 2, dtype=jnp.float32) * (-jnp.log(jnp.float32(base)) / d))
    angle = pos * freq[None, :]
    table = jnp.stack([jnp.sin(angle), jnp.cos(angle)], axis=-1).reshape(length, d)
    return table.astype(dtype)


@rule("nn.sinusoidal_pe")
def _sinusoidal_pe(node, ins, p, ctx):
    x = ins[0]
    return [x + sinusoidal_table(x.shape[0], x.shape[1], node.attrs["base"], x.dtype)]


@rule("nn.pos_embedding")
def _pos_embedding(node, ins, p, ctx):
    x = ins[0]
    if x.shape[0] > node.attrs["max_len"]:
        raise LoweringError(
            f"`pos_embedding(max_len={node.attrs['max_len']})` (node `{node.name}`) got a "
            f"sequence of length {x.shape[0]}"
        )
    return [x + p["table"][: x.shape[0]]]


def _axes(node):
    a = node.attrs["axis"]
    return tuple(a) if isinstance(a, (tuple, list)) else a


@rule("reduce.mean")
def _mean(node, ins, p, ctx):
    return [jnp.mean(ins[0], axis=_axes(node), keepdims=node.attrs["keepdims"])]


@rule("reduce.sum")
def _sum(node, ins, p, ctx):
    return [jnp.sum(ins[0], axis=_axes(node), keepdims=node.attrs["keepdims"])]


@rule("nn.sub")
def _sub(node, ins, p, ctx):
    return [ins[0] - ins[1]]
