"""Measured effect of the optimizer, side by side in one process.

    PYTHONPATH=… python bench/bench_passes.py [--repeats 20] [--quick]

1. XLA compile time (``jit(...).lower(...).compile()``) of the train step and of the
   forward pass, and train-step time, of a residual MLP of 16/64/128 blocks, unrolled (``-O1``) vs ``repeat-to-scan`` (``-O2``);
   the same for a 32-layer FNO (``specs/fno1d_burgers.cat``, ``depth=32``).
   Beside them, the same residual MLP hand-written in JAX (unrolled loop vs ``lax.scan``),
   in two algebraically equal forms of the block, ``x + (relu(x W1 + b1) W2 + b2)`` (the
   form catspec's lowering produces) and ``x + relu(x W1 + b1) W2 + b2``: XLA's compile
   time of the *unrolled* program differs several-fold between them, which is what the
   scan speedup is measured against.
2. Step and forward time of 8 parallel dense experts (summed), 8 MLP experts (summed)
   and 8 dense heads (concatenated), ``-O1`` vs ``-O1,batch-parallel``, at three sizes
   (expert width d, batch B).
3. Front end (parse + elaborate + verify) plus ``-O2`` on generated 1,000- and
   10,000-node specs.
Timings are medians; the two variants of each step are run interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import catspec
import jax
import jax.numpy as jnp
from catspec.backends.jax import Model
from catspec.compiler.passes import run_passes

ROOT = Path(__file__).resolve().parent.parent
RMLP = """
def block(d: int) = residual(dense(d) >> relu >> dense(d))
model rmlp(d: int = 64, depth: int = 64) : Tensor[d] -> Tensor[d] = block(d) ^ depth
"""


def experts_spec(k: int, d: int) -> str:
    return (f"model experts(d: int = {d}) : Tensor[d] -> Tensor[d] =\n    "
            + " + ".join(["dense(d)"] * k) + "\n")


def mlp_experts_spec(k: int, d: int) -> str:
    """k two-layer experts (dense >> relu >> dense) summed: not linear, unlike ``experts``."""
    expert = "(dense(d) >> relu >> dense(d))"
    return (f"model mlp_experts(d: int = {d}) : Tensor[d] -> Tensor[d] =\n    "
            + " + ".join([expert] * k) + "\n")


def heads_spec(k: int, d: int) -> str:
    """k dense heads on copies of the input, concatenated and mixed by a dense layer."""
    heads = " @ ".join(["dense(d)"] * k)
    return (f"model heads(d: int = {d}) : Tensor[d] -> Tensor[d] =\n"
            f"    copy({k}) >> ({heads}) >> concat({k}) >> dense(d)\n")


def chain_spec(blocks: int) -> str:
    """``blocks`` explicit residual blocks (4 nodes each: copy, dense, relu, add)."""
    body = " >> ".join(["residual(dense(16) >> relu)"] * blocks)
    return f"model chain : Tensor[16] -> Tensor[16] =\n    {body}\n"


def _median_time(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def _step(model: Model, lr: float = 1e-3):
    def loss(p, x):
        return jnp.mean(jnp.square(model.apply_unjitted(p, x)))

    grad = jax.grad(loss)

    def step(p, x):
        g = grad(p, x)
        return jax.tree.map(lambda a, b: a - lr * b, p, g)

    return step


def _forward(model: Model, scale: float):
    return lambda p, x: model.apply_unjitted(p, x) * scale


def compile_seconds(model: Model, params, x, repeats: int, train: bool = True) -> float:
    """XLA compile time of the train step (or, ``train=False``, of the forward pass)."""
    # A different constant each time makes a different program, so JAX's in-memory
    # compilation cache cannot answer (it would, for an identical one).
    out = []
    for i in range(repeats):
        c = 1 + 1e-6 * (i + 1) * (1 + time.perf_counter() % 1)
        fn = _step(model, 1e-3 * c) if train else _forward(model, c)
        t = time.perf_counter()
        jax.jit(fn).lower(params, x).compile()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def step_ratio(models, params, x, repeats: int) -> list[float]:
    """Median step time of each model, interleaved."""
    steps = [jax.jit(_step(m)) for m in models]
    for s, p in zip(steps, params):
        jax.block_until_ready(s(p, x))
    times = [[] for _ in models]
    for _ in range(repeats):
        for i, (s, p) in enumerate(zip(steps, params)):
            t = time.perf_counter()
            jax.block_until_ready(s(p, x))
            times[i].append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def hand_rmlp_step(depth: int, scan: bool, bias_last: bool, lr: float):
    """A residual-MLP train step written directly in JAX (parameters as a list of dicts,
    or stacked for ``lax.scan``)."""
    def block(p, h):
        z = jax.nn.relu(h @ p["w1"] + p["b1"]) @ p["w2"]
        return h + z + p["b2"] if bias_last else h + (z + p["b2"])

    def loss(ps, x):
        if scan:
            h, _ = jax.lax.scan(lambda h, p: (block(p, h), None), x, ps)
        else:
            h = x
            for p in ps:
                h = block(p, h)
        return jnp.mean(jnp.square(h))

    grad = jax.grad(loss)
    return lambda ps, x: jax.tree.map(lambda a, b: a - lr * b, ps, grad(ps, x))


def hand_compile_seconds(depth: int, scan: bool, bias_last: bool, x, repeats: int) -> float:
    d = x.shape[-1]
    one = {"w1": jnp.ones((d, d)), "b1": jnp.zeros(d), "w2": jnp.ones((d, d)), "b2": jnp.zeros(d)}
    params = (jax.tree.map(lambda a: jnp.stack([a] * depth), one) if scan
              else [dict(one) for _ in range(depth)])
    out = []
    for i in range(repeats):
        lr = 1e-3 * (1 + 1e-6 * (i + 1) * (1 + time.perf_counter() % 1))
        t = time.perf_counter()
        jax.jit(hand_rmlp_step(depth, scan, bias_last, lr)).lower(params, x).compile()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def bench_hand_scan(depth: int, x, compile_repeats: int) -> None:
    for bias_last, form in ((False, "x+(f(x)+b2)"), (True, "x+f(x)+b2")):
        c0 = hand_compile_seconds(depth, False, bias_last, x, compile_repeats)
        c1 = hand_compile_seconds(depth, True, bias_last, x, compile_repeats)
        print(f"  hand JAX {form:<12} {c0:>9.3f} {c1:>9.3f} {c0 / c1:>7.1f}x", flush=True)


def bench_scan(graph, label: str, x, compile_repeats: int, repeats: int) -> None:
    plain = run_passes(graph, "O1")
    scanned = run_passes(graph, "O2")
    m0, m1 = Model(plain), Model(scanned)
    p0 = m0.init(0)
    p1 = scanned.params.layout.to_optimized(scanned.params, p0)
    c0 = compile_seconds(m0, p0, x, compile_repeats)
    c1 = compile_seconds(m1, p1, x, compile_repeats)
    f0 = compile_seconds(m0, p0, x, compile_repeats, train=False)
    f1 = compile_seconds(m1, p1, x, compile_repeats, train=False)
    s0, s1 = step_ratio([m0, m1], [p0, p1], x, repeats)
    print(f"{label:<22} {c0:>9.3f} {c1:>9.3f} {c0 / c1:>7.1f}x   {s0 * 1e3:>8.3f} "
          f"{s1 * 1e3:>8.3f} {s1 / s0:>6.2f}   {f0:>8.3f} {f1:>8.3f} {f0 / f1:>6.1f}x",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--compile-repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer sizes (smoke run)")
    a = ap.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}")

    print("\n## repeat-to-scan: train-step compile (s), step time (ms) and forward compile (s), "
          "batch 64")
    print(f"{'model':<22} {'unrolled':>9} {'scan':>9} {'speedup':>8}   {'unrolled':>8} "
          f"{'scan':>8} {'ratio':>6}   {'fwd unr':>8} {'fwd scan':>8} {'speedup':>7}")
    x = jax.random.normal(jax.random.key(0), (64, 64))
    for depth in ([16, 64] if a.quick else [16, 64, 128]):
        graph = catspec.load(RMLP, depth=depth)
        bench_scan(graph, f"residual MLP x{depth}", x, a.compile_repeats, a.repeats)
        bench_hand_scan(depth, x, a.compile_repeats)
    fno = catspec.load(ROOT / "specs" / "fno1d_burgers.cat", depth=32, width=32, modes=8)
    xf = jax.random.normal(jax.random.key(1), (16, 64, 1))
    bench_scan(fno, "FNO-1d 32 layers", xf, a.compile_repeats, a.repeats)

    batch_parallel(a.repeats * 5)

    front_end()


def batch_parallel(repeats: int) -> None:
    """8 dense experts summed, 8 MLP experts summed and 8 dense heads concatenated, at
    three sizes. Summed dense experts are linear: batched, they are ``x·(Σₖ Wₖ)``."""
    print("\n## batch-parallel: 8 dense experts / MLP experts / heads "
          "(train-step and forward time, ms)")
    print(f"{'graph':<11} {'d':>5} {'batch':>6}   {'step':>8} {'batched':>8} {'speedup':>8}   "
          f"{'forward':>8} {'batched':>8} {'speedup':>8}")
    for label, spec in (("experts", experts_spec), ("mlp-experts", mlp_experts_spec),
                        ("heads", heads_spec)):
        for d, b in ((32, 64), (64, 128), (256, 256)):
            bench_batch_parallel(label, spec(8, d), d, b, repeats)


def bench_batch_parallel(label: str, text: str, d: int, batch: int, repeats: int) -> None:
    graph = catspec.load(text)
    plain, batched = run_passes(graph, "O1"), run_passes(graph, "O1,batch-parallel")
    m0, m1 = Model(plain), Model(batched)
    p0 = m0.init(0)
    p1 = batched.params.layout.to_optimized(batched.params, p0)
    xe = jax.random.normal(jax.random.key(2), (batch, d))
    s0, s1 = step_ratio([m0, m1], [p0, p1], xe, repeats)
    f0, f1 = jax.jit(m0.apply_unjitted), jax.jit(m1.apply_unjitted)
    jax.block_until_ready((f0(p0, xe), f1(p1, xe)))
    t0, t1 = [], []
    for _ in range(repeats):
        t = time.perf_counter(); jax.block_until_ready(f0(p0, xe)); t0.append(time.perf_counter() - t)
        t = time.perf_counter(); jax.block_until_ready(f1(p1, xe)); t1.append(time.perf_counter() - t)
    g0, g1 = statistics.median(t0), statistics.median(t1)
    print(f"{label:<11} {d:>5} {batch:>6}   {s0 * 1e3:>8.3f} {s1 * 1e3:>8.3f} {s0 / s1:>7.2f}x   "
          f"{g0 * 1e3:>8.3f} {g1 * 1e3:>8.3f} {g0 / g1:>7.2f}x", flush=True)


def front_end() -> None:
    """Front end (parse, elaborate, verify) plus -O1 (the default) and -O2, medians."""
    print("\n## front end + passes on generated specs (s): default -O1 and -O2")
    for blocks in (250, 2500):
        text = chain_spec(blocks)
        reps = 5 if blocks < 1000 else 3
        times: dict[str, list[float]] = {"load": [], "O1": [], "O2": []}
        nodes = 0
        for _ in range(reps):
            t = time.perf_counter()
            g = catspec.load(text)
            times["load"].append(time.perf_counter() - t)
            for pipeline in ("O1", "O2"):
                t = time.perf_counter()
                run_passes(g, pipeline)
                times[pipeline].append(time.perf_counter() - t)
            nodes = len(g)
        lt, p1, p2 = (statistics.median(times[k]) for k in ("load", "O1", "O2"))
        print(f"{nodes:>6} nodes: front end {lt:.3f}  -O1 {p1:.3f} (total {lt + p1:.3f})  "
              f"-O2 {p2:.3f} (total {lt + p2:.3f})", flush=True)

if __name__ == "__main__":
    main()
