"""Measure the data generators' speed and accuracy (the numbers quoted in docs/DATA.md).

Run ``python -m catspec.runtime.data.measure`` (add ``--quick`` for smaller sizes).  Prints one
line per measurement; nothing is written to disk.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import scipy

from .antiderivative import antiderivative, integrate_from_zero
from .burgers import IC_MODES, burgers, solve_burgers
from .darcy import GRF_MODES, darcy, solve_darcy
from .grf import grf_periodic_1d, neumann_field_2d

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def measure_burgers(n: int) -> None:
    for nu in (0.1, 0.01):
        data, secs = timed(lambda nu=nu: burgers(n, 1024, nu=nu, seed=0))
        print(
            f"burgers n={n} res=1024 solve=1024 nu={nu}: {secs:.1f} s, "
            f"max|u0|={np.abs(data['x']).max():.3f}, max|u(1)|={np.abs(data['y']).max():.4f}"
        )
    u0 = grf_periodic_1d(64, 4096, n_modes=IC_MODES, seed=1).astype(np.float64)
    for nu in (0.1, 0.01):
        ref = solve_burgers(u0, nu)
        for fine in (1024, 2048):
            u = solve_burgers(u0[:, :: 4096 // fine], nu)
            print(
                f"burgers nu={nu} space: solve {fine} vs 4096 (64 samples, on the 1024 grid): "
                f"rel err {rel(u[:, :: fine // 1024], ref[:, ::4]):.2e}"
            )
        coarse = u0[:, ::4]
        ref_t = solve_burgers(coarse, nu, dt_max=5e-5, max_travel=np.inf)
        u, steps = solve_burgers(coarse, nu, return_steps=True)
        print(
            f"burgers nu={nu} time: default steps ({steps}) vs dt=5e-5 (20000 steps), "
            f"N=1024: rel err {rel(u, ref_t):.2e}"
        )


def measure_darcy(n: int) -> None:
    data, secs = timed(lambda: darcy(n, 29, seed=0))
    print(
        f"darcy n={n} res=29 solve=141: {secs:.1f} s, max u={data['y'].max():.5f}, "
        f"fraction a=12: {np.mean(data['x'] == 12.0):.3f}"
    )
    _, secs1 = timed(lambda: darcy(n // 4, 29, seed=0, workers=1))
    print(f"darcy n={n // 4} workers=1: {secs1:.1f} s ({secs1 / (n // 4) * 1e3:.0f} ms/sample)")
    for m in (41, 81, 141):
        centre = solve_darcy(np.ones((m, m)), 1.0)[m // 2, m // 2]
        print(
            f"poisson centre M={m}: u={centre:.10f}, err vs 0.0736713532814 "
            f"{centre - 0.0736713532814:.2e}"
        )
    for face in ("harmonic", "arithmetic"):
        for m in (33, 65, 129):
            x = np.linspace(0.0, 1.0, m)
            xx, yy = np.meshgrid(x, x, indexing="ij")
            a = 1.0 + xx + yy
            exact = np.sin(np.pi * xx) * np.sin(np.pi * yy)
            f = a * 2.0 * np.pi**2 * exact - np.pi * (
                np.cos(np.pi * xx) * np.sin(np.pi * yy) + np.sin(np.pi * xx) * np.cos(np.pi * yy)
            )
            err = np.max(np.abs(solve_darcy(a, f, face=face) - exact))
            print(f"manufactured {face} M={m}: max err {err:.3e}")
    # Thresholded coefficient: grid convergence on the 29-point output grid.
    rng_state = np.random.default_rng(5)
    for i in range(3):
        seed = int(rng_state.integers(1 << 31))
        sols = {}
        for m in (141, 281, 561):
            psi = neumann_field_2d(1, m, n_modes=GRF_MODES, seed=seed)[0]
            a = np.where(psi >= 0.0, 12.0, 3.0)
            sols[m] = solve_darcy(a, 1.0)[:: (m - 1) // 28, :: (m - 1) // 28]
        print(
            f"darcy sample {i}: 29-grid rel err 141 vs 561: {rel(sols[141], sols[561]):.2e}, "
            f"281 vs 561: {rel(sols[281], sols[561]):.2e}"
        )


def measure_antiderivative(n: int) -> None:
    data, secs = timed(lambda: antiderivative(n, seed=0))
    print(
        f"antiderivative n={n} sensors=100 n_points=100: {secs:.2f} s, "
        f"std u={data['branch'].std():.3f}"
    )
    x = np.linspace(0.0, 1.0, 1001)
    y = np.linspace(0.0, 1.0, 100)
    err = np.max(
        np.abs(
            integrate_from_zero(np.cos(2 * np.pi * x), x, y) - np.sin(2 * np.pi * y) / (2 * np.pi)
        )
    )
    print(f"antiderivative of cos(2 pi x): max err {err:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--only", choices=["burgers", "darcy", "antiderivative"], default=None)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"cpus {os.cpu_count()}"
    )
    if args.only in (None, "burgers"):
        measure_burgers(120 if args.quick else 1200)
    if args.only in (None, "darcy"):
        measure_darcy(64 if args.quick else 1000)
    if args.only in (None, "antiderivative"):
        measure_antiderivative(1000 if args.quick else 10000)


if __name__ == "__main__":
    main()
