"""Operator layers on function spaces: spectral convolution, grid coordinates, low-rank
kernel integral operators, and the multigrid transfer maps ``restrict`` / ``prolong``.

They act on ``Field`` types ``[*grid, channels]`` (1 to 3 grid axes, channels
last). Grid sizes are usually symbols (``N``), so one instance runs at any
resolution with the same parameters; whatever can be checked when a size is
known (e.g. how many Fourier modes a grid holds) is checked here, and the
lowering re-checks it once the sizes are bound. Definitions: docs/OPERATORS.md.
"""

from __future__ import annotations

from ..types import TensorType
from .conv import per_axis
from .registry import (
    Arg,
    OpDef,
    OpTypeError,
    ParamSpec,
    check_known,
    fixed,
    register,
    require_float,
)


def field_grid(t: TensorType, op: str) -> int:
    """The number of grid axes of a Field input (1 to 3), or a typing error."""
    if not t.field:
        raise OpTypeError(
            f"`{op}` expects a Field (grid axes, then channels), got {t}",
            "declare the input as a field, e.g. `Field[x: N, c: 2]`",
        )
    d = t.rank - 1
    if not 1 <= d <= 3:
        raise OpTypeError(f"`{op}` supports fields with 1 to 3 grid axes, got {t}")
    return d


def _axis_name(t: TensorType, i: int) -> str:
    return t.axes[i] if t.axes is not None else str(i)


# -- spectral convolution --------------------------------------------------------------


def mode_limit(n: int, last: bool) -> int:
    """How many modes an axis of ``n`` points holds: the rfft axis keeps frequencies
    0..m-1 (``n//2+1`` exist); other axes keep 0..m-1 and -m..-1, which must not overlap."""
    return n // 2 + 1 if last else n // 2


def period_points(n: int, endpoint: bool, extension: str) -> int:
    """Points per period of the transform on an axis of ``n`` samples: ``n`` (samples of a
    period), ``n - 1`` (``endpoint``: the last sample is the first point again), or the
    mirrored sequence (``extension="even"``: ``2n - 2`` with endpoint, ``2n`` without)."""
    if extension == "even":
        return 2 * n - 2 if endpoint else 2 * n
    return n - 1 if endpoint else n


def check_modes(modes: tuple[int, ...], grid, axis_names: list[str], op: str,
                endpoint: bool = False, extension: str = "periodic") -> None:
    """Reject more modes than a grid axis of known size supports (exact text is tested);
    the supported count is that of the transform's period (``period_points``)."""
    for i, (m, n) in enumerate(zip(modes, grid)):
        if not isinstance(n, int):
            continue
        last = i == len(modes) - 1
        period = period_points(n, endpoint, extension)
        limit = mode_limit(period, last)
        if m > limit:
            size = "N" if period == n else f"P = {period} points per period"
            p = "N" if period == n else "P"
            rule = (f"{p}//2+1 on the last grid axis" if last else
                    f"{p}//2 on a non-last grid axis, which keeps both signs")
            if period != n:
                rule += f", with {size}"
            raise OpTypeError(
                f"`{op}` keeps {m} modes on grid axis `{axis_names[i]}` of size {n}, "
                f"but that axis supports at most {limit} ({rule})",
                f"use modes ≤ {limit} on this axis, or sample the field on a finer grid",
            )


def kept_shape(modes: tuple[int, ...]) -> tuple[int, ...]:
    """Kept frequencies per axis: ``2m`` (m non-negative, then m negative) except ``m`` last."""
    return (*(2 * m for m in modes[:-1]), modes[-1])


def _spectral_geometry(a, t: TensorType):
    d = field_grid(t, "spectral_conv")
    require_float(t, "spectral_conv")
    modes = per_axis(a["modes"], d, "modes", "spectral_conv")
    check_modes(modes, t.shape[:d], [_axis_name(t, i) for i in range(d)], "spectral_conv",
                a.get("endpoint", False), a.get("extension", "periodic"))
    c = check_known(t.shape[-1], "its input channels", "spectral_conv")
    return d, modes, c


def _spectral_infer(a, ins):
    t = ins[0]
    _spectral_geometry(a, t)
    if a["out"] < 1:
        raise OpTypeError(f"`spectral_conv`: `out` must be positive, got {a['out']}")
    return [t.with_last(a["out"])]


def _spectral_params(a, ins):
    _, modes, c = _spectral_geometry(a, ins[0])
    # Complex weights stored as real pairs (..., 2) = (re, im), one per kept mode;
    # FNO's initialisation: scale·U[0,1) on both parts with scale = 1/(in·out).
    scale = 1.0 / (c * a["out"])
    shape = (*kept_shape(modes), c, a["out"], 2)
    return {"w": ParamSpec(shape, "uniform", {"low": 0.0, "high": scale})}


register(OpDef(
    "op.spectral_conv", "spectral_conv",
    (Arg("modes", "int_or_ints", doc="Fourier modes kept per grid axis"),
     Arg("out", "int", doc="output channels"),
     Arg("endpoint", "bool", False,
         doc="the samples include both ends of the period (a vertex grid, linspace(0, 1, N)): "
             "transform the N-1 distinct points with the trapezoid rule"),
     Arg("extension", "str", "periodic", choices=("periodic", "even"),
         doc="periodic: the grid is one period; even: mirror the samples first (period "
             "twice the domain, no jump at the edges of a non-periodic field)")),
    fixed(1, 1), _spectral_infer, _spectral_params,
    traits=frozenset({"pure", "linear", "complex_pairs"}), main_param="w",
    doc="FNO spectral convolution: rfftn over the grid, a complex in->out matrix per kept "
        "low mode (both signs on non-last axes), zero the rest, irfftn to the input grid. "
        "endpoint=true: on grids that hold x=0 and x=1, the two ends are one point of the "
        "period (trapezoid rule), so the period is the domain at every resolution. "
        "extension=even: transform the mirrored field (a kernel for non-periodic fields).",
))


# -- grid coordinates ----------------------------------------------------------------


def _grid_infer(a, ins):
    t = ins[0]
    d = field_grid(t, "grid")
    require_float(t, "grid")
    check_known(t.shape[-1], "its input channels", "grid")
    return [t.with_last(t.shape[-1] + d)]


register(OpDef(
    "op.grid", "grid", (Arg("endpoint", "bool", True, doc="include x=1 (linspace(0,1,N))"),),
    fixed(1, 1), _grid_infer,
    doc="Append each grid axis's coordinate as a channel: linspace(0, 1, N) (endpoint=true, "
        "FNO's convention) or i/N in [0, 1) (endpoint=false, for periodic grids).",
))


# -- low-rank kernel integral operator --------------------------------------------------


def _lowrank_geometry(a, t: TensorType):
    field_grid(t, "lowrank_kernel")
    require_float(t, "lowrank_kernel")
    c = check_known(t.shape[-1], "its input channels", "lowrank_kernel")
    for name in ("rank", "out"):
        if a[name] < 1:
            raise OpTypeError(f"`lowrank_kernel`: `{name}` must be positive, got {a[name]}")
    return c


def _lowrank_infer(a, ins):
    _lowrank_geometry(a, ins[0])
    return [ins[0].with_last(a["out"])]


def _lowrank_params(a, ins):
    c = _lowrank_geometry(a, ins[0])
    r, o = a["rank"], a["out"]
    return {
        "phi_w": ParamSpec((c, o * r), "lecun_normal"),
        "phi_b": ParamSpec((o * r,), "zeros"),
        "psi_w": ParamSpec((c, c * r), "lecun_normal"),
        "psi_b": ParamSpec((c * r,), "zeros"),
    }


register(OpDef(
    "op.lowrank_kernel", "lowrank_kernel",
    (Arg("rank", "int", doc="rank of the kernel"), Arg("out", "int", doc="output channels")),
    fixed(1, 1), _lowrank_infer, _lowrank_params, main_param="phi_w",
    doc="(Kv)(x) = Σ_r φ_r(x) ⟨ψ_r, v⟩ with φ(x) = v(x)·Wφ + bφ ∈ R^{out×rank}, "
        "ψ(y) = v(y)·Wψ + bψ ∈ R^{c×rank}, ⟨ψ_r, v⟩ the mean over the grid of ψ_r·v.",
))


# -- multigrid transfer: restriction and prolongation -------------------------------------


def _transfer_kernel(a, d: int, op: str) -> tuple[int, ...]:
    k = per_axis(a["kernel"], d, "kernel", op)
    if any(kk % 2 == 0 for kk in k):
        raise OpTypeError(f"`{op}`: kernel sizes must be odd (centred stencils), got {list(k)}")
    return k


def _grid_rank(t: TensorType, op: str) -> int:
    d = t.rank - 1
    if not 1 <= d <= 3:
        raise OpTypeError(
            f"`{op}` expects [*grid, channels] with 1 to 3 grid axes, got {t}",
            "declare the input as a field, e.g. `Field[x: N, y: M, c: 8]`",
        )
    return d


def coarse_size(n):
    """Grid points kept by factor-2 restriction: every other point, both ends of an odd grid."""
    return (n + 1) // 2


def _restrict_infer(a, ins):
    t = ins[0]
    require_float(t, "restrict")
    d = _grid_rank(t, "restrict")
    _transfer_kernel(a, d, "restrict")
    check_known(t.shape[-1], "its input channels", "restrict")
    return [t.with_shape((*(coarse_size(n) for n in t.shape[:d]), a["out"]))]


def _transfer_params(a, c: int, d: int, op: str):
    k = _transfer_kernel(a, d, op)
    params = {"w": ParamSpec((*k, c, a["out"]), "lecun_normal")}
    if a["bias"]:
        params["b"] = ParamSpec((a["out"],), "zeros")
    return params


def _restrict_params(a, ins):
    t = ins[0]
    return _transfer_params(a, t.shape[-1], t.rank - 1, "restrict")


_TRANSFER_ARGS = (
    Arg("out", "int", doc="output channels"),
    Arg("kernel", "int_or_ints", 3, doc="odd stencil size per axis"),
    Arg("bias", "bool", False),
)

register(OpDef(
    "op.restrict", "restrict", _TRANSFER_ARGS,
    fixed(1, 1), _restrict_infer, _restrict_params,
    traits=frozenset({"pure", "linear", "convolution"}), main_param="w",
    doc="Learned restriction to the coarse grid: a stride-2 convolution centred on the even "
        "points, N -> (N+1)//2 per grid axis.",
))


def _prolong_infer(a, ins):
    coarse, fine = ins
    require_float(coarse, "prolong")
    d = _grid_rank(coarse, "prolong")
    _transfer_kernel(a, d, "prolong")
    check_known(coarse.shape[-1], "its input channels", "prolong")
    if fine.rank != coarse.rank:
        raise OpTypeError(
            f"`prolong` maps a coarse field onto the grid of its second input; "
            f"got {coarse} and {fine} of different ranks"
        )
    for n_c, n_f in zip(coarse.shape[:d], fine.shape[:d]):
        if coarse_size(n_f) != n_c:
            raise OpTypeError(
                f"`prolong`: the coarse grid {coarse} is not the restriction of the fine "
                f"grid {fine} (expected {coarse_size(n_f)} points for {n_f}, got {n_c})",
                "pass the wire that was restricted as the second input: "
                "`prolong(c)(coarse, fine)`",
            )
    # The fine grid's shape, axis names and field-ness; the coarse input's dtype.
    return [TensorType((*fine.shape[:d], a["out"]), coarse.dtype, fine.axes, fine.field)]


def _prolong_params(a, ins):
    t = ins[0]
    return _transfer_params(a, t.shape[-1], t.rank - 1, "prolong")


register(OpDef(
    "op.prolong", "prolong", _TRANSFER_ARGS,
    fixed(2, 1), _prolong_infer, _prolong_params,
    traits=frozenset({"pure", "linear", "convolution"}), main_param="w",
    doc="Learned prolongation (coarse, fine) -> fine grid: a transposed stride-2 stencil "
        "(coarse point j sits on fine point 2j); the second input only gives the grid.",
))
