"""2-D Darcy flow data: thresholded GRF permeability a -> pressure u (the FNO benchmark).

Equation, on the unit square with homogeneous Dirichlet data:

    -div(a(x) grad u(x)) = f(x)   in (0,1)^2,      u = 0 on the boundary,   f = 1,

with ``a = 12`` where a GRF ``psi ~ N(0, (-Delta + 9 I)^(-2))`` (Neumann Laplacian) is >= 0
and ``a = 3`` elsewhere.

Solver (``solve_darcy``): cell-vertex grid of M x M points including the boundary
(h = 1/(M-1)), conservative 5-point finite differences

    -[a_{i+1/2,j}(u_{i+1,j}-u_{ij}) - a_{i-1/2,j}(u_{ij}-u_{i-1,j})
      + a_{i,j+1/2}(u_{i,j+1}-u_{ij}) - a_{i,j-1/2}(u_{ij}-u_{i,j-1})] / h^2 = f_ij,

with face values ``a_{i+1/2,j}`` the harmonic mean of the two vertex values (default; the
flux-continuous choice for a piecewise-constant coefficient) or their arithmetic mean.
The sparse SPD system is factorised with SuperLU (``scipy.sparse.linalg.splu``), one
sample at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
from scipy import sparse
from scipy.sparse import linalg as spla

from ._threads import default_workers
from .grf import SeedLike, as_generator, neumann_field_2d

FaceMean = Literal["harmonic", "arithmetic"]

# FNO's Darcy data: 421 points per side; 141 = 140 + 1 keeps the same nesting idea at lower
# cost: strides 2, 4, 5, 7, 10, ... give 71, 36, 29, 21, 15, ... points.
DEFAULT_SOLVE_RESOLUTION = 141
# Cosine modes per direction in the GRF; fixed, so one seed gives the same continuous field
# at every solve resolution.  The dropped tail (|k| beyond 256) has pointwise standard
# deviation ~3e-4 against ~0.08 for the field (from the spectrum), so it moves the threshold
# contour only where |psi| is that small.
GRF_MODES = 256
A_POSITIVE = 12.0
A_NEGATIVE = 3.0
# Samples whose coefficients are drawn, then solved concurrently, per block (bounds memory).
BLOCK = 64


def _harmonic(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return 2.0 * p * q / (p + q)


def _arithmetic(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return 0.5 * (p + q)


_FACE_MEANS = {"harmonic": _harmonic, "arithmetic": _arithmetic}


def face_coefficients(a: np.ndarray, face: FaceMean = "harmonic") -> tuple[np.ndarray, np.ndarray]:
    """Coefficient on x-faces ``[M-1, M]`` (between i and i+1) and y-faces ``[M, M-1]``."""
    try:
        mean = _FACE_MEANS[face]
    except KeyError:
        raise ValueError(f"face must be 'harmonic' or 'arithmetic', got {face!r}") from None
    return mean(a[1:, :], a[:-1, :]), mean(a[:, 1:], a[:, :-1])


def assemble(a: np.ndarray, face: FaceMean = "harmonic") -> sparse.csc_matrix:
    """Sparse matrix of the 5-point operator on the ``(M-2)^2`` interior unknowns (row-major)."""
    m = a.shape[0]
    n_in = m - 2
    h2 = (1.0 / (m - 1)) ** 2
    ax, ay = face_coefficients(a, face)
    # Interior point (i, j), 1 <= i, j <= M-2, has faces ax[i-1, j] (west), ax[i, j] (east),
    # ay[i, j-1] (south), ay[i, j] (north).
    west, east = ax[:-1, 1:-1], ax[1:, 1:-1]
    south, north = ay[1:-1, :-1], ay[1:-1, 1:]
    idx = np.arange(n_in * n_in).reshape(n_in, n_in)
    rows = [idx.ravel()]
    cols = [idx.ravel()]
    vals = [((west + east + south + north) / h2).ravel()]
    # Off-diagonal couplings to interior neighbours only: boundary values are zero.
    for src, dst, coef in (
        (idx[1:, :], idx[:-1, :], west[1:, :]),
        (idx[:-1, :], idx[1:, :], east[:-1, :]),
        (idx[:, 1:], idx[:, :-1], south[:, 1:]),
        (idx[:, :-1], idx[:, 1:], north[:, :-1]),
    ):
        rows.append(src.ravel())
        cols.append(dst.ravel())
        vals.append((-coef / h2).ravel())
    shape = (n_in * n_in, n_in * n_in)
    return sparse.csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
    )


def solve_darcy(
    a: np.ndarray, f: np.ndarray | float = 1.0, *, face: FaceMean = "harmonic"
) -> np.ndarray:
    """Solve ``-div(a grad u) = f`` on the unit square, ``u = 0`` on the boundary.

    Args:
        a: ``[M, M]`` positive coefficient at the vertices ``(i h, j h)``, ``h = 1/(M-1)``;
            axis 0 is x, axis 1 is y.
        f: scalar or ``[M, M]`` right-hand side at the vertices (boundary values unused).
        face: ``"harmonic"`` or ``"arithmetic"`` mean of ``a`` on cell faces.

    Returns:
        float64 ``[M, M]`` solution, zero on the boundary.
    """
    a = np.asarray(a, dtype=np.float64)
    m = a.shape[0]
    if a.ndim != 2 or a.shape[1] != m or m < 3:
        raise ValueError(f"a must be a square [M, M] array with M >= 3, got shape {a.shape}")
    if not np.all(a > 0.0):
        raise ValueError("a must be strictly positive for the problem to be elliptic")
    rhs = np.broadcast_to(np.asarray(f, dtype=np.float64), (m, m))[1:-1, 1:-1]
    matrix = assemble(a, face)
    # The matrix is symmetric positive definite: a symmetric ordering without pivoting is
    # both valid and the fastest SuperLU mode for it.
    lu = spla.splu(
        matrix,
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    u = np.zeros((m, m))
    u[1:-1, 1:-1] = lu.solve(np.ascontiguousarray(rhs).ravel()).reshape(m - 2, m - 2)
    return u


def check_nesting(resolution: int, solve_resolution: int) -> int:
    """Return the stride from the solve grid to the output grid, or raise ValueError."""
    if resolution < 2 or solve_resolution < 3:
        raise ValueError(
            f"need resolution >= 2 and solve_resolution >= 3, got {resolution}, {solve_resolution}"
        )
    if (solve_resolution - 1) % (resolution - 1) != 0:
        strides = [s for s in range(1, solve_resolution) if (solve_resolution - 1) % s == 0]
        valid = sorted({(solve_resolution - 1) // s + 1 for s in strides})
        raise ValueError(
            f"resolution {resolution} does not nest in solve_resolution {solve_resolution}: "
            f"(solve_resolution - 1) must be a multiple of (resolution - 1) so that output "
            f"points are solve-grid points (boundaries included); valid resolutions: {valid}"
        )
    return (solve_resolution - 1) // (resolution - 1)


def darcy(
    n: int,
    resolution: int,
    *,
    seed: SeedLike = 0,
    solve_resolution: int = DEFAULT_SOLVE_RESOLUTION,
    grf_modes: int = GRF_MODES,
    face: FaceMean = "harmonic",
    workers: int | None = None,
) -> dict[str, np.ndarray]:
    """Generate ``n`` Darcy pairs ``(a, u)`` on a ``resolution x resolution`` vertex grid.

    Solves on the ``solve_resolution`` grid and keeps every ``stride``-th point,
    ``stride = (solve_resolution - 1) / (resolution - 1)``, so both boundaries are kept and
    the output points are exactly solve-grid points.

    Args:
        n: number of samples.
        resolution: output points per side (boundaries included).
        seed: int or Generator for the GRF.
        solve_resolution: solve-grid points per side; ``(solve_resolution - 1)`` must be a
            multiple of ``(resolution - 1)``.
        grf_modes: cosine modes per direction of the GRF.
        face: face averaging of ``a`` (see ``solve_darcy``).
        workers: solver threads (SuperLU releases the GIL); the data do not depend on it.

    Returns:
        ``x``: a ``[n, res, res, 1]``, ``y``: u ``[n, res, res, 1]``,
        ``grid``: ``[res, res, 2]`` (x, y) coordinates; all float32.
    """
    stride = check_nesting(resolution, solve_resolution)
    rng = as_generator(seed)
    a_out = np.empty((n, resolution, resolution, 1), dtype=np.float32)
    u_out = np.empty_like(a_out)

    def solve(a: np.ndarray) -> np.ndarray:
        return solve_darcy(a, 1.0, face=face)

    with ThreadPoolExecutor(default_workers(workers)) as pool:
        for start in range(0, n, BLOCK):
            count = min(BLOCK, n - start)
            # Drawn in sample order from one stream, so prefixes of n agree.
            psi = neumann_field_2d(count, solve_resolution, n_modes=grf_modes, seed=rng)
            coeffs = np.where(psi >= 0.0, A_POSITIVE, A_NEGATIVE)
            for i, u in enumerate(pool.map(solve, coeffs)):
                a_out[start + i, ..., 0] = coeffs[i, ::stride, ::stride]
                u_out[start + i, ..., 0] = u[::stride, ::stride]
    x = np.linspace(0.0, 1.0, resolution)
    grid = np.stack(np.meshgrid(x, x, indexing="ij"), axis=-1).astype(np.float32)
    return {"x": a_out, "y": u_out, "grid": grid}
