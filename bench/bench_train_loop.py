"""Training loop shapes: one jitted ``lax.scan`` over the epoch's batches vs a Python loop
over a jitted step (``Trainer.run_epoch`` picks one by ``loop_shape``).

Usage: ``python bench/bench_train_loop.py [--max-steps K] SPEC [SPEC ...]`` (each spec's
train section gives the data and optimizer; ``--max-steps`` cuts every epoch to K steps for
slow models). Prints, per spec, the best of 3 epochs of each shape after compilation (epochs
interleaved); the results are recorded in docs/TRAINING.md.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
from catspec.runtime.train import Trainer, loop_shape, prepare


def epoch_fn(tr: Trainer, shape: str):
    """``Trainer.run_epoch`` forced to one loop shape."""
    def run(params, opt_state, key):
        tr.loop = shape
        return tr.run_epoch(params, opt_state, key)

    return run


def main(specs: list[str], max_steps: int | None = None) -> None:
    for spec in specs:
        tr = Trainer(prepare(spec, epochs=5))
        if max_steps is not None:
            tr.steps = min(tr.steps, max_steps)
        k_init, k_data = jax.random.split(jax.random.key(0))
        params = tr.job.model.init(k_init)
        opt = tr.init_opt(params)
        shapes = {"loop": epoch_fn(tr, "steps"), "scan": epoch_fn(tr, "scan")}
        for fn in shapes.values():  # compile (on copies: the loop donates its buffers)
            p, o = jax.tree.map(jnp.copy, params), jax.tree.map(jnp.copy, opt)
            jax.block_until_ready(fn(p, o, jax.random.fold_in(k_data, 0)))
        times: dict[str, list[float]] = {k: [] for k in shapes}
        for e in range(1, 4):
            for name, fn in shapes.items():
                # fresh copies: the loop donates its parameter and optimizer buffers
                p, o = jax.tree.map(jnp.copy, params), jax.tree.map(jnp.copy, opt)
                t = time.perf_counter()
                jax.block_until_ready(fn(p, o, jax.random.fold_in(k_data, e)))
                times[name].append(time.perf_counter() - t)
        best = {k: min(v) for k, v in times.items()}
        print(f"{spec}: {tr.steps} steps/epoch; best epoch loop {best['loop']:.3f} s, "
              f"scan {best['scan']:.3f} s (scan/loop {best['scan'] / best['loop']:.2f}); "
              f"catspec picks {loop_shape(tr.job.model.graph)}",
              flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    limit = None
    if args[:1] == ["--max-steps"]:
        limit, args = int(args[1]), args[2:]
    main(args, limit)
