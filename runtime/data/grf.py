"""Gaussian random field samplers used as random inputs by the PDE data generators.

Three fields, all sampled on the host with numpy (float64 inside, float32 out):

* ``grf_periodic_1d`` -- periodic field on (0, 1), the FNO Burgers initial condition.
* ``grf_neumann_2d``  -- field on the unit square with a Neumann (cosine) expansion, the
  FNO Darcy coefficient before thresholding.
* ``grf_rbf_1d``      -- field on [0, 1] with a squared-exponential (RBF) kernel, the
  DeepONet antiderivative input.

Every sampler takes ``seed`` as an ``int`` or a ``numpy.random.Generator`` and draws its
normals sample by sample (shape ``(n, ...)``), so the first ``k`` samples of a call with
``n > k`` equal a call with ``n = k`` and the same seed.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

SeedLike = int | np.random.Generator


def as_generator(seed: SeedLike) -> np.random.Generator:
    """Return ``seed`` if it already is a Generator, else a fresh PCG64 Generator seeded with it."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


# --------------------------------------------------------------------------------------
# 1-D periodic field (FNO Burgers initial condition)
# --------------------------------------------------------------------------------------


def periodic_mode_std(n_modes: int, *, sigma: float, tau: float, alpha: float) -> np.ndarray:
    """Standard deviations ``sigma * (4 pi^2 k^2 + tau^2)^(-alpha/2)`` for ``k = 1..n_modes``.

    These are the square roots of the eigenvalues of ``C = sigma^2 (-Delta + tau^2 I)^(-alpha)``
    on the periodic unit interval, whose eigenfunctions are ``sqrt(2) cos(2 pi k x)`` and
    ``sqrt(2) sin(2 pi k x)`` (orthonormal in L^2(0, 1)) with ``-Delta`` eigenvalue
    ``4 pi^2 k^2``.
    """
    k = np.arange(1, n_modes + 1, dtype=np.float64)
    return sigma * (4.0 * np.pi**2 * k**2 + tau**2) ** (-alpha / 2.0)


def _eval_trig_series(cos_coef: np.ndarray, sin_coef: np.ndarray, resolution: int) -> np.ndarray:
    """Evaluate ``sum_k c_k cos(2 pi k x) + s_k sin(2 pi k x)`` (k >= 1) at ``x_j = j / resolution``.

    An inverse real FFT evaluates the series exactly at the grid points when every mode is
    below that grid's Nyquist frequency.  When it is not (more modes than the grid can
    carry) we evaluate on an integer multiple of the grid and keep every r-th point, which
    is still exact at ``x_j`` -- no aliasing of the coefficients is involved.
    """
    n_modes = cos_coef.shape[-1]
    refine = 1
    while (resolution * refine) // 2 <= n_modes:
        refine += 1
    fine = resolution * refine
    spec = np.zeros(cos_coef.shape[:-1] + (fine // 2 + 1,), dtype=np.complex128)
    # irfft(X)[j] = (1/M) [X_0 + 2 sum_k Re(X_k e^{2 pi i k j / M})] for k below Nyquist, and
    # 2 Re((c - i s) e^{i theta}) = 2 (c cos theta + s sin theta): hence the factor M / 2.
    spec[..., 1 : n_modes + 1] = (fine / 2.0) * (cos_coef - 1j * sin_coef)
    return sfft.irfft(spec, n=fine, axis=-1)[..., ::refine]


def grf_periodic_1d(
    n: int,
    resolution: int,
    *,
    sigma: float = 25.0,
    tau: float = 5.0,
    alpha: float = 2.0,
    n_modes: int | None = None,
    seed: SeedLike = 0,
) -> np.ndarray:
    """Sample ``n`` periodic fields on (0, 1) from ``N(0, sigma^2 (-Delta + tau^2 I)^(-alpha))``.

    Convention (derived, not guessed).  The FNO paper states the Burgers initial condition
    as ``N(0, 625 (-Delta + 25 I)^(-2))``.  With ``C = sigma^2 (-Delta + tau^2 I)^(-alpha)``
    that is ``sigma = 25``, ``tau = 5``, ``alpha = 2`` -- so ``sigma^2 = 625 = 25**2`` is the
    covariance prefactor and ``sigma = 25`` multiplies the *spectral amplitudes*.  (Reading
    ``sigma = 25**2`` as the amplitude multiplier would give covariance ``625**2 (...)^(-2)``
    and fields of standard deviation about 15 instead of about 0.6.)  The Karhunen-Loeve
    expansion sampled here is

        u(x) = sum_{k=1}^{K} sqrt(2) * s_k * (xi_k cos(2 pi k x) + eta_k sin(2 pi k x)),
        s_k  = sigma * (4 pi^2 k^2 + tau^2)^(-alpha/2),   xi_k, eta_k ~ N(0, 1) i.i.d.

    The constant (k = 0) mode is left out, as in the FNO data code, so every sample has
    exactly zero spatial mean.  That is the one departure from the stated measure (which
    would give the mean a variance ``sigma^2 tau^(-2 alpha) = 1``).

    Args:
        n: number of samples.
        resolution: number of grid points ``x_j = j / resolution``, ``j = 0..resolution-1``.
        sigma, tau, alpha: covariance parameters as above.
        n_modes: ``K``, the number of Fourier modes; default ``resolution // 2`` (the FNO
            ``GRF1`` convention of half the grid size).  The field is evaluated exactly at
            the grid points even when ``K`` exceeds what the grid resolves.
        seed: int or Generator.  Normals are drawn with shape ``(n, 2, K)``.

    Returns:
        float32 array ``[n, resolution]``.
    """
    k_max = resolution // 2 if n_modes is None else n_modes
    _check_positive(n=n, resolution=resolution, n_modes=k_max)
    rng = as_generator(seed)
    z = rng.standard_normal((n, 2, k_max))
    amp = np.sqrt(2.0) * periodic_mode_std(k_max, sigma=sigma, tau=tau, alpha=alpha)
    u = _eval_trig_series(amp * z[:, 0], amp * z[:, 1], resolution)
    return u.astype(np.float32)


# --------------------------------------------------------------------------------------
# 2-D Neumann field on the unit square (FNO Darcy coefficient)
# --------------------------------------------------------------------------------------


def neumann_mode_std(n_modes: int, *, sigma: float, tau: float, alpha: float) -> np.ndarray:
    """``[K, K]`` KL standard deviations for ``C = sigma^2 (-Delta_N + tau^2 I)^(-alpha)``.

    Neumann eigenfunctions on (0,1)^2 are ``c_{k1} c_{k2} cos(pi k1 x) cos(pi k2 y)`` with
    ``c_0 = 1``, ``c_k = sqrt(2)`` (L^2-orthonormal) and ``-Delta`` eigenvalue
    ``pi^2 (k1^2 + k2^2)``.  The normalisation constants are folded into the result.
    The (0, 0) entry is zeroed: the constant mode is dropped (zero spatial mean).
    """
    k = np.arange(n_modes, dtype=np.float64)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    std = sigma * (np.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2.0)
    norm = np.where(k == 0, 1.0, np.sqrt(2.0))
    std = std * norm[:, None] * norm[None, :]
    std[0, 0] = 0.0
    return std


def grf_neumann_2d(
    n: int,
    resolution: int,
    *,
    sigma: float = 1.0,
    tau: float = 3.0,
    alpha: float = 2.0,
    n_modes: int | None = None,
    seed: SeedLike = 0,
) -> np.ndarray:
    """Sample ``n`` fields on the unit square from ``N(0, sigma^2 (-Delta + tau^2 I)^(-alpha))``.

    ``-Delta`` carries zero Neumann boundary conditions, so the Karhunen-Loeve basis is the
    cosine basis (the FNO Darcy data code uses the same basis through an inverse DCT):

        psi(x, y) = sum_{0 <= k1, k2 < K, (k1,k2) != 0} s_k c_k1 c_k2 xi_k cos(pi k1 x) cos(pi k2 y),
        s_k = sigma * (pi^2 (k1^2 + k2^2) + tau^2)^(-alpha/2).

    Defaults ``tau = 3, alpha = 2, sigma = 1`` give the FNO paper's ``N(0, (-Delta + 9 I)^(-2))``
    (the FNO code multiplies by ``tau^(alpha-1)``; the overall scale is irrelevant once the
    field is thresholded).  The constant mode is dropped (zero spatial mean), as in FNO.

    The field is evaluated *exactly* at the vertex grid ``x_i = i / (resolution - 1)``
    (boundary points included) by two dense matrix products with ``cos(pi k x_i)``, so a
    finer grid samples the very same continuous field when ``n_modes`` is fixed.

    Args:
        n: number of samples.
        resolution: points per side including both boundaries (>= 2).
        n_modes: ``K`` cosine modes per direction; default ``resolution``.
        seed: int or Generator.  Normals are drawn with shape ``(n, K, K)``.

    Returns:
        float32 array ``[n, resolution, resolution]`` (axis 1 is x, axis 2 is y).
    """
    return neumann_field_2d(
        n, resolution, sigma=sigma, tau=tau, alpha=alpha, n_modes=n_modes, seed=seed
    ).astype(np.float32)


def neumann_field_2d(
    n: int,
    resolution: int,
    *,
    sigma: float = 1.0,
    tau: float = 3.0,
    alpha: float = 2.0,
    n_modes: int | None = None,
    seed: SeedLike = 0,
) -> np.ndarray:
    """``grf_neumann_2d`` in float64, for callers that threshold the field (a float32 cast
    could turn a tiny negative value into -0.0, which compares >= 0)."""
    k_max = resolution if n_modes is None else n_modes
    _check_positive(n=n, n_modes=k_max)
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2 (it includes both boundaries), got {resolution}")
    rng = as_generator(seed)
    std = neumann_mode_std(k_max, sigma=sigma, tau=tau, alpha=alpha)
    basis = cosine_basis(resolution, k_max)
    out = np.empty((n, resolution, resolution), dtype=np.float64)
    for i in range(n):  # one sample at a time keeps memory at O(K^2), and the draws ordered
        coef = std * rng.standard_normal((k_max, k_max))
        out[i] = basis @ coef @ basis.T
    return out


def cosine_basis(resolution: int, n_modes: int) -> np.ndarray:
    """``[resolution, n_modes]`` matrix ``cos(pi k x_i)`` on the vertex grid of (0, 1)."""
    x = np.linspace(0.0, 1.0, resolution)
    return np.cos(np.pi * np.outer(x, np.arange(n_modes)))


# --------------------------------------------------------------------------------------
# 1-D RBF-kernel field (DeepONet antiderivative input)
# --------------------------------------------------------------------------------------


def rbf_cholesky(x: np.ndarray, length_scale: float, *, jitter: float = 1e-12) -> np.ndarray:
    """Lower Cholesky factor of ``exp(-|x - x'|^2 / (2 l^2)) + jitter * I``.

    The squared-exponential kernel matrix is numerically singular on a fine grid (its
    eigenvalues decay faster than exponentially), so a small diagonal jitter is needed; it
    adds white noise of standard deviation ``sqrt(jitter)`` (1e-6 by default, far below
    float32 resolution of O(1) values).  The jitter is raised tenfold until the
    factorisation succeeds.
    """
    d = x[:, None] - x[None, :]
    kernel = np.exp(-0.5 * (d / length_scale) ** 2)
    eye = np.eye(len(x))
    while True:
        try:
            return np.linalg.cholesky(kernel + jitter * eye)
        except np.linalg.LinAlgError:
            jitter *= 10.0
            if jitter > 1e-4:
                raise


def grf_rbf_1d(
    n: int,
    x: np.ndarray,
    *,
    length_scale: float = 0.2,
    seed: SeedLike = 0,
) -> np.ndarray:
    """Sample ``n`` zero-mean, unit-variance GP paths with RBF kernel at the points ``x``.

    Kernel ``k(x, x') = exp(-|x - x'|^2 / (2 l^2))`` with ``l = length_scale`` (0.2 is the
    DeepONet antiderivative setting of Lu et al. 2021).  Sampled as ``L @ z`` with ``L`` the
    Cholesky factor of the kernel matrix on ``x`` (see ``rbf_cholesky``).

    Returns a float64 array ``[n, len(x)]``: callers post-process (interpolate, integrate)
    before casting to float32.
    """
    _check_positive(n=n)
    x = np.asarray(x, dtype=np.float64)
    chol = rbf_cholesky(x, length_scale)
    z = as_generator(seed).standard_normal((n, len(x)))
    return z @ chol.T
