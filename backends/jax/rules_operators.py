"""Lowering rules for operator layers (spectral_conv, grid, lowrank_kernel, restrict,
prolong) and general tensor ops (einsum, bias).

Each rule sees one example ``[*grid, channels]``; ``vmap`` adds the batch.
Shapes are static at trace time, so mode bookkeeping is Python on ints while
the math is one ``rfftn``, one gather by slicing, one ``einsum`` over all kept
modes, one scatter by padding and one ``irfftn``: no loop over modes, no
float64 (the spectrum is complex64), no host round trip.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ...compiler.ops.operators import check_modes, coarse_size
from ...compiler.ops.registry import OpTypeError
from ...errors import InputError
from .rules import rule

_CONV_DIMS = {
    1: ("NWC", "WIO", "NWC"),
    2: ("NHWC", "HWIO", "NHWC"),
    3: ("NDHWC", "DHWIO", "NDHWC"),
}
_LETTERS = "xyz"


def _per_axis(v, d: int) -> tuple[int, ...]:
    return (v,) * d if isinstance(v, int) else tuple(v)


# -- spectral convolution --------------------------------------------------------------


def gather_modes(xf, modes):
    """The kept block of a spectrum ``[*grid_f, c]``: on each non-last axis the first m then
    the last m entries (frequencies 0..m-1 then -m..-1), on the last axis the first m."""
    d = len(modes)
    for i, m in enumerate(modes[:-1]):
        n = xf.shape[i]
        xf = jnp.concatenate(
            [lax.slice_in_dim(xf, 0, m, axis=i), lax.slice_in_dim(xf, n - m, n, axis=i)], axis=i
        )
    return lax.slice_in_dim(xf, 0, modes[-1], axis=d - 1)


def scatter_modes(yk, modes, spectrum_shape):
    """Inverse of ``gather_modes``: place the kept block in a zero spectrum of the given
    grid shape (zero padding on the last axis, a zero gap between the signs elsewhere)."""
    d = len(modes)
    pad = [(0, 0)] * yk.ndim
    pad[d - 1] = (0, spectrum_shape[d - 1] - modes[-1])
    yk = jnp.pad(yk, pad)
    for i, m in enumerate(modes[:-1]):
        gap = list(yk.shape)
        gap[i] = spectrum_shape[i] - 2 * m
        low, high = lax.slice_in_dim(yk, 0, m, axis=i), lax.slice_in_dim(yk, m, 2 * m, axis=i)
        yk = jnp.concatenate([low, jnp.zeros(gap, yk.dtype), high], axis=i)
    return yk


def _check_runtime_modes(node, grid, modes):
    # Symbolic grid sizes were not checked at elaboration: check the bound sizes now.
    t = node.out_types[0]
    names = list(t.axes[: len(grid)]) if t.axes is not None else [str(i) for i in range(len(grid))]
    try:
        check_modes(modes, grid, names, "spectral_conv", node.attrs.get("endpoint", False),
                    node.attrs.get("extension", "periodic"))
    except OpTypeError as err:
        raise InputError(f"node `{node.name}`: {err.message}; {err.hint}") from None


@rule("op.spectral_conv")
def _spectral_conv(node, ins, p, ctx):
    x = ins[0]
    d = x.ndim - 1
    grid = tuple(x.shape[:d])
    modes = _per_axis(node.attrs["modes"], d)
    _check_runtime_modes(node, grid, modes)
    endpoint = node.attrs.get("endpoint", False)
    even = node.attrs.get("extension", "periodic") == "even"
    axes = tuple(range(d))
    v = x.astype(jnp.float32)
    if even:
        v = mirror(v, d, endpoint)
    elif endpoint:
        v = fold_endpoints(v, d)
    xf = jnp.fft.rfftn(v, axes=axes)  # complex64 [*period_f, c]
    w = lax.complex(p["w"][..., 0], p["w"][..., 1]).astype(jnp.complex64)
    s = _LETTERS[:d]
    yk = jnp.einsum(f"{s}i,{s}io->{s}o", gather_modes(xf, modes), w)
    yf = scatter_modes(yk, modes, xf.shape[:d])
    y = jnp.fft.irfftn(yf, s=v.shape[:d], axes=axes)
    if even:
        y = y[tuple(slice(0, n) for n in grid)]
    elif endpoint:
        y = repeat_first(y, d)
    return [y.astype(x.dtype)]


def mirror(v, d: int, endpoint: bool):
    """The even extension on every grid axis: ``f(0) … f(1) f(1-h) … f(h)`` (endpoint,
    ``2N-2`` points) or ``f₀ … f_{N-1} f_{N-1} … f₀`` (``2N``): one period of a continuous
    periodic field, so a non-periodic field has no jump for the transform to ring at."""
    for i in range(d):
        n = v.shape[i]
        back = lax.rev(v, (i,))
        if endpoint:
            back = lax.slice_in_dim(back, 1, n - 1, axis=i)
        v = jnp.concatenate([v, back], axis=i)
    return v


def fold_endpoints(v, d: int):
    """Samples ``f(0), f(h), …, f(1)`` of one period -> the ``N-1`` distinct points, with the
    first one ``(f(0) + f(1)) / 2`` on every grid axis: the DFT of the result is the
    trapezoid rule for the Fourier integral over [0, 1], so the period is the domain at
    every resolution (a plain DFT of N samples would use the period N·h = 1 + h)."""
    for i in range(d):
        n = v.shape[i]
        ends = lax.slice_in_dim(v, 0, 1, axis=i) + lax.slice_in_dim(v, n - 1, n, axis=i)
        v = jnp.concatenate([0.5 * ends, lax.slice_in_dim(v, 1, n - 1, axis=i)], axis=i)
    return v


def repeat_first(y, d: int):
    """The inverse grid of ``fold_endpoints``: append the value at x=0 again at x=1."""
    for i in range(d):
        y = jnp.concatenate([y, lax.slice_in_dim(y, 0, 1, axis=i)], axis=i)
    return y


# -- grid coordinates ----------------------------------------------------------------


@rule("op.grid")
def _grid(node, ins, p, ctx):
    x = ins[0]
    d = x.ndim - 1
    endpoint = node.attrs["endpoint"]
    coords = [jnp.linspace(0.0, 1.0, n, endpoint=endpoint, dtype=x.dtype) for n in x.shape[:d]]
    mesh = jnp.meshgrid(*coords, indexing="ij")
    return [jnp.concatenate([x, jnp.stack(mesh, axis=-1)], axis=-1)]


# -- low-rank kernel integral operator ------------------------------------------------


@rule("op.lowrank_kernel")
def _lowrank_kernel(node, ins, p, ctx):
    v = ins[0]
    c = v.shape[-1]
    r, o = node.attrs["rank"], node.attrs["out"]
    phi = (v @ p["phi_w"] + p["phi_b"]).reshape(*v.shape[:-1], o, r)
    psi = (v @ p["psi_w"] + p["psi_b"]).reshape(*v.shape[:-1], c, r)
    n_points = 1
    for n in v.shape[:-1]:
        n_points *= n
    flat_v = v.reshape(n_points, c)
    # <ψ_r, v>: the grid mean approximates the integral over the unit domain, so the
    # coefficients do not depend on the resolution.
    coeff = jnp.einsum("pcr,pc->r", psi.reshape(n_points, c, r), flat_v) / n_points
    return [jnp.einsum("...or,r->...o", phi, coeff)]


# -- multigrid transfer ----------------------------------------------------------------


@rule("op.restrict")
def _restrict(node, ins, p, ctx):
    x = ins[0]
    d = x.ndim - 1
    k = _per_axis(node.attrs["kernel"], d)
    y = lax.conv_general_dilated(
        x[None], p["w"], window_strides=(2,) * d, padding=[(kk // 2, kk // 2) for kk in k],
        dimension_numbers=_CONV_DIMS[d],
    )[0]
    if "b" in p:
        y = y + p["b"]
    return [y]


@rule("op.prolong")
def _prolong(node, ins, p, ctx):
    coarse, fine = ins
    d = coarse.ndim - 1
    k = _per_axis(node.attrs["kernel"], d)
    for m, n in zip(coarse.shape[:d], fine.shape[:d]):
        if coarse_size(n) != m:
            raise InputError(f"node `{node.name}`: a coarse grid of {m} points is not the "
                             f"restriction of {n} points")
    # Dilating the coarse field by 2 puts coarse point j on fine point 2j (2M-1 points);
    # the padding makes the stencil's output exactly the fine grid's N points.
    padding = [(kk // 2, n - (2 * m - 1) + kk - 1 - kk // 2)
               for kk, m, n in zip(k, coarse.shape[:d], fine.shape[:d])]
    y = lax.conv_general_dilated(
        coarse[None], p["w"], window_strides=(1,) * d, padding=padding,
        lhs_dilation=(2,) * d, dimension_numbers=_CONV_DIMS[d],
    )[0]
    if "b" in p:
        y = y + p["b"]
    return [y]


# -- general tensor ops -----------------------------------------------------------------


@rule("tensor.einsum")
def _einsum(node, ins, p, ctx):
    return [jnp.einsum(node.attrs["equation"], *ins)]


@rule("tensor.bias")
def _bias(node, ins, p, ctx):
    return [ins[0] + p["b"].astype(ins[0].dtype)]
