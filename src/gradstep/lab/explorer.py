"""The explorer: an offline page beside the report where a reader moves the controls and sees what changes.

``explorer.html`` is one file: inline CSS, inline JavaScript, inline data; no network, fonts or CDN.
Every number it draws is computed here, in Python, by gradstep's own optimizers and initializers, over a
small grid of control values; the JavaScript only picks the precomputed series that match the controls
and draws it as SVG. Three views:

- **optimizer paths** on the notes' ravine ``f = (w^2 + 100 b^2) / 2`` (``db >> dw``) and on the
  Rosenbrock valley (``gradstep.lab.surfaces``), for each optimizer x learning rate x beta x epsilon;
- **the moving average** of noisy steps: ``Momentum`` (the notes' EMA) fed a noisy gradient, per beta,
  with its bias-corrected version;
- **activation scale through depth**: the per-layer std of the activations and of the back-propagated
  gradients of an MLP on digits (``gradstep.lab.common.layer_scales``), per initializer x activation x
  depth.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

__all__ = ["CONTROLS", "data", "write", "FILE"]

FILE = "explorer.html"

OPTIMIZERS = {"sgd": "gradient descent", "momentum": "momentum", "rmsprop": "RMSprop", "adam": "Adam"}
# Learning rates per surface: slow, near the best, and fast, for the two families.
LRS = {
    "ravine": {"plain": (0.005, 0.01, 0.019), "adaptive": (0.01, 0.03, 0.1)},
    "rosenbrock": {"plain": (0.0005, 0.001, 0.002), "adaptive": (0.003, 0.01, 0.03)},
}
BETAS = (0.5, 0.9, 0.99)  # momentum's beta, RMSprop's beta, Adam's beta1
EPSILONS = (1e-8, 1e-2, 1.0)  # RMSprop and Adam
INITS = {"he_normal": "He normal", "xavier_normal": "Xavier normal", "lecun_normal": "LeCun normal",
         "uniform": "U[-1/sqrt(n), 1/sqrt(n)]"}  # fmt: skip
ACTIVATIONS = ("relu", "tanh")
DEPTHS = (5, 15, 30)
STEPS = {"ravine": 120, "rosenbrock": 250}
EMA_STEPS = 80

CONTROLS = {
    "optimizer": list(OPTIMIZERS),
    "lr": [0, 1, 2],  # index into LRS[surface][family]
    "beta": list(BETAS),
    "eps": list(EPSILONS),
    "init": list(INITS),
    "activation": list(ACTIVATIONS),
    "depth": list(DEPTHS),
}


def _round(a, digits: int = 4) -> list:
    """Numbers with ``digits`` significant digits (small JSON); non-finite as None."""
    out = []
    for v in np.asarray(a, dtype=np.float64).ravel():
        out.append(float(f"{v:.{digits}g}") if np.isfinite(v) else None)
    return out


def _hyper(name: str, beta: float, eps: float) -> dict:
    if name == "momentum":
        return {"beta": beta}
    if name == "rmsprop":
        return {"beta": beta, "eps": eps}
    if name == "adam":
        return {"beta1": beta, "eps": eps}
    return {}


def _key(*parts) -> str:
    return "|".join(str(p) for p in parts)


def _paths() -> dict:
    from .surfaces import QUADRATIC, ROSENBROCK, trajectory

    out = {}
    for sname, surface in (("ravine", QUADRATIC), ("rosenbrock", ROSENBROCK)):
        x = np.linspace(*surface.xlim, 90)
        y = np.linspace(*surface.ylim, 70)
        z = surface.f(np.stack(np.meshgrid(x, y)))
        paths = {}
        for name in OPTIMIZERS:
            family = "plain" if name in ("sgd", "momentum") else "adaptive"
            betas = BETAS if name != "sgd" else (None,)
            epsilons = EPSILONS if name in ("rmsprop", "adam") else (None,)
            for i, lr in enumerate(LRS[sname][family]):
                for beta in betas:
                    for eps in epsilons:
                        path, diverged = trajectory(
                            surface, name, lr, STEPS[sname], **_hyper(name, beta, eps)
                        )
                        path = np.clip(path, -50, 50)  # a diverging path leaves the picture anyway
                        paths[_key(name, i, beta, eps)] = {"xy": _round(path), "diverged": diverged, "lr": lr}
        out[sname] = {
            "title": surface.name if sname == "rosenbrock" else "ravine: f = (w² + 100 b²) / 2, db >> dw",
            "labels": list(surface.labels), "xlim": list(surface.xlim), "ylim": list(surface.ylim),
            "x": _round(x), "y": _round(y), "logz": _round(np.log10(z + 1e-3), 3),
            "minimum": list(surface.minimum), "paths": paths,
        }  # fmt: skip
    return out


def _ema(seed: int) -> dict:
    from .. import optim

    rng = np.random.default_rng(seed)
    trend = np.where(np.arange(EMA_STEPS) < EMA_STEPS // 2, 1.0, -1.0)  # the slope flips halfway
    g = trend + rng.standard_normal(EMA_STEPS)
    out = {"g": _round(g), "trend": _round(trend), "by_beta": {}}
    for beta in BETAS:
        w = np.zeros(1)
        opt = optim.Momentum([w], lr=1e-3, beta=beta)  # the notes' V = beta V + (1 - beta) dw
        V, V_hat = [], []
        for t in range(1, EMA_STEPS + 1):
            opt.step([np.array([g[t - 1]])])
            v = float(opt.state["V"][0][0])
            V.append(v)
            V_hat.append(v / (1 - beta**t))
        out["by_beta"][str(beta)] = {"V": _round(V), "V_hat": _round(V_hat)}
    return out


def _depth(seed: int) -> dict:
    from ..nn import MLP
    from .common import digits, layer_scales

    ds = digits(seed)
    X, y = ds.X_train[:256], ds.y_train[:256]
    out = {}
    for init in INITS:
        for act in ACTIVATIONS:
            for depth in DEPTHS:
                model = MLP(
                    (X.shape[1], *[64] * depth, 10), activation=act, init=init, rng=seed, dtype=np.float64
                )
                s = layer_scales(model, X, y)
                out[_key(init, act, depth)] = {"a_std": _round(s["a_std"]), "grad_std": _round(s["grad_std"])}
    return out


def data(seed: int = 0) -> dict:
    """Everything the page draws, for every combination of the control values."""
    return {
        "controls": {name: [str(v) for v in values] for name, values in CONTROLS.items()},
        "names": {"optimizer": OPTIMIZERS, "init": INITS},
        "lrs": LRS,
        "surfaces": _paths(),
        "ema": _ema(seed),
        "depth": _depth(seed),
    }


def write(out: str | Path, *, seed: int = 0) -> Path:
    """Write ``out/explorer.html`` and return its path."""
    from ._explorer_page import PAGE

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data(seed), separators=(",", ":"), allow_nan=False)
    # Inside <script>, only "</" could end the element early; JSON never needs it unescaped.
    payload = payload.replace("</", "<\\/")
    path = out / FILE
    path.write_text(PAGE.replace("__DATA__", payload).replace("__SEED__", html.escape(str(seed))), "utf-8")
    return path
