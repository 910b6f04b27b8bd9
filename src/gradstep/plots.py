"""Figures. The only module that imports matplotlib, and only inside functions (Agg backend, no screen).

Besides the training curves (:func:`plot_history`, :func:`plot_comparison`), it draws figures described
as data by small frozen records, the lab's figures (``gradstep.lab``): a :class:`PanelFigure` of side-by-
side :class:`Panel` s holding :class:`Line`, :class:`Hist`, :class:`Image`, :class:`HLine` and
:class:`VLine` records; a :class:`ContourFigure` of :class:`Contour` panels with optimizer
:class:`Trajectory` s; a :class:`ComparisonFigure` of ``gradstep.compare`` curves. :func:`draw` draws any of
them. Building a record imports nothing heavy; only drawing imports matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "plot_history",
    "plot_comparison",
    "plot_lr_find",
    "new_figure",
    "save",
    "Line",
    "Hist",
    "Image",
    "HLine",
    "VLine",
    "Panel",
    "PanelFigure",
    "Trajectory",
    "Contour",
    "ContourFigure",
    "ComparisonFigure",
    "Figure",
    "draw",
]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# The report's column is about 1100 pixels wide, 10 inches at the figures' 110 dpi: a wider figure is
# shrunk to fit, and its text with it. Fonts grow with the width so that they stay readable there.
PAGE_WIDTH_INCHES = 10.0
BASE_FONT_SIZE = 10.0


def readable(width: float):
    """A matplotlib style context for a figure ``width`` inches wide: when the figure is wider than the
    page, fonts grow by ``(width / PAGE_WIDTH_INCHES) ** 0.75``, so that after the page shrinks it the
    text is still about 9 points (all the way would crowd the panels' titles and labels)."""
    import matplotlib

    scale = max(1.0, width / PAGE_WIDTH_INCHES) ** 0.75
    return matplotlib.rc_context({"font.size": BASE_FONT_SIZE * scale})


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
    fig.savefig(path, dpi=110, bbox_inches="tight")  # "tight": legends placed outside the axes fit
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


def plot_lr_find(result, path: str | Path, title: str = "") -> Path:
    """A learning-rate range test (:class:`gradstep.lr_range.LRFindResult`): the raw and smoothed loss
    against the rate (log axis), the valley and steepest-descent rates marked, the suggestion labelled."""
    fig, axes = new_figure(1, width=6.4, height=4.2)
    ax = axes[0][0]
    ax.plot(result.lrs, result.losses, color="0.75", lw=0.8, label="batch loss")
    ax.plot(result.lrs, result.smoothed, color="C0", lw=1.8, label="smoothed")
    marks = [
        ("minimum", result.minimum, "C3"),
        ("valley", result.valley, "C1"),
        ("steepest", result.steepest, "C2"),
    ]
    for name, lr, color in marks:
        i = min(range(len(result.lrs)), key=lambda k: abs(math.log(result.lrs[k] / lr)))
        chosen = " (suggested)" if name == result.rule else ""
        ax.axvline(lr, color=color, ls="--", lw=1)
        ax.plot([lr], [result.smoothed[i]], "o", color=color, label=f"{name}: {lr:.3g}{chosen}")
    ax.set_xscale("log")
    low, high = min(result.smoothed), max(result.smoothed[: max(len(result.smoothed) // 10, 1)])
    ax.set_ylim(low - 0.1 * (high - low + 1e-12), high + 0.5 * (high - low + 1e-12))
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title or "learning-rate range test")
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


# -- figures described as data --------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """``y`` against ``x`` (None in ``y`` is a gap); unset styles are matplotlib's."""

    x: Sequence[float]
    y: Sequence[float | None]
    label: str | None = None
    color: str | None = None
    linestyle: str | None = None
    marker: str | None = None
    markersize: float | None = None
    linewidth: float | None = None


@dataclass(frozen=True)
class Hist:
    """A histogram of ``values`` (any shape; flattened)."""

    values: Any
    label: str | None = None
    bins: int | Sequence[float] = 40
    alpha: float = 0.55
    color: str | None = None
    density: bool | None = None
    histtype: str | None = None


@dataclass(frozen=True)
class Image:
    """A 2-D array drawn as a heat map with a colorbar; ``label`` names what the colours mean (with units)."""

    array: Any
    label: str = ""


@dataclass(frozen=True)
class HLine:
    """A horizontal reference line at ``y``."""

    y: float
    label: str | None = None
    color: str = "black"
    linestyle: str = ":"
    linewidth: float = 1.0


@dataclass(frozen=True)
class VLine:
    """A vertical reference line at ``x``."""

    x: float
    label: str | None = None
    color: str = "black"
    linestyle: str = ":"
    linewidth: float = 1.0


@dataclass(frozen=True)
class Panel:
    """One set of axes: what to draw in it, its labels and which axes are logarithmic."""

    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    logx: bool = False
    logy: bool = False
    lines: Sequence[Line] = ()
    hists: Sequence[Hist] = ()
    image: Image | None = None
    hlines: Sequence[HLine] = ()
    vlines: Sequence[VLine] = ()
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    yticks: Sequence[tuple[float, str]] = ()  # (position, label) pairs, replacing the numeric ticks


@dataclass(frozen=True)
class PanelFigure:
    """Panels side by side; ``ncols`` (default: all in one row) wraps them into rows."""

    panels: Sequence[Panel]
    title: str = ""
    ncols: int = 0


@dataclass(frozen=True)
class Trajectory:
    """An optimizer's path ``[[x, y], ...]`` over a contour plot; its last point is marked."""

    xy: Any
    label: str | None = None
    color: str | None = None


@dataclass(frozen=True)
class Contour:
    """Contours of ``z`` (``len(y) x len(x)``) over the grids ``x`` and ``y``, with paths drawn over them.

    ``levels`` (default: 20 automatic ones) are the contour levels; ``optimum`` is marked with a star.
    """

    x: Sequence[float]
    y: Sequence[float]
    z: Any
    levels: Sequence[float] | None = None
    paths: Sequence[Trajectory] = ()
    optimum: Sequence[float] | None = None
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    legend_loc: str = "below"  # "below" the axes, or a matplotlib location inside them


@dataclass(frozen=True)
class ContourFigure:
    """Contour panels side by side, one per function."""

    panels: Sequence[Contour]
    title: str = ""


@dataclass(frozen=True)
class ComparisonFigure:
    """:func:`plot_comparison` of ``curves`` (the dicts of ``gradstep.compare``)."""

    curves: Sequence[dict[str, Any]]
    target: float | None = None
    title: str = ""


Figure = PanelFigure | ContourFigure | ComparisonFigure


def draw(figure: Figure, path: str | Path) -> Path:
    """Draw ``figure`` (any of the figure records) into the PNG file ``path``."""
    if isinstance(figure, PanelFigure):
        return plot_panels(figure.panels, path, title=figure.title, ncols=figure.ncols)
    if isinstance(figure, ContourFigure):
        return plot_paths(figure.panels, path, title=figure.title)
    if isinstance(figure, ComparisonFigure):
        return plot_comparison(list(figure.curves), path, target=figure.target, title=figure.title)
    raise TypeError(f"draw() takes a PanelFigure, ContourFigure or ComparisonFigure; got {type(figure)}")


def _style(**kw) -> dict[str, Any]:
    """The keywords that are set: an unset style leaves matplotlib's default (or its cycle) in place."""
    return {k: v for k, v in kw.items() if v is not None}


TITLE_CHARS = 44  # a panel's title wraps onto a second line beyond this


def _draw_panel(fig, ax, panel: Panel) -> None:
    import textwrap

    import numpy as np
    from matplotlib.ticker import MaxNLocator

    for s in panel.lines:
        y = np.array([np.nan if v is None else v for v in s.y], dtype=float)
        ax.plot(s.x, y, **_style(label=s.label, color=s.color, linestyle=s.linestyle, marker=s.marker,
                                 markersize=s.markersize, linewidth=s.linewidth))  # fmt: skip
    for s in panel.hists:
        ax.hist(np.asarray(s.values, dtype=float).ravel(), bins=s.bins, alpha=s.alpha,
                **_style(label=s.label, color=s.color, density=s.density, histtype=s.histtype))  # fmt: skip
    if panel.image is not None:
        image = ax.imshow(np.asarray(panel.image.array, dtype=float), aspect="auto", cmap="viridis",
                          interpolation="nearest")  # fmt: skip
        bar = fig.colorbar(image, ax=ax)
        bar.set_label(panel.image.label)
    for s in panel.hlines:
        ax.axhline(s.y, **_style(color=s.color, linestyle=s.linestyle, linewidth=s.linewidth, label=s.label))
    for s in panel.vlines:
        ax.axvline(s.x, **_style(color=s.color, linestyle=s.linestyle, linewidth=s.linewidth, label=s.label))
    if panel.logx:
        ax.set_xscale("log")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))  # no crowded tick labels in narrow panels
    if panel.logy:
        ax.set_yscale("log")
    if panel.xlim is not None:
        ax.set_xlim(*panel.xlim)
    if panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    if panel.yticks:
        ax.set_yticks([p for p, _ in panel.yticks], [label for _, label in panel.yticks])
    ax.set_title(textwrap.fill(panel.title, TITLE_CHARS), fontsize="medium")
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    if panel.image is None:
        ax.grid(alpha=0.3)
    labelled = [s.label for group in (panel.lines, panel.hists, panel.hlines, panel.vlines) for s in group]
    if any(label is not None for label in labelled):
        ax.legend(fontsize="small")


def plot_panels(panels: Sequence[Panel], path: str | Path, *, title: str = "", ncols: int = 0) -> Path:
    """:class:`Panel` s side by side, ``ncols`` to a row (default: all in one row)."""
    ncols = ncols or len(panels)
    nrows = -(-len(panels) // ncols)
    with readable(4.6 * ncols):
        fig, axes = new_figure(ncols, nrows, width=4.6, height=3.6)
        flat = [ax for row in axes for ax in row]
        for ax, panel in zip(flat, panels, strict=False):
            _draw_panel(fig, ax, panel)
        for ax in flat[len(panels) :]:
            ax.set_visible(False)
        if title:
            fig.suptitle(title)
        return save(fig, path)


def plot_paths(panels: Sequence[Contour], path: str | Path, *, title: str = "") -> Path:
    """Optimizer paths over the contours of 2-D functions, one :class:`Contour` panel per function."""
    with readable(5.4 * len(panels)):
        fig, axes = new_figure(len(panels), width=5.4, height=4.4)
        for ax, panel in zip(axes[0], panels, strict=True):
            _draw_contour(ax, panel)
        if title:
            fig.suptitle(title)
        return save(fig, path)


def _draw_contour(ax, panel: Contour) -> None:
    import numpy as np

    levels = panel.levels if panel.levels is not None else 20
    ax.contour(panel.x, panel.y, np.asarray(panel.z, dtype=float), levels=levels,
               colors="gray", linewidths=0.6, alpha=0.7)  # fmt: skip
    for s in panel.paths:
        xy = np.asarray(s.xy, dtype=float)
        kw = {"linewidth": 1.2, "marker": ".", "markersize": 2.5} | _style(label=s.label, color=s.color)
        (line,) = ax.plot(xy[:, 0], xy[:, 1], **kw)
        ax.plot(xy[-1, 0], xy[-1, 1], marker="o", color=line.get_color(), markersize=4)
    if panel.optimum is not None:
        ax.plot(*panel.optimum, marker="*", color="black", markersize=11, ls="", label="minimum")
    ax.set_xlim(min(panel.x), max(panel.x))
    ax.set_ylim(min(panel.y), max(panel.y))
    ax.set_title(panel.title, fontsize="medium")
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    if panel.legend_loc == "below":  # outside the axes: it never covers a path
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=2)
    else:
        ax.legend(fontsize="small", loc=panel.legend_loc)
