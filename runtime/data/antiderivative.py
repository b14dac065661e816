"""DeepONet antiderivative benchmark data (Lu et al. 2021): u -> G(u)(y) = int_0^y u(s) ds.

The input ``u`` is a zero-mean Gaussian process on [0, 1] with RBF kernel
``exp(-|x - x'|^2 / (2 * 0.2^2))``.  Each path is sampled on a fine uniform grid and
*defined* as the not-a-knot cubic spline through those samples; the branch input is that
spline at ``sensors`` equispaced points and the target is the spline's exact antiderivative
at ``n_points`` equispaced query points (the trunk input), so the data pairs are exactly
consistent with each other -- no quadrature or ODE-solver error.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

from .grf import SeedLike, grf_rbf_1d

# Fine grid for sampling the GP path (DeepXDE's GRF uses 1000 points).  The spline through
# these samples differs from a smooth path by ~h^4 |u''''| / 384 ~ 1e-11 for l = 0.2.
FINE_POINTS = 1001


def integrate_from_zero(u: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``int_{x[0]}^{y} s(t) dt`` where ``s`` is the cubic spline through ``(x, u)`` (last axis).

    Args:
        u: ``[..., N]`` samples at the increasing nodes ``x`` ``[N]``.
        y: ``[P]`` query points inside ``[x[0], x[-1]]``.

    Returns:
        float64 ``[..., P]``.
    """
    spline = CubicSpline(np.asarray(x, np.float64), np.asarray(u, np.float64), axis=-1)
    return spline.antiderivative()(np.asarray(y, np.float64))


def antiderivative(
    n: int,
    *,
    sensors: int = 100,
    n_points: int = 100,
    seed: SeedLike = 0,
    length_scale: float = 0.2,
    fine_points: int = FINE_POINTS,
) -> dict[str, np.ndarray]:
    """Generate ``n`` antiderivative examples in DeepONet's (branch, trunk, y) layout.

    Returns:
        ``branch``: u at ``linspace(0, 1, sensors)``, ``[n, sensors]``;
        ``trunk``: query points ``linspace(0, 1, n_points)``, ``[n_points, 1]`` (shared);
        ``y``: ``G(u)(trunk)``, ``[n, n_points]``; all float32.
    """
    if sensors < 2 or n_points < 1 or fine_points < 4:
        raise ValueError(
            f"need sensors >= 2, n_points >= 1, fine_points >= 4; "
            f"got {sensors}, {n_points}, {fine_points}"
        )
    x_fine = np.linspace(0.0, 1.0, fine_points)
    paths = grf_rbf_1d(n, x_fine, length_scale=length_scale, seed=seed)
    spline = CubicSpline(x_fine, paths, axis=-1)
    x_sensor = np.linspace(0.0, 1.0, sensors)
    y_query = np.linspace(0.0, 1.0, n_points)
    return {
        "branch": spline(x_sensor).astype(np.float32),
        "trunk": y_query[:, None].astype(np.float32),
        "y": spline.antiderivative()(y_query).astype(np.float32),
    }
