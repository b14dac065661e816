"""Operator layers: spectral_conv against an independent NumPy FFT, the shipped FNO, DeepONet
and MgNO specs against hand-written JAX, discretization invariance, typing errors."""

from __future__ import annotations

import itertools

import catspec
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from catspec.backends.jax.params import flatten, nest
from catspec.errors import InputError, SpecError
from conftest import SPECS, max_rel_err
from jax import lax


def _randomize(params, key, scale=0.3):
    """Random values for every parameter (biases start at zero; weights at FNO's U[0, s))."""
    flat = flatten(params)
    keys = jax.random.split(key, len(flat))
    return nest({p: scale * jax.random.normal(k, v.shape, jnp.float32)
                 for (p, v), k in zip(sorted(flat.items()), keys)})


def _complex(w):
    return lax.complex(w[..., 0], w[..., 1])


# -- spectral_conv against NumPy ---------------------------------------------------------


def numpy_spectral_conv(x, w, modes):
    """Reference: loop over every kept frequency, multiply by its complex matrix (float64)."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    d = x.ndim - 2
    grid = x.shape[1:-1]
    axes = tuple(range(1, d + 1))
    xf = np.fft.rfftn(x, axes=axes)
    wc = w[..., 0] + 1j * w[..., 1]
    out = np.zeros((*xf.shape[:-1], w.shape[-2]), np.complex128)
    # Frequencies kept per axis, in the weight layout's order: 0..m-1, then -m..-1
    # (as array indices n-m..n-1) on non-last axes; 0..m-1 on the last (rfft) axis.
    index = [list(range(m)) + list(range(n - m, n)) for m, n in zip(modes[:-1], grid[:-1])]
    index.append(list(range(modes[-1])))
    for kept in itertools.product(*(range(len(ix)) for ix in index)):
        freq = tuple(ix[k] for ix, k in zip(index, kept))
        out[(slice(None), *freq)] = xf[(slice(None), *freq)] @ wc[kept]
    return np.fft.irfftn(out, s=grid, axes=axes)


CASES = [  # grid, modes (int or per axis), in, out
    ((20,), 5, 3, 4),
    ((8, 10), [4, 6], 2, 3),  # the most modes each axis holds: 2m = N, m = N//2+1
    ((12, 10), [3, 2], 3, 2),
    ((8, 6, 6), [3, 2, 2], 2, 3),
]


@pytest.mark.parametrize("grid, modes, c_in, c_out", CASES)
def test_spectral_conv_matches_numpy_fft(grid, modes, c_in, c_out):
    axes = ", ".join(f"{n}: {s}" for n, s in zip("xyz", grid))
    spec = (f"model s : Field[{axes}, c: {c_in}] -> Field[{axes}, c: {c_out}] = "
            f"spectral_conv(modes={modes}, out={c_out})")
    model = catspec.compile(spec)
    params = _randomize(model.init(0), jax.random.key(1))
    x = jax.random.normal(jax.random.key(2), (2, *grid, c_in))
    y = model(params, x)
    assert y.shape == (2, *grid, c_out) and y.dtype == jnp.float32
    mlist = [modes] * len(grid) if isinstance(modes, int) else modes
    want = numpy_spectral_conv(x, params["spectral_conv_0"]["w"], mlist)
    assert max_rel_err(y, want) <= 1e-5


def _fold_np(x, axis):
    """Trapezoid fold of a vertex-grid axis: drop the last sample, first = mean of the ends."""
    x = np.moveaxis(np.array(x, np.float64), axis, 0)
    out = x[:-1].copy()
    out[0] = 0.5 * (x[0] + x[-1])
    return np.moveaxis(out, 0, axis)


def _mirror_np(x, axis):
    x = np.moveaxis(np.asarray(x, np.float64), axis, 0)
    return np.moveaxis(np.concatenate([x, x[::-1][1:-1]]), 0, axis)


@pytest.mark.parametrize("grid, modes", [((17,), 5), ((9, 11), [3, 4])])
@pytest.mark.parametrize("variant", ["endpoint=true", 'endpoint=true, extension="even"',
                                     'extension="even"'])
def test_spectral_conv_endpoint_and_even_match_numpy(grid, modes, variant):
    axes = ", ".join(f"{n}: {s}" for n, s in zip("xyz", grid))
    model = catspec.compile(f"model s : Field[{axes}, c: 2] -> Field[{axes}, c: 3] = "
                            f"spectral_conv(modes={modes}, out=3, {variant})")
    params = _randomize(model.init(0), jax.random.key(3))
    x = np.asarray(jax.random.normal(jax.random.key(4), (2, *grid, 2)), np.float64)
    mlist = [modes] * len(grid) if isinstance(modes, int) else modes
    w = params["spectral_conv_0"]["w"]
    v = x
    for ax in range(1, len(grid) + 1):
        if "even" not in variant:
            v = _fold_np(v, ax)
        elif "endpoint" in variant:
            v = _mirror_np(v, ax)
        else:  # half-sample symmetric: f0 … f_{N-1} f_{N-1} … f0
            v = np.concatenate([v, np.flip(v, ax)], axis=ax)
    want = numpy_spectral_conv(v, w, mlist)
    if "even" in variant:
        want = want[(slice(None), *(slice(0, n) for n in grid))]
    else:  # the value at x = 1 is the value at x = 0 of the period
        for ax in range(1, len(grid) + 1):
            want = np.concatenate([want, np.take(want, [0], axis=ax)], axis=ax)
    assert max_rel_err(model(params, jnp.asarray(x, jnp.float32)), want) <= 1e-5


def test_endpoint_and_even_make_a_non_periodic_field_resolution_independent():
    """Samples of a smooth non-periodic field on vertex grids of 33 and 129 points: the
    output at the shared points moves with the resolution for the plain DFT (its period
    is N·h = 1 + h), much less with the trapezoid fold, least with the even extension."""
    def sample(n):
        t = jnp.linspace(0.0, 1.0, n)
        return jnp.stack([t, jnp.sin(3 * t) + t * t], axis=-1)[None]

    diffs = []
    for variant in ("", ", endpoint=true", ', endpoint=true, extension="even"'):
        model = catspec.compile("model s : Field[x: N, c: 2] -> Field[x: N, c: 3] = "
                                f"spectral_conv(modes=8, out=3{variant})")
        params = _randomize(model.init(0), jax.random.key(5))
        coarse, fine = model(params, sample(33)), model(params, sample(129))
        diffs.append(max_rel_err(fine[:, ::4], coarse))
    plain, endpoint, even = diffs
    # measured: 0.062, 0.016, 0.0018
    assert endpoint < plain / 3 and even < endpoint / 3 and even < 5e-3, diffs


def test_spectral_conv_weights_and_init():
    model = catspec.compile("model s : Field[x: N, y: M, c: 4] -> Field[x: N, y: M, c: 8] = "
                            "spectral_conv(modes=[5, 3], out=8)")
    w = model.init(0)["spectral_conv_0"]["w"]
    # [2*m1, m2, in, out, (re, im)]; FNO init: U[0, 1/(in*out)) on both parts.
    assert w.shape == (10, 3, 4, 8, 2) and w.dtype == jnp.float32
    assert float(w.min()) >= 0.0 and float(w.max()) < 1.0 / 32


def test_spectral_conv_is_discretization_invariant():
    """A band-limited input sampled at 32 and 64 points gives the same function."""
    model = catspec.compile("model s : Field[x: N, c: 2] -> Field[x: N, c: 3] = "
                            "spectral_conv(modes=6, out=3)")
    params = _randomize(model.init(0), jax.random.key(1))

    def sample(n):
        t = jnp.arange(n, dtype=jnp.float32) / n
        u = jnp.stack([jnp.sin(2 * jnp.pi * t) + 0.5 * jnp.cos(6 * jnp.pi * t),
                       jnp.cos(10 * jnp.pi * t)], axis=-1)
        return u[None]

    coarse, fine = model(params, sample(32)), model(params, sample(64))
    assert max_rel_err(fine[:, ::2], coarse) <= 1e-5


def test_too_many_modes_is_a_typing_error():
    with pytest.raises(SpecError) as err:
        catspec.load("model s : Field[x: 32, c: 1] -> Field[x: 32, c: 4] = "
                     "spectral_conv(modes=20, out=4)")
    assert err.value.message == (
        "`spectral_conv` keeps 20 modes on grid axis `x` of size 32, but that axis supports "
        "at most 17 (N//2+1 on the last grid axis)"
    )
    assert err.value.hint == "use modes ≤ 17 on this axis, or sample the field on a finer grid"
    with pytest.raises(SpecError) as err:
        catspec.load("model s : Field[x: 10, y: 64, c: 1] -> Field[x: 10, y: 64, c: 4] = "
                     "spectral_conv(modes=6, out=4)")
    assert err.value.message == (
        "`spectral_conv` keeps 6 modes on grid axis `x` of size 10, but that axis supports "
        "at most 5 (N//2 on a non-last grid axis, which keeps both signs)"
    )


def test_too_many_modes_for_a_symbolic_grid_fails_at_run_time():
    model = catspec.compile("model s : Field[x: N, c: 1] -> Field[x: N, c: 1] = "
                            "spectral_conv(modes=8, out=1)")
    with pytest.raises(InputError, match="supports at most 5"):
        model(model.init(0), jnp.ones((1, 8, 1)))


def test_too_many_modes_for_the_period_is_a_typing_error():
    with pytest.raises(SpecError) as err:
        catspec.load("model s : Field[x: 29, y: 29, c: 1] -> Field[x: 29, y: 29, c: 4] = "
                     "spectral_conv(modes=15, out=4, endpoint=true)")
    assert err.value.message == (
        "`spectral_conv` keeps 15 modes on grid axis `x` of size 29, but that axis supports "
        "at most 14 (P//2 on a non-last grid axis, which keeps both signs, with P = 28 points "
        "per period)")
    # The even extension doubles the period: 15 modes fit.
    catspec.load("model s : Field[x: 29, y: 29, c: 1] -> Field[x: 29, y: 29, c: 4] = "
                 'spectral_conv(modes=15, out=4, endpoint=true, extension="even")')


def test_spectral_conv_rejects_plain_tensors():
    with pytest.raises(SpecError, match="expects a Field"):
        catspec.load("model s : Tensor[32, 1] -> Tensor[32, 4] = spectral_conv(modes=4, out=4)")


# -- grid ----------------------------------------------------------------------------------


def test_grid_appends_coordinates():
    model = catspec.compile("model g : Field[x: N, y: M, c: 1] -> Field[x: N, y: M, c: 3] = grid")
    x = jnp.full((1, 5, 3, 1), 7.0)
    y = np.asarray(model({}, x))[0]
    assert np.all(y[..., 0] == 7.0)
    np.testing.assert_allclose(y[..., 1], np.broadcast_to([[0.0], [0.25], [0.5], [0.75], [1.0]],
                                                          (5, 3)), atol=1e-7)
    np.testing.assert_allclose(y[..., 2], np.broadcast_to([0.0, 0.5, 1.0], (5, 3)), atol=1e-7)
    periodic = catspec.compile(
        "model g : Field[x: N, c: 1] -> Field[x: N, c: 2] = grid(endpoint=false)")
    np.testing.assert_allclose(np.asarray(periodic({}, jnp.zeros((1, 4, 1))))[0, :, 1],
                               [0.0, 0.25, 0.5, 0.75], atol=1e-7)


# -- the FNO specs against hand-written JAX ----------------------------------------------------


def _dense(p, x):
    return x @ p["w"] + p["b"]


def hand_spectral1d(x, w, m):
    xf = jnp.fft.rfft(x, axis=1)
    out = jnp.zeros((*xf.shape[:-1], w.shape[-2]), jnp.complex64)
    out = out.at[:, :m].set(jnp.einsum("bxi,xio->bxo", xf[:, :m], _complex(w)))
    return jnp.fft.irfft(out, n=x.shape[1], axis=1)


def hand_spectral2d(x, w, m1, m2):
    # The FNO paper's two weight blocks: frequencies (+kx, ky) and (-kx, ky).
    w1, w2 = _complex(w[:m1]), _complex(w[m1:])
    xf = jnp.fft.rfft2(x, axes=(1, 2))
    out = jnp.zeros((*xf.shape[:-1], w.shape[-2]), jnp.complex64)
    out = out.at[:, :m1, :m2].set(jnp.einsum("bxyi,xyio->bxyo", xf[:, :m1, :m2], w1))
    out = out.at[:, -m1:, :m2].set(jnp.einsum("bxyi,xyio->bxyo", xf[:, -m1:, :m2], w2))
    return jnp.fft.irfft2(out, s=x.shape[1:3], axes=(1, 2))


def hand_spectral2d_even(x, w, m1, m2):
    """The 2-D layer on the even extension of a vertex grid: mirror both axes
    (f0 … f_{N-1} f_{N-2} … f1), transform, crop back."""
    n1, n2 = x.shape[1:3]
    x = jnp.concatenate([x, x[:, -2:0:-1]], axis=1)
    x = jnp.concatenate([x, x[:, :, -2:0:-1]], axis=2)
    return hand_spectral2d(x, w, m1, m2)[:, :n1, :n2]


def hand_fno(p, x, spectral, endpoint, depth=4):
    grids = [jnp.linspace(0.0, 1.0, n, endpoint=endpoint) for n in x.shape[1:-1]]
    coords = jnp.stack(jnp.meshgrid(*grids, indexing="ij"), axis=-1)
    h = jnp.concatenate([x, jnp.broadcast_to(coords, (*x.shape[:-1], coords.shape[-1]))], -1)
    h = _dense(p["dense_0"], h)
    for i in range(depth):
        layer = p[f"fourier_layer_{i}"]
        h = spectral(h, layer["spectral_conv_0"]["w"]) + _dense(layer["dense_0"], h)
        if i < depth - 1:
            h = jax.nn.gelu(h, approximate=False)
    return _dense(p["dense_2"], jax.nn.gelu(_dense(p["dense_1"], h), approximate=False))


def test_fno1d_spec_matches_hand_written_fno():
    for suffix in (".cat", ".yaml"):
        model = catspec.compile(SPECS / f"fno1d_burgers{suffix}", width=16, modes=8)
        params = _randomize(model.init(0), jax.random.key(3))
        x = jax.random.normal(jax.random.key(4), (3, 64, 1))
        want = hand_fno(params, x, lambda h, w: hand_spectral1d(h, w, 8), endpoint=False)
        assert max_rel_err(model(params, x), want) <= 1e-5
    # Discretization invariance: the same parameters run at another resolution.
    x = jax.random.normal(jax.random.key(5), (2, 256, 1))
    want = hand_fno(params, x, lambda h, w: hand_spectral1d(h, w, 8), endpoint=False)
    assert max_rel_err(model(params, x), want) <= 1e-5


def test_fno1d_default_architecture():
    graph = catspec.load(SPECS / "fno1d_burgers.cat")
    shapes = {s.path: s.shape for s in graph.params}
    assert shapes["dense_0/w"] == (2, 64)
    assert shapes["fourier_layer_3/spectral_conv_0/w"] == (16, 64, 64, 2)
    assert shapes["dense_1/w"] == (64, 128) and shapes["dense_2/w"] == (128, 1)
    assert str(graph.output_types[0]) == "f32{x:N,c:1}"


def test_fno2d_spec_matches_hand_written_fno():
    model = catspec.compile(SPECS / "fno2d_darcy.cat", width=8, modes=4)
    params = _randomize(model.init(0), jax.random.key(6))
    x = jax.random.normal(jax.random.key(7), (2, 13, 11, 1))
    want = hand_fno(params, x, lambda h, w: hand_spectral2d_even(h, w, 4, 4), endpoint=True)
    assert max_rel_err(model(params, x), want) <= 1e-5


# -- DeepONet ------------------------------------------------------------------------------


def test_deeponet_spec_matches_hand_written():
    model = catspec.compile(SPECS / "deeponet_antiderivative.cat")
    params = _randomize(model.init(0), jax.random.key(8))
    u = jax.random.normal(jax.random.key(9), (4, 100))
    y = jax.random.uniform(jax.random.key(10), (4, 30, 1))
    b, t = params["branch_0"], params["trunk_0"]
    hb = _dense(b["dense_0"], u)  # linear branch
    ht = jax.nn.relu(_dense(t["dense_2"], jax.nn.relu(
        _dense(t["dense_1"], jax.nn.relu(_dense(t["dense_0"], y))))))
    want = jnp.einsum("bk,bpk->bp", hb, ht) + params["bias_0"]["b"]
    out = model(params, u, y)
    assert out.shape == (4, 30)
    assert max_rel_err(out, want) <= 1e-5


def test_einsum_typing_errors():
    with pytest.raises(SpecError) as err:
        catspec.load('model e : (a: Tensor[4], b: Tensor[P, 5]) -> Tensor[P] = einsum("k,pk->p")')
    assert err.value.message == (
        '`einsum`: subscript `k` has size 4 in one place and 5 in another (equation "k,pk->p")')
    with pytest.raises(SpecError, match="its body takes 2"):
        catspec.load('model e : Tensor[4] -> Tensor[4] = einsum("k,k->k")')
    with pytest.raises(SpecError) as err:
        catspec.load('model e : Tensor[4] -> Tensor[4] = einsum("pk->p")')
    assert err.value.message == (
        '`einsum`: operand 0 has subscripts "pk" (rank 2) but its input is f32[4] (rank 1)')
    with pytest.raises(SpecError, match="ellipsis"):
        catspec.load('model e : Tensor[4] -> Tensor[4] = einsum("...->...")')


# -- low-rank kernel, multigrid transfer, MgNO ---------------------------------------------------


def test_lowrank_kernel_matches_its_definition():
    model = catspec.compile("model k : Field[x: N, y: M, c: 3] -> Field[x: N, y: M, c: 2] = "
                            "lowrank_kernel(rank=4, out=2)")
    params = _randomize(model.init(0), jax.random.key(11))
    v = np.asarray(jax.random.normal(jax.random.key(12), (2, 6, 5, 3)), np.float64)
    p = {k: np.asarray(a, np.float64) for k, a in params["lowrank_kernel_0"].items()}
    phi = (v @ p["phi_w"] + p["phi_b"]).reshape(2, 6, 5, 2, 4)
    psi = (v @ p["psi_w"] + p["psi_b"]).reshape(2, 6, 5, 3, 4)
    inner = np.einsum("bxycr,bxyc->br", psi, v) / 30  # <ψ_r, v> as the grid mean
    want = np.einsum("bxyor,br->bxyo", phi, inner)
    assert max_rel_err(model(params, jnp.asarray(v, jnp.float32)), want) <= 1e-5


def test_restrict_and_prolong_are_multigrid_transfers():
    """Injection restricts onto the even points; the [1/2, 1, 1/2] stencil interpolates."""
    model = catspec.compile("""
        model t : Field[x: N, c: 1] -> Field[x: N, c: 1] {
            return prolong(1)(restrict(1)(x), x)
        }""")
    graph = model.graph
    coarse = next(n for n in graph.nodes() if n.op == "op.restrict").out_types[0]
    assert str(coarse) == "f32{x:(N+1)//2,c:1}"
    params = {"restrict_0": {"w": jnp.array([0.0, 1.0, 0.0]).reshape(3, 1, 1)},
              "prolong_0": {"w": jnp.array([0.5, 1.0, 0.5]).reshape(3, 1, 1)}}
    x = jnp.linspace(-1.0, 2.0, 9).reshape(1, 9, 1)  # linear: interpolation is exact
    assert max_rel_err(model(params, x), x) <= 1e-6
    y = np.asarray(model(params, jnp.arange(10.0).reshape(1, 10, 1)))[0, :, 0]
    # Even grid: coarse points 0,2,..,8; point 9 has only its left neighbour (zero beyond).
    np.testing.assert_allclose(y, [0, 1, 2, 3, 4, 5, 6, 7, 8, 4], atol=1e-6)


def test_prolong_checks_the_grids():
    with pytest.raises(SpecError, match="is not the restriction of the fine grid"):
        catspec.load("""
            model t : Field[x: 9, c: 1] -> Field[x: 9, c: 1] {
                return prolong(1)(restrict(1)(restrict(1)(x)), x)
            }""")


def test_mgno_spec_runs_at_two_resolutions():
    for suffix in (".cat", ".yaml"):
        model = catspec.compile(SPECS / f"mgno2d_darcy{suffix}", width=8, levels=2, depth=2)
        assert str(model.output_types[0]) == "f32{x:N,y:M,c:1}"
    params = model.init(0)
    assert params["mg_layer_0"]["vcycle_0"]["vcycle_step_0"]["restrict_0"]["w"].shape == (3, 3, 8, 8)
    for n, m in ((29, 29), (16, 21)):
        y = model(params, jax.random.normal(jax.random.key(13), (2, n, m, 1)))
        assert y.shape == (2, n, m, 1) and y.dtype == jnp.float32
        assert bool(jnp.all(jnp.isfinite(y)))


def test_ufno_spec_runs_at_two_resolutions():
    model = catspec.compile(SPECS / "ufno2d_darcy.cat", width=8, modes=4, fno_depth=1,
                            u_depth=1, levels=2)
    params = model.init(0)
    for n, m in ((17, 17), (29, 22)):
        y = model(params, jax.random.normal(jax.random.key(14), (1, n, m, 1)))
        assert y.shape == (1, n, m, 1) and bool(jnp.all(jnp.isfinite(y)))


@pytest.mark.parametrize("stem", ["fno1d_burgers", "fno2d_darcy", "deeponet_antiderivative",
                                  "mgno2d_darcy", "ufno2d_darcy"])
def test_yaml_twins_elaborate_to_the_same_graph(stem):
    from catspec.compiler.printer import print_graph

    def without_locations(graph):
        return [line.split("  #")[0].rstrip() for line in print_graph(graph).splitlines()]

    text, yaml = catspec.load(SPECS / f"{stem}.cat"), catspec.load(SPECS / f"{stem}.yaml")
    assert without_locations(text) == without_locations(yaml)


def test_spectral_conv_lowers_to_one_fft_pair_and_one_contraction():
    model = catspec.compile("model s : Field[x: N, y: M, z: L, c: 3] -> "
                            "Field[x: N, y: M, z: L, c: 2] = spectral_conv(modes=[2, 3, 2], out=2)")
    x = jnp.zeros((2, 8, 8, 6, 3))
    text = str(jax.make_jaxpr(model.apply_unjitted)(model.init(0), x))
    assert text.count("dot_general") == 1  # one einsum over every kept mode, no loop
    assert text.count("= fft[") == 2  # one rfftn, one irfftn over all three grid axes
    assert "f64" not in text and "c128" not in text
