"""1-D viscous Burgers data: GRF initial condition -> solution at t = 1 (the FNO benchmark).

Equation, on the periodic unit interval (0, 1):

    u_t + (u^2 / 2)_x = nu u_xx,     u(x, 0) = u0(x) ~ N(0, 625 (-Delta + 25 I)^(-2)).

Solver (``solve_burgers``): Fourier pseudo-spectral in space, the viscous term integrated
exactly by the integrating factor ``exp(-nu kappa^2 t)`` (kappa = 2 pi k), the nonlinear
term ``-(i kappa / 2) FFT(u^2)`` evaluated pseudo-spectrally with the 2/3 rule
(modes ``k >= N/3`` of the product are zeroed), and the classical RK4 scheme applied to the
integrating-factor form (IF-RK4).  All samples of a batch are advanced together with real
FFTs along the last axis.  See ``choose_dt`` for the time step.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import fft as sfft

from ._threads import default_workers
from .grf import SeedLike, grf_periodic_1d

# Default fine grid: at least this many points (then rounded up to a multiple of the output
# resolution so the output grid is the fine grid taken with an integer stride).
MIN_SOLVE_RESOLUTION = 1024
# Accuracy limits on the time step (measured, see docs/DATA.md): dt <= min(DT_MAX,
# DT_PER_NU * nu) and dt * max|u| <= MAX_TRAVEL (the fluid moves at most 0.25 % of the period
# per step).  The nu-scaled cap matters late in a small-nu run: fronts are a stiff balance of
# steepening and diffusion, which IF-RK4 resolves accurately only with steps ~ 0.1 nu.
# Together they keep the time error near 1e-9 relative for nu = 0.1 and nu = 0.01.
DT_MAX = 5e-3
DT_PER_NU = 0.1
MAX_TRAVEL = 2.5e-3
# Samples advanced together: 128 rows of 1024 float64 (1 MB) was fastest on the dev box.
CHUNK = 128
# Number of Fourier modes in the GRF initial condition (FNO's GRF1 on s = 1024 uses s/2);
# fixed, so the same seed gives the same u0 at every solve resolution.
IC_MODES = 512


def wavenumbers(n_points: int) -> np.ndarray:
    """Angular wavenumbers ``kappa = 2 pi k`` of ``rfft`` on a grid of ``n_points``, k = 0..N/2."""
    return 2.0 * np.pi * np.arange(n_points // 2 + 1, dtype=np.float64)


def dealias_mask(n_points: int) -> np.ndarray:
    """2/3 rule: keep k < N/3, so the product of two kept modes cannot alias onto a kept mode."""
    k = np.arange(n_points // 2 + 1)
    return 3 * k < n_points


def rk4_amplification(y: np.ndarray) -> np.ndarray:
    """``|P(i y)|`` for the RK4 stability polynomial ``P(z) = 1 + z + z^2/2 + z^3/6 + z^4/24``.

    Uses the closed form ``|P(iy)|^2 = 1 - y^6/72 + y^8/576``; it is <= 1 iff ``y <= sqrt(8)``.
    """
    return np.sqrt(1.0 - y**6 / 72.0 + y**8 / 576.0)


def is_stable(dt: float, speed: float, nu: float, n_points: int) -> bool:
    """Frozen-coefficient IF-RK4 stability of step ``dt`` on every retained mode.

    Mode ``kappa`` advected at speed ``U`` and damped by viscosity is amplified per step by
    ``exp(-nu kappa^2 dt) |P(i kappa U dt)|`` (the integrating factor is exact); this checks
    that the factor is <= 1 for all ``0 < k < N/3``.
    """
    kappa = wavenumbers(n_points)[dealias_mask(n_points)][1:]
    gain = np.exp(-nu * kappa**2 * dt) * rk4_amplification(kappa * speed * dt)
    return bool(np.all(gain <= 1.0 + 1e-12))


def stable_dt(speed: float, nu: float, n_points: int, *, safety: float = 0.5) -> float:
    """Largest step passing ``is_stable``, times ``safety``.

    Pure advection needs ``kappa_max U dt <= sqrt(8)`` (a CFL number of
    sqrt(8) / (2 pi / 3) ~ 1.35 in ``dx``), but modes the viscosity kills within a step may
    sit outside the RK4 region: the binding modes are the ones that are both fast and weakly
    damped.  ``safety = 0.5`` covers what the frozen-coefficient argument ignores (variable
    speed, the nonlinearity).
    """
    kappa_max = 2.0 * np.pi * ((n_points - 1) // 3)
    if speed <= 0.0 or kappa_max <= 0.0:
        return np.inf
    lo = np.sqrt(8.0) / (kappa_max * speed)  # always stable: no damping needed
    hi = lo
    while is_stable(hi * 2.0, speed, nu, n_points) and hi < 1e6 * lo:
        hi *= 2.0
    hi *= 2.0
    for _ in range(40):  # bisection between a stable `lo` and an unstable `hi`
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if is_stable(mid, speed, nu, n_points) else (lo, mid)
    return safety * lo


def default_dt_max(nu: float) -> float:
    """Accuracy cap ``min(DT_MAX, DT_PER_NU * nu)`` on the time step."""
    return min(DT_MAX, DT_PER_NU * nu)


def choose_dt(
    speed: float, nu: float, n_points: int, dt_max: float, max_travel: float = MAX_TRAVEL
) -> float:
    """Time step: the smallest of the stability bound (``stable_dt``) and the accuracy caps.

    In practice the accuracy caps bind: IF-RK4 stays bounded far beyond them (the viscous
    factor damps the fast modes), but loses accuracy (order reduction from the stiff
    integrating factor makes the error fall only like dt^2..dt^3).
    """
    travel_dt = max_travel / speed if speed > 0.0 else np.inf
    dt = min(dt_max, travel_dt)
    # One cheap check (with the safety factor of stable_dt) usually suffices; search only
    # when the accuracy caps are not already stable.
    if is_stable(2.0 * dt, speed, nu, n_points):
        return float(dt)
    return float(min(dt, stable_dt(speed, nu, n_points)))


def _nonlinear(u_hat: np.ndarray, coef: np.ndarray, n_points: int) -> np.ndarray:
    """Dealiased ``-(u^2/2)_x`` in Fourier space; ``coef = -(i kappa / 2) * mask``."""
    u = sfft.irfft(u_hat, n=n_points, axis=-1)
    return coef * sfft.rfft(u * u, axis=-1)


def _if_rk4_step(
    u_hat: np.ndarray, dt: float, decay: np.ndarray, coef: np.ndarray, n_points: int, k1: np.ndarray
) -> np.ndarray:
    """One IF-RK4 step of ``u_hat' = -nu kappa^2 u_hat + N(u_hat)``.

    ``decay = exp(-nu kappa^2 dt / 2)``; ``k1 = N(u_hat)`` is passed in because the caller
    already needed ``u`` in physical space for the speed estimate.
    """
    half = 0.5 * dt
    k2 = _nonlinear(decay * (u_hat + half * k1), coef, n_points)
    k3 = _nonlinear(decay * u_hat + half * k2, coef, n_points)
    k4 = _nonlinear(decay * decay * u_hat + dt * decay * k3, coef, n_points)
    return decay * decay * (u_hat + (dt / 6.0) * k1) + (dt / 6.0) * (2.0 * decay * (k2 + k3) + k4)


def _solve_chunk(
    u0: np.ndarray, nu: float, t_final: float, dt_max: float, max_travel: float
) -> tuple[np.ndarray, int]:
    n_points = u0.shape[-1]
    kappa = wavenumbers(n_points)
    coef = -0.5j * kappa * dealias_mask(n_points)
    u_hat = sfft.rfft(u0, axis=-1)
    t, steps = 0.0, 0
    while t < t_final:
        u = sfft.irfft(u_hat, n=n_points, axis=-1)
        k1 = coef * sfft.rfft(u * u, axis=-1)
        # max|u| is non-increasing for viscous Burgers, so re-choosing dt each step lets it
        # grow as the solution decays; the final step lands exactly on t_final.
        dt = choose_dt(float(np.max(np.abs(u))), nu, n_points, dt_max, max_travel)
        dt = min(dt, t_final - t)
        if t_final - t - dt < 1e-12 * t_final:
            dt = t_final - t
        decay = np.exp(-0.5 * nu * kappa**2 * dt)
        u_hat = _if_rk4_step(u_hat, dt, decay, coef, n_points, k1)
        t += dt
        steps += 1
    return sfft.irfft(u_hat, n=n_points, axis=-1), steps


def solve_burgers(
    u0: np.ndarray,
    nu: float,
    t_final: float = 1.0,
    *,
    dt_max: float | None = None,
    max_travel: float = MAX_TRAVEL,
    chunk: int = CHUNK,
    workers: int | None = None,
    return_steps: bool = False,
) -> np.ndarray | tuple[np.ndarray, int]:
    """Advance periodic viscous Burgers from ``u0`` (grid values on ``x_j = j/N``) to ``t_final``.

    Args:
        u0: array ``[..., N]``; leading axes are a batch, solved together in chunks of
            ``chunk`` rows (each chunk picks its own adaptive step).
        workers: threads solving chunks concurrently (numpy and scipy.fft release the GIL);
            default ``min(4, os.cpu_count())``.  Results do not depend on it.
        nu: viscosity (> 0).
        t_final: end time.
        dt_max, max_travel: accuracy caps; each step is
            ``min(dt_max, max_travel / max|u|, stable_dt(max|u|))`` (see ``choose_dt``);
            ``dt_max`` defaults to ``min(5e-3, 0.1 nu)``.
        return_steps: also return the largest number of steps any chunk took.

    Returns:
        float64 array with the shape of ``u0`` (and the step count if asked).
    """
    if nu <= 0.0:
        raise ValueError(f"nu must be positive, got {nu}")
    if t_final < 0.0:
        raise ValueError(f"t_final must be >= 0, got {t_final}")
    if dt_max is None:
        dt_max = default_dt_max(nu)
    u0 = np.asarray(u0, dtype=np.float64)
    flat = u0.reshape(-1, u0.shape[-1])
    starts = range(0, flat.shape[0], chunk)

    def run(start: int) -> tuple[np.ndarray, int]:
        return _solve_chunk(flat[start : start + chunk], nu, t_final, dt_max, max_travel)

    with ThreadPoolExecutor(default_workers(workers)) as pool:
        results = list(pool.map(run, starts))
    out = np.concatenate([res for res, _ in results], axis=0).reshape(u0.shape)
    max_steps = max(steps for _, steps in results)
    return (out, max_steps) if return_steps else out


def default_solve_resolution(resolution: int) -> int:
    """Smallest multiple of ``resolution`` that is >= ``MIN_SOLVE_RESOLUTION``."""
    return resolution * -(-MIN_SOLVE_RESOLUTION // resolution)


def burgers(
    n: int,
    resolution: int,
    *,
    nu: float = 0.1,
    seed: SeedLike = 0,
    solve_resolution: int | None = None,
    t_final: float = 1.0,
    ic_modes: int = IC_MODES,
    dt_max: float | None = None,
    max_travel: float = MAX_TRAVEL,
    workers: int | None = None,
) -> dict[str, np.ndarray]:
    """Generate ``n`` Burgers pairs ``(u0, u(t_final))`` at ``resolution`` points on (0, 1).

    The initial condition is ``grf_periodic_1d`` (sigma=25, tau=5, alpha=2, ``ic_modes``
    modes) evaluated on the fine grid of ``solve_resolution`` points; the solution is computed
    there and both are subsampled with stride ``solve_resolution // resolution``, so the
    output points ``x_j = j / resolution`` are a subset of the fine grid.

    Args:
        n: number of samples.
        resolution: output grid size.
        nu: viscosity (0.1 in the FNO paper).
        seed: int or Generator for the initial conditions.
        solve_resolution: fine grid size, a multiple of ``resolution``; default the smallest
            multiple >= 1024.  For nu = 0.01 use >= 2048 (see docs/DATA.md).
        t_final: end time.
        ic_modes: Fourier modes in the initial condition.
        dt_max, max_travel: time-step accuracy caps (see ``choose_dt``).
        workers: solver threads (see ``solve_burgers``); the data do not depend on it.

    Returns:
        ``x``: u0 ``[n, resolution, 1]``, ``y``: u(t_final) ``[n, resolution, 1]``,
        ``grid``: ``[resolution, 1]`` coordinates; all float32.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    fine = default_solve_resolution(resolution) if solve_resolution is None else solve_resolution
    if fine % resolution != 0:
        raise ValueError(
            f"solve_resolution ({fine}) must be a multiple of resolution ({resolution}) so the "
            f"output grid is the solve grid taken with an integer stride"
        )
    stride = fine // resolution
    u0 = grf_periodic_1d(n, fine, n_modes=ic_modes, seed=seed).astype(np.float64)
    u1 = solve_burgers(u0, nu, t_final, dt_max=dt_max, max_travel=max_travel, workers=workers)
    grid = np.arange(resolution, dtype=np.float64) / resolution
    return {
        "x": u0[:, ::stride, None].astype(np.float32),
        "y": u1[:, ::stride, None].astype(np.float32),
        "grid": grid[:, None].astype(np.float32),
    }
