"""PNG figures of a training run (matplotlib, Agg backend): loss curve and predictions.

``loss_curve`` plots train loss and train/test relative L2 per epoch on a log
scale. ``predictions`` shows test samples: for 1-D fields the truth and the
prediction along the grid, for 2-D fields truth / prediction / error images,
otherwise predicted against true values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display: always render to files
    import matplotlib.pyplot as plt

    return plt


def loss_curve(history: list[dict], path: Path, title: str = "") -> None:
    plt = _plt()
    epochs = [m["epoch"] for m in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(epochs, [m["train_loss"] for m in history], label="train loss")
    ax.semilogy(epochs, [m["train_rel_l2"] for m in history], label="train rel. L2", ls="--")
    ax.semilogy(epochs, [m["test_rel_l2"] for m in history], label="test rel. L2")
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def predictions(pred: np.ndarray, truth: np.ndarray, path: Path, field_rank: int,
                title: str = "", count: int = 3) -> None:
    """``pred``/``truth``: test outputs with the sample axis; ``field_rank``: grid axes (0 if
    the output is a plain tensor)."""
    plt = _plt()
    pred, truth = np.asarray(pred), np.asarray(truth)
    count = min(count, pred.shape[0])
    if field_rank == 2:
        fig, axes = plt.subplots(count, 3, figsize=(9, 3 * count), squeeze=False)
        for i in range(count):
            t, p = truth[i, ..., 0], pred[i, ..., 0]
            for ax, img, name in zip(axes[i], (t, p, p - t), ("truth", "prediction", "error")):
                im = ax.imshow(img, origin="lower")
                ax.set_title(f"sample {i}: {name}")
                ax.axis("off")
                fig.colorbar(im, ax=ax, fraction=0.046)
    elif field_rank == 1 or (field_rank == 0 and truth.ndim == 2 and truth.shape[1] > 1):
        fig, axes = plt.subplots(count, 1, figsize=(7, 2.4 * count), squeeze=False)
        for i in range(count):
            t, p = truth[i].reshape(truth.shape[1], -1)[:, 0], pred[i].reshape(
                pred.shape[1], -1)[:, 0]
            grid = np.arange(t.shape[0]) / t.shape[0]
            ax = axes[i, 0]
            ax.plot(grid, t, label="truth", lw=2)
            ax.plot(grid, p, label="prediction", ls="--")
            ax.set_ylabel(f"sample {i}")
            ax.legend(loc="upper right", fontsize=8)
    else:
        fig, ax = plt.subplots(figsize=(5, 5))
        t, p = truth.reshape(-1), pred.reshape(-1)
        ax.scatter(t, p, s=4, alpha=0.5)
        lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
        ax.plot([lo, hi], [lo, hi], color="k", lw=1)
        ax.set_xlabel("truth")
        ax.set_ylabel("prediction")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
