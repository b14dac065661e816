"""Compiled shipped specs vs the same networks written by hand in JAX, side by side.

For each network: a jitted forward pass and a full training step (loss, grad,
optax Adam update), both with the same parameters and inputs. Runs are
interleaved (catspec, hand, catspec, hand, …) after a warm-up, so both see the
same machine state; we report medians and the ratio catspec / hand-written.

    python bench/bench_foundation.py [--repeats 50] [--batch 256]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
from jax import lax

import catspec

SPECS = Path(catspec.__file__).resolve().parent / "specs"


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


def train_step_for(apply_fn, opt):
    def loss(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(apply_fn(p, x), y).mean()

    @jax.jit
    def step(p, s, x, y):
        value, grads = jax.value_and_grad(loss)(p, x, y)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, value

    return step


def hlo_ops(fn, *args) -> list[str]:
    """The multiset of instructions in XLA's optimised HLO for ``fn`` (names stripped)."""
    text = jax.jit(fn).lower(*args).compile().as_text()
    return sorted(re.findall(r"= \S+ (\w[\w-]*)\(", text))


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0


def compare(name, spec, hand_fn, x_shape, batch, repeats):
    model = catspec.compile(SPECS / spec)
    params = model.init(0)
    x = jax.random.normal(jax.random.key(1), (batch, *x_shape))
    y = jax.random.randint(jax.random.key(2), (batch,), 0, 10)

    fwd_cat = jax.jit(model.apply_unjitted)
    fwd_hand = jax.jit(hand_fn)
    err = float(jnp.max(jnp.abs(fwd_cat(params, x) - fwd_hand(params, x)))
                / jnp.max(jnp.abs(fwd_hand(params, x))))

    same_hlo = hlo_ops(model.apply_unjitted, params, x) == hlo_ops(hand_fn, params, x)
    opt = optax.adam(1e-3)
    step_cat = train_step_for(model.apply_unjitted, opt)
    step_hand = train_step_for(hand_fn, opt)
    state = opt.init(params)

    rows = []
    for label, a, b, args in [
        ("forward", fwd_cat, fwd_hand, (params, x)),
        ("train step", step_cat, step_hand, (params, state, x, y)),
    ]:
        for _ in range(5):  # warm-up: compilation and caches
            timed(a, *args)
            timed(b, *args)
        ta, tb = [], []
        for _ in range(repeats):
            ta.append(timed(a, *args))
            tb.append(timed(b, *args))
        ma, mb = statistics.median(ta), statistics.median(tb)
        rows.append((name, label, ma * 1e3, mb * 1e3, ma / mb))
    return rows, err, same_hlo


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args(argv)
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}")
    print(f"batch {args.batch}, medians of {args.repeats} interleaved runs\n")
    print(f"{'model':6} {'measure':11} {'catspec ms':>11} {'hand ms':>9} {'ratio':>7}")
    worst = 0.0
    for name, spec, fn, shape in [
        ("mlp", "mlp.cat", hand_mlp, (784,)),
        ("cnn", "cnn.cat", hand_cnn, (28, 28, 1)),
    ]:
        rows, err, same_hlo = compare(name, spec, fn, shape, args.batch, args.repeats)
        for r in rows:
            print(f"{r[0]:6} {r[1]:11} {r[2]:11.3f} {r[3]:9.3f} {r[4]:7.3f}")
            worst = max(worst, r[4])
        print(f"{name:6} max relative error of outputs: {err:.2e}; "
              f"optimised HLO instructions identical: {'yes' if same_hlo else 'no'}")
    print(f"\nworst ratio: {worst:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
