"""Tests for the built-in PDE data generators (catspec.runtime.data): exact solutions,
convergence orders, conservation laws, shapes/dtypes, determinism and the registry."""

from __future__ import annotations

import numpy as np
import pytest
from catspec.runtime.data import (
    GENERATORS,
    antiderivative,
    burgers,
    darcy,
    generate,
    grf_neumann_2d,
    grf_periodic_1d,
    grf_rbf_1d,
    integrate_from_zero,
    load_npz,
    save_npz,
    solve_burgers,
    solve_darcy,
)
from catspec.runtime.data.grf import periodic_mode_std
from scipy.integrate import trapezoid
from scipy.special import ive


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def periodic_grid(n: int) -> np.ndarray:
    return np.arange(n) / n


# ----------------------------------------------------------------------------- GRF


def test_grf_periodic_1d_shape_dtype_mean_and_determinism() -> None:
    u = grf_periodic_1d(16, 128, seed=3)
    assert u.shape == (16, 128) and u.dtype == np.float32
    # The constant mode is excluded, and the grid sum of every other mode is exactly zero.
    assert np.max(np.abs(u.astype(np.float64).mean(axis=1))) < 1e-7
    np.testing.assert_array_equal(u, grf_periodic_1d(16, 128, seed=3))
    assert not np.array_equal(u, grf_periodic_1d(16, 128, seed=4))
    # Draws are sample-major: a prefix of a bigger batch is the smaller batch.
    np.testing.assert_array_equal(u[:5], grf_periodic_1d(5, 128, seed=3))


def test_grf_periodic_1d_spectrum_matches_covariance() -> None:
    n, res = 4000, 64
    u = grf_periodic_1d(n, res, seed=0).astype(np.float64)
    power = np.mean(np.abs(np.fft.rfft(u, axis=1)) ** 2, axis=0) / res**2
    # E|rfft_k|^2 / N^2 = s_k^2 with s_k = 25 (4 pi^2 k^2 + 25)^-1 (covariance 625(-D+25)^-2).
    expected = periodic_mode_std(10, sigma=25.0, tau=5.0, alpha=2.0) ** 2
    np.testing.assert_allclose(power[1:11], expected, rtol=0.12)
    # Pointwise variance = sum_k 2 s_k^2 over the sampled modes.
    total = 2.0 * np.sum(periodic_mode_std(res // 2, sigma=25.0, tau=5.0, alpha=2.0) ** 2)
    assert abs(u.var() / total - 1.0) < 0.05


def test_grf_periodic_1d_is_grid_independent_for_fixed_modes() -> None:
    fine = grf_periodic_1d(3, 256, n_modes=64, seed=1)
    coarse = grf_periodic_1d(3, 64, n_modes=64, seed=1)  # 64 modes exceed this grid's Nyquist
    np.testing.assert_allclose(coarse, fine[:, ::4], atol=1e-6)


def test_grf_neumann_2d_shape_mean_nesting() -> None:
    psi = grf_neumann_2d(4, 41, n_modes=20, seed=2).astype(np.float64)
    assert psi.shape == (4, 41, 41)
    # Trapezoid weights integrate cos(pi k x) exactly to zero on the vertex grid (k < 80).
    w = np.ones(41)
    w[[0, -1]] = 0.5
    mean = np.einsum("i,j,nij->n", w, w, psi) / 40**2
    assert np.max(np.abs(mean)) < 1e-6
    fine = grf_neumann_2d(4, 81, n_modes=20, seed=2)
    np.testing.assert_allclose(psi, fine[:, ::2, ::2], atol=1e-6)
    # Neumann basis: zero normal derivative at the walls (one-sided difference is O(h^2)).
    assert np.max(np.abs(fine[:, 1, :] - fine[:, 0, :])) < 0.05 * np.max(np.abs(fine))


def test_grf_rbf_covariance() -> None:
    x = np.linspace(0.0, 1.0, 51)
    u = grf_rbf_1d(4000, x, length_scale=0.2, seed=0)
    cov = np.cov(u[:, [25, 30]].T)
    assert abs(cov[0, 0] - 1.0) < 0.08
    assert abs(cov[0, 1] - np.exp(-0.5 * (0.1 / 0.2) ** 2)) < 0.08


# ----------------------------------------------------------------------------- Burgers


def cole_hopf_sine(x: np.ndarray, t: float, nu: float, amp: float) -> np.ndarray:
    """Exact Burgers solution for u0 = amp sin(2 pi x) via Cole-Hopf.

    phi0 = exp(-(1/2nu) int_0^x u0) is proportional to exp(z cos 2 pi x), z = amp/(4 pi nu),
    whose Fourier series is I_0(z) + 2 sum_n I_n(z) cos(2 pi n x); the heat flow damps term n
    by exp(-4 pi^2 n^2 nu t), and u = -2 nu phi_x / phi.  Exponentially scaled Bessel
    functions (ive) keep large z finite; the common factor cancels in the ratio.
    """
    z = amp / (4.0 * np.pi * nu)
    n = np.arange(1, 201)[:, None]
    w = ive(n, z) * np.exp(-nu * (2.0 * np.pi * n) ** 2 * t)
    num = 8.0 * np.pi * nu * np.sum(n * w * np.sin(2.0 * np.pi * n * x), axis=0)
    den = ive(0, z) + 2.0 * np.sum(w * np.cos(2.0 * np.pi * n * x), axis=0)
    return num / den


def test_burgers_heat_limit() -> None:
    x = periodic_grid(64)
    amp, nu = 1e-6, 0.1
    u = solve_burgers(amp * np.sin(2.0 * np.pi * x), nu, 1.0)
    exact = amp * np.exp(-4.0 * np.pi**2 * nu) * np.sin(2.0 * np.pi * x)
    # Nonlinear correction is O(amp) relative (~8e-9 here); the rest is roundoff.
    assert rel_err(u, exact) < 2e-8


@pytest.mark.parametrize(("nu", "n_points", "tol"), [(0.1, 128, 1e-8), (0.01, 512, 1e-7)])
def test_burgers_cole_hopf(nu: float, n_points: int, tol: float) -> None:
    x = periodic_grid(n_points)
    for t in (0.3, 1.0):
        u = solve_burgers(np.sin(2.0 * np.pi * x), nu, t)
        assert rel_err(u, cole_hopf_sine(x, t, nu, 1.0)) < tol, t


def test_burgers_mean_conserved_energy_decays() -> None:
    u0 = grf_periodic_1d(4, 256, n_modes=100, seed=5).astype(np.float64) + 0.3
    energies = [np.mean(u0**2, axis=1)]
    u = u0
    for _ in range(4):
        u = solve_burgers(u, 0.05, 0.25)
        np.testing.assert_allclose(u.mean(axis=1), 0.3, atol=1e-13)
        energies.append(np.mean(u**2, axis=1))
    assert np.all(np.diff(np.stack(energies), axis=0) < 0.0)
    # Maximum principle: max|u| never grows.
    assert np.max(np.abs(u)) <= np.max(np.abs(u0))


def test_burgers_generator_shapes_nesting_and_validation() -> None:
    data = burgers(3, 64, nu=0.1, seed=7, solve_resolution=256)
    assert data["x"].shape == data["y"].shape == (3, 64, 1)
    assert data["grid"].shape == (64, 1)
    assert all(v.dtype == np.float32 for v in data.values())
    np.testing.assert_allclose(data["grid"][:, 0], periodic_grid(64), atol=1e-7)
    # The output is the solve grid taken with stride 4.
    u0 = grf_periodic_1d(3, 256, n_modes=512, seed=7)
    np.testing.assert_array_equal(data["x"][..., 0], u0[:, ::4])
    u1 = solve_burgers(u0.astype(np.float64), 0.1, 1.0)
    np.testing.assert_allclose(data["y"][..., 0], u1[:, ::4], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(data["y"], burgers(3, 64, seed=7, solve_resolution=256)["y"])
    with pytest.raises(ValueError, match="multiple of resolution"):
        burgers(2, 64, solve_resolution=1000)


def test_burgers_low_viscosity_is_stable_and_resolved() -> None:
    coarse = burgers(4, 128, nu=0.01, seed=11, solve_resolution=1024)
    fine = burgers(4, 128, nu=0.01, seed=11, solve_resolution=2048)
    y = coarse["y"].astype(np.float64)
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) <= np.max(np.abs(coarse["x"]))
    # Fronts survive to t = 1: slopes far steeper than the smooth nu = 0.1 solution's.
    slope = np.max(np.abs(np.diff(y[..., 0], axis=1))) * 128
    smooth = burgers(4, 128, nu=0.1, seed=11, solve_resolution=1024)["y"].astype(np.float64)
    assert slope > 20.0 * np.max(np.abs(np.diff(smooth[..., 0], axis=1))) * 128
    # Grid-converged: doubling the solve grid changes the output by float32 round-off only.
    assert rel_err(y, fine["y"].astype(np.float64)) < 1e-6


# ----------------------------------------------------------------------------- Darcy


def manufactured(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a = 1 + x + y, u = sin(pi x) sin(pi y), f = -div(a grad u) computed by hand."""
    x = np.linspace(0.0, 1.0, m)
    xx, yy = np.meshgrid(x, x, indexing="ij")
    a = 1.0 + xx + yy
    u = np.sin(np.pi * xx) * np.sin(np.pi * yy)
    grad_a_dot_grad_u = np.pi * (
        np.cos(np.pi * xx) * np.sin(np.pi * yy) + np.sin(np.pi * xx) * np.cos(np.pi * yy)
    )
    f = -grad_a_dot_grad_u + a * 2.0 * np.pi**2 * u
    return a, f, u


@pytest.mark.parametrize("face", ["harmonic", "arithmetic"])
def test_darcy_manufactured_solution_second_order(face: str) -> None:
    errors = []
    for m in (33, 65):
        a, f, exact = manufactured(m)
        errors.append(np.max(np.abs(solve_darcy(a, f, face=face) - exact)))
    assert errors[1] < 3e-4
    order = np.log2(errors[0] / errors[1])
    assert 1.8 < order < 2.2, order


def test_darcy_poisson_centre_value() -> None:
    # -Delta u = 1 on the unit square: u(1/2, 1/2) = 0.0736713532814... (series solution).
    u = solve_darcy(np.ones((81, 81)), 1.0)
    assert abs(u[40, 40] - 0.0736713532814) < 1e-3
    assert np.all(u[[0, -1], :] == 0.0) and np.all(u[:, [0, -1]] == 0.0)


def test_darcy_generator() -> None:
    data = darcy(3, 15, seed=1, solve_resolution=29)
    assert data["x"].shape == data["y"].shape == (3, 15, 15, 1)
    assert data["grid"].shape == (15, 15, 2)
    assert all(v.dtype == np.float32 for v in data.values())
    assert set(np.unique(data["x"])) <= {3.0, 12.0}
    u = data["y"][..., 0]
    assert np.all(u[:, 1:-1, 1:-1] > 0.0)  # maximum principle with f = 1 > 0
    assert np.all(u[:, 0, :] == 0.0) and np.all(u[:, :, -1] == 0.0)
    np.testing.assert_array_equal(data["y"], darcy(3, 15, seed=1, solve_resolution=29)["y"])
    np.testing.assert_array_equal(data["y"][:2], darcy(2, 15, seed=1, solve_resolution=29)["y"])
    # Same samples, output taken from the solve grid with stride 2 instead of 1.
    full = darcy(3, 29, seed=1, solve_resolution=29)
    np.testing.assert_array_equal(data["y"], full["y"][:, ::2, ::2])


def test_darcy_rejects_non_nesting_resolution() -> None:
    with pytest.raises(ValueError, match=r"\(solve_resolution - 1\) must be a multiple"):
        darcy(1, 30, solve_resolution=141)


# ----------------------------------------------------------------------------- antiderivative


def test_integrate_from_zero_cosine() -> None:
    x = np.linspace(0.0, 1.0, 1001)
    y = np.linspace(0.0, 1.0, 77)
    got = integrate_from_zero(np.cos(2.0 * np.pi * x), x, y)
    np.testing.assert_allclose(got, np.sin(2.0 * np.pi * y) / (2.0 * np.pi), atol=1e-10)


def test_antiderivative_generator() -> None:
    data = antiderivative(8, sensors=100, n_points=50, seed=0)
    assert data["branch"].shape == (8, 100)
    assert data["trunk"].shape == (50, 1)
    assert data["y"].shape == (8, 50)
    assert all(v.dtype == np.float32 for v in data.values())
    assert np.all(data["y"][:, 0] == 0.0)  # G(u)(0) = 0
    # Trapezoid rule on the 100 sensors agrees with the exact spline integral to O(h^2).
    sensors = np.linspace(0.0, 1.0, 100)
    trap = trapezoid(data["branch"].astype(np.float64), sensors, axis=1)
    np.testing.assert_allclose(data["y"][:, -1], trap, atol=1e-4)
    np.testing.assert_array_equal(data["y"], antiderivative(8, n_points=50, seed=0)["y"])


# ----------------------------------------------------------------------------- registry


def test_registry_generate_and_did_you_mean() -> None:
    assert set(GENERATORS) == {"burgers", "darcy", "antiderivative"}
    data = generate("antiderivative", n=2, n_points=10)
    assert data["y"].shape == (2, 10)
    with pytest.raises(ValueError, match="Did you mean 'darcy'"):
        generate("darcey")
    with pytest.raises(ValueError, match="Known: antiderivative, burgers, darcy"):
        generate("navier_stokes")


def test_save_npz_roundtrip_is_atomic(tmp_path) -> None:
    data = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.ones(2, np.float32)}
    target = tmp_path / "sub" / "set.npz"
    assert save_npz(target, data) == target
    loaded = load_npz(target)
    assert set(loaded) == {"x", "y"}
    np.testing.assert_array_equal(loaded["x"], data["x"])
    save_npz(target, {"x": np.zeros(1, np.float32)})  # replaces the whole file
    assert set(load_npz(target)) == {"x"}
    assert sorted(p.name for p in target.parent.iterdir()) == ["set.npz"]  # no temp left over
