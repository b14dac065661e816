"""Linear interpolation between nested grids: the baseline for zero-shot super-resolution.

A model trained on a coarse grid and evaluated unchanged on a fine one should beat
the obvious alternative: run it on the coarse grid and interpolate its output.
``catspec train --eval-resolution`` and ``experiments/operators.py`` both report
that baseline. Grids are either *periodic* (points ``j/n`` on [0, 1), Burgers) or
*vertex* grids (``linspace(0, 1, n)``, both ends, Darcy); a coarse grid nests in a
fine one when every coarse point is a fine point (``stride``).
"""

from __future__ import annotations

import numpy as np


def stride(n_coarse: int, n_fine: int, periodic: bool) -> int | None:
    """The integer step that takes the fine grid to the coarse one, or ``None``."""
    if periodic:
        return n_fine // n_coarse if n_fine % n_coarse == 0 else None
    if n_coarse < 2 or (n_fine - 1) % (n_coarse - 1):
        return None
    return (n_fine - 1) // (n_coarse - 1)


def linear_matrix(n_coarse: int, n_fine: int, periodic: bool) -> np.ndarray:
    """``W [n_fine, n_coarse]``: linear interpolation from the coarse grid to the fine one."""
    if periodic:
        xc = np.arange(n_coarse + 1) / n_coarse  # append the wrapped first point
        xf = np.arange(n_fine) / n_fine
    else:
        xc, xf = np.linspace(0.0, 1.0, n_coarse), np.linspace(0.0, 1.0, n_fine)
    eye = np.eye(len(xc))
    w = np.stack([np.interp(xf, xc, eye[k]) for k in range(len(xc))], axis=1)
    if periodic:
        w[:, 0] += w[:, -1]
        w = w[:, :-1]
    return w


def interpolate(u: np.ndarray, n_fine: int, periodic: bool) -> np.ndarray:
    """Linear (1-D) or bilinear (2-D) interpolation of ``u [b, n, (n,) c]`` to ``n_fine``."""
    u = np.asarray(u)
    if u.ndim == 3:
        return np.einsum("fi,bic->bfc", linear_matrix(u.shape[1], n_fine, periodic), u)
    if u.ndim == 4:
        w1 = linear_matrix(u.shape[1], n_fine, periodic)
        w2 = linear_matrix(u.shape[2], n_fine, periodic)
        return np.einsum("fi,gj,bijc->bfgc", w1, w2, u)
    raise ValueError(f"interpolate: expected [b, n, c] or [b, n, m, c], got shape {u.shape}")


def rel_l2(pred: np.ndarray, y: np.ndarray) -> float:
    """Mean over samples of ``||pred - y|| / ||y||``."""
    axes = tuple(range(1, y.ndim))
    err = np.sqrt(np.sum((pred - y) ** 2, axis=axes))
    return float(np.mean(err / np.sqrt(np.sum(y**2, axis=axes))))
