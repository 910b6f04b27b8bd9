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


def plot_comparison(
    curves: list[dict[str, Any]], path: str | Path, *, target: float | None = None, title: str = ""
) -> Path:
    """Validation accuracy against epoch and against training seconds: one mean line per entry of
    ``curves`` with a band of one standard deviation over seeds (see ``gradstep.compare``).

    Each entry has ``label``, ``epoch``, ``val_accuracy_mean``, ``val_accuracy_std`` and
    ``seconds_mean`` (lists of equal length; None where no run reached that epoch).
    """
    import numpy as np

    fig, axes = new_figure(2, width=5.6, height=4.0)
    for c in curves:
        mean = np.array([np.nan if v is None else v for v in c["val_accuracy_mean"]], dtype=float)
        std = np.array([np.nan if v is None else v for v in c["val_accuracy_std"]], dtype=float)
        secs = np.array([np.nan if v is None else v for v in c["seconds_mean"]], dtype=float)
        for ax, x in zip(axes[0], (np.asarray(c["epoch"], dtype=float), secs), strict=True):
            (line,) = ax.plot(x, mean, label=c["label"], marker="o", markersize=2.5, linewidth=1.4)
            ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.18, linewidth=0)
    for ax, xlabel in zip(axes[0], ("epoch", "training seconds (mean over seeds)"), strict=True):
        if target is not None:
            ax.axhline(target, color="black", linestyle="--", linewidth=0.8, label=f"target {target:g}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
    lows = [v for c in curves for v in c["val_accuracy_mean"] if v is not None]
    if lows:
        low = max(min(lows) - 0.05, 0.0)
        for ax in axes[0]:
            ax.set_ylim(low, 1.005)
    axes[0][0].legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    return save(fig, path)


def plot_panels(panels: list[dict[str, Any]], path: str | Path, *, title: str = "", ncols: int = 0) -> Path:
    """Side-by-side panels described as data, the lab's figures (``gradstep.lab``).

    Each panel is a dict with optional keys ``title``, ``xlabel``, ``ylabel``, ``logx``, ``logy`` and
    what to draw in it:

    - ``lines``: a list of ``{"x", "y", "label"}`` plus any ``Axes.plot`` keyword (``linestyle``,
      ``marker``, ``color``); None in ``y`` is a gap;
    - ``hists``: a list of ``{"values", "label"}`` plus ``Axes.hist`` keywords (``bins``, ``alpha``);
    - ``image``: ``{"array"}`` plus ``Axes.imshow`` keywords, drawn with a colorbar;
    - ``hlines`` / ``vlines``: a list of ``{"y"}`` / ``{"x"}`` plus ``label`` and line keywords.

    ``ncols`` (default: all panels in one row) wraps the panels into rows.
    """
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    ncols = ncols or len(panels)
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(ncols, nrows, width=4.6, height=3.6)
    flat = [ax for row in axes for ax in row]
    for ax, panel in zip(flat, panels, strict=False):
        legend = False
        for spec in panel.get("lines", []):
            kw = {k: v for k, v in spec.items() if k not in ("x", "y")}
            y = np.array([np.nan if v is None else v for v in spec["y"]], dtype=float)
            ax.plot(spec.get("x", np.arange(1, len(y) + 1)), y, **kw)
            legend |= "label" in spec
        for spec in panel.get("hists", []):
            kw = {"bins": 40, "alpha": 0.55, **{k: v for k, v in spec.items() if k != "values"}}
            ax.hist(np.asarray(spec["values"], dtype=float).ravel(), **kw)
            legend |= "label" in spec
        if "image" in panel:
            spec = panel["image"]
            kw = {"aspect": "auto", "cmap": "viridis", "interpolation": "nearest"}
            kw |= {k: v for k, v in spec.items() if k != "array"}
            fig.colorbar(ax.imshow(np.asarray(spec["array"], dtype=float), **kw), ax=ax)
        for spec in panel.get("hlines", []):
            kw = {"color": "black", "linestyle": ":", "linewidth": 1.0}
            ax.axhline(spec["y"], **(kw | {k: v for k, v in spec.items() if k != "y"}))
            legend |= "label" in spec
        for spec in panel.get("vlines", []):
            kw = {"color": "black", "linestyle": ":", "linewidth": 1.0}
            ax.axvline(spec["x"], **(kw | {k: v for k, v in spec.items() if k != "x"}))
            legend |= "label" in spec
        if not panel.get("logx"):
            ax.xaxis.set_major_locator(MaxNLocator(nbins=6))  # no crowded tick labels in narrow panels
        if panel.get("logx"):
            ax.set_xscale("log")
        if panel.get("logy"):
            ax.set_yscale("log")
        ax.set_title(panel.get("title", ""), fontsize=10)
        ax.set_xlabel(panel.get("xlabel", ""))
        ax.set_ylabel(panel.get("ylabel", ""))
        if "image" not in panel:
            ax.grid(alpha=0.3)
        if legend:
            ax.legend(fontsize=7)
    for ax in flat[len(panels) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return save(fig, path)


__all__ += ["plot_panels"]


def plot_paths(panels: list[dict[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Optimizer paths over the contours of 2-D functions, one panel per function.

    Each panel is a dict: ``x``, ``y`` (1-D grids) and ``z`` (``len(y) x len(x)`` values) for the
    contours, ``levels`` (optional contour levels; log-spaced levels suit valleys), ``paths`` (a list of
    ``{"xy": [[x, y], ...], "label"}`` plus ``Axes.plot`` keywords), ``optimum`` (optional ``[x, y]``),
    ``title``, ``xlabel``, ``ylabel``.
    """
    import numpy as np

    fig, axes = new_figure(len(panels), width=5.4, height=4.4)
    for ax, panel in zip(axes[0], panels, strict=True):
        z = np.asarray(panel["z"], dtype=float)
        levels = panel.get("levels")
        ax.contour(panel["x"], panel["y"], z, levels=levels if levels is not None else 20,
                   colors="gray", linewidths=0.6, alpha=0.7)  # fmt: skip
        for spec in panel.get("paths", []):
            xy = np.asarray(spec["xy"], dtype=float)
            kw = {"linewidth": 1.2, "marker": ".", "markersize": 2.5}
            kw |= {k: v for k, v in spec.items() if k != "xy"}
            (line,) = ax.plot(xy[:, 0], xy[:, 1], **kw)
            ax.plot(xy[-1, 0], xy[-1, 1], marker="o", color=line.get_color(), markersize=4)
        if panel.get("optimum") is not None:
            ax.plot(*panel["optimum"], marker="*", color="black", markersize=11, ls="", label="minimum")
        ax.set_xlim(min(panel["x"]), max(panel["x"]))
        ax.set_ylim(min(panel["y"]), max(panel["y"]))
        ax.set_title(panel.get("title", ""), fontsize=10)
        ax.set_xlabel(panel.get("xlabel", ""))
        ax.set_ylabel(panel.get("ylabel", ""))
        ax.legend(fontsize=7, loc=panel.get("legend_loc", "best"))
    if title:
        fig.suptitle(title)
    return save(fig, path)
