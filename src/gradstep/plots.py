"""Figures. The only module that imports matplotlib, and only inside functions (Agg backend, no screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_history", "new_figure", "save"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.6):
    """A figure with ``nrows x ncols`` axes of a readable size; returns ``(fig, axes)``."""
    plt = _plt()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes


def save(fig, path: str | Path) -> Path:
    """Save ``fig`` as PNG at ``path`` and free it."""
    plt = _plt()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_history(history: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Loss and accuracy against epoch, training and validation, side by side."""
    fig, axes = new_figure(2)
    epochs = [r["epoch"] for r in history]
    for ax, key in zip(axes[0], ("loss", "accuracy"), strict=True):
        ax.plot(epochs, [r[f"train_{key}"] for r in history], label="train")
        if history and f"val_{key}" in history[0]:
            ax.plot(epochs, [r[f"val_{key}"] for r in history], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if history:
        axes[0][0].set_yscale("log")
    if title:
        fig.suptitle(title)
    return save(fig, path)
