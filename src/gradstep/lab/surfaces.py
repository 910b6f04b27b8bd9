"""Optimizer paths on two-dimensional functions: the machinery of the RMSprop experiment.

No experiment is registered here. A :class:`Surface` is a function of two parameters with its gradient;
:func:`trajectory` runs one of gradstep's optimizers (``gradstep.optim.create``) on it from the
surface's start and records every point. Two surfaces:

- :data:`QUADRATIC`, ``f(w, b) = (a w^2 + c b^2) / 2`` with ``c = 100 a``: the notes' picture, where
  the gradient in b dwarfs the one in w (``db = c b >> dw = a w``). Gradient descent is stable only for
  ``lr < 2 / c``, so w, whose curvature is 100 times smaller, crawls; the fastest rate is reached at
  ``lr = 2 / (a + c)``, where b flips sign at every step.
- :data:`ROSENBROCK`, ``f(x, y) = (1 - x)^2 + 100 (y - x^2)^2``: a curved valley, steep across and flat
  along, with its minimum at (1, 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = [
    "Surface",
    "quadratic",
    "QUADRATIC",
    "ROSENBROCK",
    "trajectory",
    "reach_step",
    "settle_step",
    "contour_panel",
]


class Surface(NamedTuple):
    name: str
    f: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    start: tuple[float, float]
    minimum: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    labels: tuple[str, str]


def quadratic(c: float, a: float = 1.0) -> Surface:
    """``f(w, b) = (a w^2 + c b^2) / 2`` from (-3, 1): curvature a along w, c along b."""
    return Surface(
        name=f"quadratic, c/a = {c / a:g}",
        f=lambda p: 0.5 * (a * p[0] ** 2 + c * p[1] ** 2),
        grad=lambda p: np.array([a * p[0], c * p[1]]),
        start=(-3.0, 1.0),
        minimum=(0.0, 0.0),
        xlim=(-3.3, 0.6),
        ylim=(-1.2, 1.2),
        labels=("w", "b"),
    )


QUADRATIC = quadratic(100.0)

ROSENBROCK = Surface(
    name="Rosenbrock",
    f=lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2,
    grad=lambda p: np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2), 200 * (p[1] - p[0] ** 2)]),
    start=(-1.2, 1.0),
    minimum=(1.0, 1.0),
    xlim=(-1.6, 1.6),
    ylim=(-0.6, 1.8),
    labels=("x", "y"),
)


def trajectory(
    surface: Surface,
    optimizer: str,
    lr: float,
    steps: int,
    *,
    until: Callable[[np.ndarray], bool] | None = None,
    **hyperparams,
) -> tuple[np.ndarray, bool]:
    """The points ``(steps + 1, 2)`` visited by ``optimizer`` from ``surface.start``; float64.

    Returns ``(path, diverged)``: a run that leaves the region |p| < 1e6 (or becomes non-finite) stops
    there, with ``diverged`` True and the path cut at that step. ``until(p)`` True stops the run early.
    """
    from .. import optim

    p = np.array(surface.start, dtype=np.float64)
    opt = optim.create(optimizer, [p], lr=lr, **hyperparams)
    path = [p.copy()]
    for _ in range(steps):
        opt.step([surface.grad(p)])
        if not np.all(np.isfinite(p)) or np.abs(p).max() > 1e6:
            return np.array(path), True
        path.append(p.copy())
        if until is not None and until(p):
            break
    return np.array(path), False


def reach_step(distance: np.ndarray, tol: float) -> int | None:
    """The first step at which ``distance`` is below ``tol``, or None if it never is."""
    below = np.nonzero(np.asarray(distance) < tol)[0]
    return int(below[0]) if len(below) else None


def settle_step(distance: np.ndarray, tol: float) -> int | None:
    """The first step after which ``distance`` stays below ``tol`` to the end, or None if it never does."""
    above = np.nonzero(np.asarray(distance) >= tol)[0]
    if len(above) == 0:
        return 0
    if above[-1] == len(distance) - 1:
        return None
    return int(above[-1] + 1)


def contour_panel(surface: Surface, paths: list, *, title: str = "", log_levels: bool = False):
    """A :class:`gradstep.plots.Contour`: the surface's contours and ``paths`` (``plots.Trajectory``)."""
    from ..plots import Contour

    x = np.linspace(*surface.xlim, 240)
    y = np.linspace(*surface.ylim, 200)
    X, Y = np.meshgrid(x, y)
    Z = surface.f(np.stack([X, Y]))
    if log_levels:
        levels = np.logspace(-1, np.log10(Z.max()), 18).tolist()
    else:
        levels = np.linspace(0, float(surface.f(np.array(surface.start))) * 1.3, 16)[1:].tolist()
    return Contour(
        x=x.tolist(), y=y.tolist(), z=Z, levels=levels, paths=tuple(paths), optimum=list(surface.minimum),
        title=title or surface.name, xlabel=surface.labels[0], ylabel=surface.labels[1],
    )  # fmt: skip
