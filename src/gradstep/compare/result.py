"""What :func:`gradstep.compare.grid` measured, summarized over seeds: the table, curves and files."""

from __future__ import annotations

import csv
import io
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._json import dumps

__all__ = ["Comparison", "COLUMNS"]

# The table's columns, in order (also the CSV header).
COLUMNS = (
    "init",
    "optimizer",
    "lr",
    "seeds",
    "val_accuracy_mean",
    "val_accuracy_std",
    "test_accuracy_mean",
    "test_accuracy_std",
    "reached",
    "diverged",
    "epochs_to_target_mean",
    "epochs_to_target_std",
    "seconds_to_target_mean",
    "seconds_to_target_std",
    "train_seconds_mean",
)


@dataclass
class Comparison:
    """What :func:`grid` measured.

    ``rows``: one dict per (init, optimizer, lr) combination with the :data:`COLUMNS`.
    ``runs``: one dict per (combination, seed): the per-epoch ``val_accuracy``, ``train_loss`` and
    cumulative ``seconds`` curves and the run's outcome.
    ``settings``: the arguments, as resolved (seeds listed, init names and learning rates filled in).
    """

    settings: dict[str, Any]
    rows: list[dict[str, Any]]
    runs: list[dict[str, Any]] = field(repr=False)

    def curves(self) -> list[dict[str, Any]]:
        """Per combination: the mean and spread over seeds of validation accuracy against epoch and of
        the cumulative seconds, for plotting (:func:`gradstep.plots.plot_comparison`)."""
        out = []
        for row in self.rows:
            runs = [r for r in self.runs if combination_key(r) == combination_key(row)]
            acc = _padded([r["val_accuracy"] for r in runs])
            secs = _padded([r["seconds"] for r in runs])
            with warnings.catch_warnings():
                # An epoch that every seed's run diverged before has no mean: NaN, written as None.
                warnings.simplefilter("ignore", RuntimeWarning)
                out.append(
                    {
                        "label": _label(row, self.settings),
                        **{k: row[k] for k in ("init", "optimizer", "lr")},
                        "epoch": list(range(1, acc.shape[1] + 1)),
                        "val_accuracy_mean": _nan_to_none(np.nanmean(acc, axis=0)),
                        "val_accuracy_std": _nan_to_none(_nanstd(acc)),
                        "seconds_mean": _nan_to_none(np.nanmean(secs, axis=0)),
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "rows": self.rows, "runs": self.runs, "curves": self.curves()}

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
        return buf.getvalue()

    def table(self) -> list[list[str]]:
        """The rows as display strings: a header, then one line per combination."""
        header = [
            "init",
            "optimizer",
            "lr",
            "val acc",
            "test acc",
            "reached",
            "epochs to target",
            "seconds to target",
        ]
        lines = [header]
        for row in self.rows:
            n = row["seeds"]
            lines.append(
                [
                    row["init"],
                    row["optimizer"],
                    f"{row['lr']:g}",
                    _pm(row["val_accuracy_mean"], row["val_accuracy_std"], ".3f"),
                    _pm(row["test_accuracy_mean"], row["test_accuracy_std"], ".3f"),
                    f"{row['reached']}/{n}" + (f" ({row['diverged']} diverged)" if row["diverged"] else ""),
                    _pm(row["epochs_to_target_mean"], row["epochs_to_target_std"], ".1f"),
                    _pm(row["seconds_to_target_mean"], row["seconds_to_target_std"], ".2f"),
                ]
            )
        return lines

    def write(self, out: str | Path, *, figure: bool = True) -> list[Path]:
        """Write ``compare.csv``, ``compare.json`` and (with ``figure``) ``compare.png`` into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "compare.csv", out / "compare.json"]
        paths[0].write_text(self.to_csv())
        paths[1].write_text(dumps(self.to_dict(), indent=1))
        if figure:
            from ..plots import plot_comparison

            target = self.settings["target_accuracy"]
            title = f"{self.settings['data']}: validation accuracy, mean and spread over " + (
                f"{len(self.settings['seeds'])} seeds"
            )
            paths.append(plot_comparison(self.curves(), out / "compare.png", target=target, title=title))
        return paths


# -------------------------------------------------------------------------------------- summaries


def combination_key(d: dict[str, Any]) -> tuple[str, str, float]:
    return d["init"], d["optimizer"], d["lr"]


def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    v = [x for x in values if x is not None]
    if not v:
        return None, None
    std = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    return float(np.mean(v)), std


def summarize(init: str, opt: str, lr: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    val = _mean_std([r["final_val_accuracy"] for r in runs])
    test = _mean_std([r["test_accuracy"] for r in runs])
    ett = _mean_std([r["epochs_to_target"] for r in runs])
    stt = _mean_std([r["seconds_to_target"] for r in runs])
    total = _mean_std([r["seconds"][-1] if r["seconds"] else None for r in runs])
    return {
        "init": init,
        "optimizer": opt,
        "lr": lr,
        "seeds": len(runs),
        "val_accuracy_mean": val[0],
        "val_accuracy_std": val[1],
        "test_accuracy_mean": test[0],
        "test_accuracy_std": test[1],
        "reached": sum(r["epochs_to_target"] is not None for r in runs),
        "diverged": sum(r["diverged"] for r in runs),
        "epochs_to_target_mean": ett[0],
        "epochs_to_target_std": ett[1],
        "seconds_to_target_mean": stt[0],
        "seconds_to_target_std": stt[1],
        "train_seconds_mean": total[0],
    }


def _label(row: dict[str, Any], settings: dict[str, Any]) -> str:
    parts = [row["optimizer"], f"lr={row['lr']:g}"]
    if len(settings["inits"]) > 1:
        parts.insert(0, row["init"])
    return " ".join(parts)


def _pm(mean: float | None, std: float | None, fmt: str) -> str:
    if mean is None:
        return "-"
    return f"{mean:{fmt}} ± {std:{fmt}}"


def _padded(curves: list[list[float]]) -> np.ndarray:
    width = max((len(c) for c in curves), default=0)
    out = np.full((len(curves), width), np.nan)
    for i, c in enumerate(curves):
        out[i, : len(c)] = c
    return out


def _nanstd(a: np.ndarray) -> np.ndarray:
    counts = np.sum(~np.isnan(a), axis=0)
    std = np.nanstd(a, axis=0, ddof=1) if a.shape[0] > 1 else np.zeros(a.shape[1])
    return np.where(counts > 1, std, 0.0)


def _nan_to_none(a: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(x) else float(x) for x in a]
