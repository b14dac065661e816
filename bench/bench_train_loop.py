"""Training loop shapes: one jitted ``lax.scan`` per epoch vs a Python loop over a jitted step.

Usage: ``PYTHONPATH=/tmp/pkgroot python bench/bench_train_loop.py specs/fno1d_burgers.cat``
(the spec's train section gives the data and optimizer). Prints the wall time of 4 epochs of
each shape after compilation; the result is recorded in docs/TRAINING.md.
"""

from __future__ import annotations

import sys
import time

import jax
import optax
from catspec.runtime.train import Trainer, prepare


def main(spec: str) -> None:
    tr = Trainer(prepare(spec, epochs=5))
    k_init, k_data = jax.random.split(jax.random.key(0))
    params = tr.job.model.init(k_init)
    opt = tr.init_opt(params)

    @jax.jit
    def step(params, opt_state, xs, y, perm, i):
        idx = perm[i]
        (loss, _), grads = jax.value_and_grad(tr._loss, has_aux=True)(
            params, tr._gather(xs, idx), y[idx])
        updates, opt_state = tr.tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def perms(key):
        n = tr.train_y.shape[0]
        return jax.random.permutation(key, n)[: tr.steps * tr.batch].reshape(tr.steps, tr.batch)

    def loop_epoch(params, opt_state, key):
        perm = perms(key)
        with jax.numpy_dtype_promotion("standard"):  # optax's Adam, as in Trainer.run_epoch
            for i in range(tr.steps):
                params, opt_state, loss = step(params, opt_state, tr.train_x, tr.train_y, perm, i)
        return params, opt_state, loss

    for name, fn in (("scan", tr.run_epoch), ("loop", loop_epoch)):
        jax.block_until_ready(fn(params, opt, jax.random.fold_in(k_data, 0)))  # compile
        times = []
        for e in range(1, 5):
            t = time.perf_counter()
            jax.block_until_ready(fn(params, opt, jax.random.fold_in(k_data, e)))
            times.append(time.perf_counter() - t)
        print(f"{name}: epoch seconds {[round(x, 3) for x in times]}, min {min(times):.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
