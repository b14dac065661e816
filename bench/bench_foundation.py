"""Compiled shipped specs vs the same networks written by hand in JAX, side by side.

For each network (mlp, cnn, and the FNO of fno1d_burgers.cat): a jitted forward
pass and a full training step (loss, grad, optax Adam update), both with the
same parameters and inputs. The hand-written networks are imported from the
tests that check catspec against them. Runs are
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

import catspec

SPECS = Path(catspec.__file__).resolve().parent / "specs"


# The reference networks are the ones the tests check catspec against (one copy each).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_foundation_numerics import hand_cnn, hand_mlp  # noqa: E402
from test_operators import hand_fno, hand_spectral1d  # noqa: E402

# The tests' conftest makes dtype promotion strict; optax's Adam needs the standard rules.
jax.config.update("jax_numpy_dtype_promotion", "standard")


def hand_fno1d(p, x):
    """The shipped fno1d_burgers defaults (width 64, 16 modes, 4 layers), by hand."""
    return hand_fno(p, x, lambda h, w: hand_spectral1d(h, w, 16), endpoint=False)


def train_step_for(apply_fn, opt, classify: bool):
    def loss(p, x, y):
        out = apply_fn(p, x)
        if classify:
            return optax.softmax_cross_entropy_with_integer_labels(out, y).mean()
        return jnp.mean(jnp.square(out - y))

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


def compare(name, spec, hand_fn, x_shape, batch, repeats, classify=True):
    model = catspec.compile(SPECS / spec)
    params = model.init(0)
    x = jax.random.normal(jax.random.key(1), (batch, *x_shape))
    if classify:
        y = jax.random.randint(jax.random.key(2), (batch,), 0, 10)
    else:
        y = jax.random.normal(jax.random.key(2), x.shape)

    fwd_cat = jax.jit(model.apply_unjitted)
    fwd_hand = jax.jit(hand_fn)
    err = float(jnp.max(jnp.abs(fwd_cat(params, x) - fwd_hand(params, x)))
                / jnp.max(jnp.abs(fwd_hand(params, x))))

    same_hlo = hlo_ops(model.apply_unjitted, params, x) == hlo_ops(hand_fn, params, x)
    opt = optax.adam(1e-3)
    step_cat = train_step_for(model.apply_unjitted, opt, classify)
    step_hand = train_step_for(hand_fn, opt, classify)
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
    print(f"batch {args.batch} (fno1d: 20 at 128 points), medians of {args.repeats} "
          "interleaved runs\n")
    print(f"{'model':6} {'measure':11} {'catspec ms':>11} {'hand ms':>9} {'ratio':>7}")
    worst = 0.0
    for name, spec, fn, shape, batch in [
        ("mlp", "mlp.cat", hand_mlp, (784,), args.batch),
        ("cnn", "cnn.cat", hand_cnn, (28, 28, 1), args.batch),
        ("fno1d", "fno1d_burgers.cat", hand_fno1d, (128, 1), 20),
    ]:
        rows, err, same_hlo = compare(name, spec, fn, shape, batch, args.repeats,
                                      classify=name != "fno1d")
        for r in rows:
            print(f"{r[0]:6} {r[1]:11} {r[2]:11.3f} {r[3]:9.3f} {r[4]:7.3f}")
            worst = max(worst, r[4])
        print(f"{name:6} max relative error of outputs: {err:.2e}; "
              f"optimised HLO instructions identical: {'yes' if same_hlo else 'no'}")
    print(f"\nworst ratio: {worst:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
