"""Compiled shipped specs compute the same function as hand-written JAX with the same parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from conftest import SPECS, max_rel_err
from jax import lax

import catspec


def hand_mlp(p, x, depth=2):
    h = x
    for i in range(depth):
        h = jax.nn.relu(h @ p[f"dense_{i}"]["w"] + p[f"dense_{i}"]["b"])
    return h @ p[f"dense_{depth}"]["w"] + p[f"dense_{depth}"]["b"]


def _conv(x, w, b, padding):
    y = lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + b


def _avg_pool(x):
    return lax.reduce_window(x, 0.0, lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4.0


def hand_cnn(p, x):
    h = _avg_pool(jax.nn.relu(_conv(x, p["conv_0"]["w"], p["conv_0"]["b"], "SAME")))
    h = _avg_pool(jax.nn.relu(_conv(h, p["conv_1"]["w"], p["conv_1"]["b"], "VALID")))
    h = h.reshape(h.shape[0], -1)
    h = jax.nn.relu(h @ p["dense_0"]["w"] + p["dense_0"]["b"])
    h = jax.nn.relu(h @ p["dense_1"]["w"] + p["dense_1"]["b"])
    return h @ p["dense_2"]["w"] + p["dense_2"]["b"]


def _random_biases(params, key):
    # Biases initialise to zero; make them random so the test sees them.
    leaves, tree = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(
        tree, [leaf + 0.1 * jax.random.normal(k, leaf.shape) for leaf, k in zip(leaves, keys)]
    )


def test_mlp_matches_hand_written():
    for suffix in (".cat", ".yaml"):
        model = catspec.compile(SPECS / f"mlp{suffix}")
        params = _random_biases(model.init(0), jax.random.key(1))
        x = jax.random.normal(jax.random.key(2), (8, 784))
        assert max_rel_err(model(params, x), hand_mlp(params, x)) <= 1e-5


def test_mlp_override_changes_architecture():
    model = catspec.compile(SPECS / "mlp.cat", depth=3, width=32)
    params = _random_biases(model.init(0), jax.random.key(1))
    assert params["dense_0"]["w"].shape == (784, 32)
    x = jax.random.normal(jax.random.key(2), (4, 784))
    assert max_rel_err(model(params, x), hand_mlp(params, x, depth=3)) <= 1e-5


def test_cnn_matches_hand_written():
    model = catspec.compile(SPECS / "cnn.cat")
    params = _random_biases(model.init(0), jax.random.key(1))
    x = jax.random.normal(jax.random.key(2), (4, 28, 28, 1))
    out = model(params, x)
    assert out.shape == (4, 10) and out.dtype == jnp.float32
    assert max_rel_err(out, hand_cnn(params, x)) <= 1e-5


def test_param_tree_is_keyed_by_spec_names():
    model = catspec.compile(SPECS / "cnn.cat")
    shapes = jax.tree.map(jnp.shape, model.init(0))
    assert shapes == {
        "conv_0": {"w": (5, 5, 1, 6), "b": (6,)},
        "conv_1": {"w": (5, 5, 6, 16), "b": (16,)},
        "dense_0": {"w": (400, 120), "b": (120,)},
        "dense_1": {"w": (120, 84), "b": (84,)},
        "dense_2": {"w": (84, 10), "b": (10,)},
    }
    assert model.param_count == 61706


def test_gradients_flow_through_compiled_model():
    model = catspec.compile(SPECS / "mlp.cat", width=16)
    params = model.init(0)
    x = jax.random.normal(jax.random.key(2), (4, 784))

    def loss(p):
        return jnp.mean(model.apply_unjitted(p, x) ** 2)

    got = jax.grad(loss)(params)
    want = jax.grad(lambda p: jnp.mean(hand_mlp(p, x) ** 2))(params)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert max_rel_err(a, b) <= 1e-5
