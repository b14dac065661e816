"""Lowering rules: one pure ``jax.numpy``/``lax`` function per op, keyed by op name.

A rule receives the node (for its attributes), the input arrays of *one
example* (the batch axis is added by ``vmap`` in ``model.py``), the node's
parameters by local name, and a context holding the sizes bound to the free
dimension symbols. It returns the list of output arrays. Nothing here touches
NumPy or the host: the same rules run on CPU, GPU or a device mesh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
from jax import lax

from ...compiler.dims import evaluate


@dataclass
class LowerCtx:
    dims: dict[str, int] = field(default_factory=dict)
    key: jax.Array | None = None  # randomness for ops such as dropout
    train: bool = False
    # Every resolved parameter slot by path: control ops (fold, map) run their
    # regions with it, since region nodes read slots the owner node does not list.
    slots: dict = field(default_factory=dict)


Rule = Callable[..., list]
RULES: dict[str, Rule] = {}


def rule(*names: str):
    def deco(fn):
        for n in names:
            RULES[n] = fn
        return fn

    return deco


# -- structure ------------------------------------------------------------------


@rule("struct.id")
def _id(node, ins, p, ctx):
    return list(ins)


@rule("struct.copy")
def _copy(node, ins, p, ctx):
    return [ins[0]] * node.attrs["n"]


@rule("struct.drop")
def _drop(node, ins, p, ctx):
    return []


@rule("struct.swap")
def _swap(node, ins, p, ctx):
    return [ins[1], ins[0]]


@rule("struct.permute")
def _permute(node, ins, p, ctx):
    return [ins[i] for i in node.attrs["perm"]]


@rule("struct.add")
def _add(node, ins, p, ctx):
    out = ins[0]
    for x in ins[1:]:
        out = out + x
    return [out]


@rule("struct.mul")
def _mul(node, ins, p, ctx):
    out = ins[0]
    for x in ins[1:]:
        out = out * x
    return [out]


@rule("struct.concat")
def _concat(node, ins, p, ctx):
    return [jnp.concatenate(ins, axis=node.attrs["axis"])]


@rule("struct.split")
def _split(node, ins, p, ctx):
    return list(jnp.split(ins[0], node.attrs["n"], axis=node.attrs["axis"]))


# -- activations ------------------------------------------------------------------

_POINTWISE = {
    "act.relu": jax.nn.relu, "act.tanh": jnp.tanh, "act.sigmoid": jax.nn.sigmoid,
    "act.softplus": jax.nn.softplus, "act.sin": jnp.sin, "act.silu": jax.nn.silu,
    "act.elu": jax.nn.elu, "act.exp": jnp.exp,
}  # fmt: skip

for _name, _fn in _POINTWISE.items():
    RULES[_name] = lambda node, ins, p, ctx, _fn=_fn: [_fn(ins[0])]


@rule("act.gelu")
def _gelu(node, ins, p, ctx):
    return [jax.nn.gelu(ins[0], approximate=node.attrs["approximate"])]


# -- dense and normalisation ------------------------------------------------------


@rule("nn.dense")
def _dense(node, ins, p, ctx):
    y = ins[0] @ p["w"]
    if "b" in p:
        y = y + p["b"]
    return [y]


@rule("nn.layer_norm")
def _layer_norm(node, ins, p, ctx):
    x = ins[0]
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    y = (x - mean) * lax.rsqrt(var + node.attrs["eps"])
    return [y * p["scale"] + p["bias"]]


# -- convolution and pooling --------------------------------------------------------

_CONV_DIMS = {
    1: ("NWC", "WIO", "NWC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}


def _per_axis(v, d):
    return (v,) * d if isinstance(v, int) else tuple(v)


@rule("nn.conv")
def _conv(node, ins, p, ctx):
    x = ins[0]
    d = x.ndim - 1
    a = node.attrs
    y = lax.conv_general_dilated(
        x[None],
        p["w"],
        window_strides=_per_axis(a["stride"], d),
        padding=a["padding"].upper(),
        rhs_dilation=_per_axis(a["dilation"], d),
        dimension_numbers=_CONV_DIMS[d],
    )[0]
    if "b" in p:
        y = y + p["b"]
    return [y]


def _pool_geometry(node, x):
    d = x.ndim - 1
    a = node.attrs
    window = _per_axis(a["window"], d)
    stride = _per_axis(a["stride"] if a["stride"] is not None else a["window"], d)
    return (*window, 1), (*stride, 1), a["padding"].upper()


@rule("nn.max_pool")
def _max_pool(node, ins, p, ctx):
    x = ins[0]
    window, stride, pad = _pool_geometry(node, x)
    return [lax.reduce_window(x, -jnp.inf, lax.max, window, stride, pad)]


@rule("nn.avg_pool")
def _avg_pool(node, ins, p, ctx):
    x = ins[0]
    window, stride, pad = _pool_geometry(node, x)
    total = lax.reduce_window(x, 0.0, lax.add, window, stride, pad)
    if pad == "VALID":
        size = 1
        for w in window:
            size *= w
        return [total / size]
    # With SAME padding, average over the elements that exist (as count_include_pad=False).
    count = lax.reduce_window(jnp.ones_like(x), 0.0, lax.add, window, stride, pad)
    return [total / count]


# -- shape -------------------------------------------------------------------------


@rule("shape.flatten")
def _flatten(node, ins, p, ctx):
    return [ins[0].reshape(-1)]


@rule("shape.reshape")
def _reshape(node, ins, p, ctx):
    shape = [evaluate(s, ctx.dims) for s in node.out_types[0].shape]
    return [ins[0].reshape(shape)]
