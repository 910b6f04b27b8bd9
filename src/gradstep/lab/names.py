"""Readable names and units for the lab's metric keys, for the report's "Measured" tables.

A metric is stored under a short dotted key (``race.tuned lr.adam.seconds_to_target_median``), which is
what results.json keeps and what code reads. On the page a newcomer reads
``race › tuned lr › Adam › seconds to target, median`` with the unit ``s``. The words come from one
table of abbreviations; the unit is read off the key's last part.

>>> readable("optim.adam.val_accuracy_mean")
('optim › Adam › validation accuracy, mean', 'fraction correct')
>>> readable("race.defaults.adam.epochs_ratio_to_gd.low")
('race › defaults › Adam › epochs ratio to GD › low', 'ratio')
>>> readable("grad_W1_std[0]")
('gradient W1, std #1', '')
"""

from __future__ import annotations

import re

__all__ = ["readable", "unit"]

# Whole key parts that are names: optimizers, initializers, activations.
PARTS = {
    "sgd": "mini-batch GD",
    "momentum": "momentum",
    "rmsprop": "RMSprop",
    "adam": "Adam",
    "he_normal": "He normal",
    "he": "He",
    "xavier_normal": "Xavier normal",
    "xavier_uniform": "Xavier uniform",
    "lecun": "LeCun",
    "notes_uniform": "the notes' uniform",
    "uniform": "symmetric uniform",
    "relu": "ReLU",
    "tanh": "tanh",
}

# Words inside a part (split at "_").
WORDS = {
    "lr": "learning rate",
    "val": "validation",
    "grad": "gradient",
    "gd": "GD",
    "r2": "R²",
    "rms": "RMS",
    "sq": "squared",
    "rel": "relative",
    "eps": "epsilon",
    "var": "variance",
    "std": "std",
    "n": "n",
    "a": "activation",
    "z": "z",
    "se": "standard errors",
    "over": "/",
    "first10": "first 10",
    "log10": "log10",
    "loglog": "log-log",
    "n_sigma2": "n sigma²",
    "sigma2": "sigma²",
    "max": "max",
    "abs": "|.|",
}

# Trailing statistic words, set off with a comma: "seconds to target, median".
STATISTICS = ("mean", "median", "std", "min", "max", "low", "high")

# Units, by the last words of the key's last part (first match wins).
UNITS = (
    (r"(^|_)(ratio|over)(_|$)", "ratio"),
    (r"seconds(_|$)|(^|_)seconds", "s"),
    (r"(^|_)epochs(_|$)", "epochs"),
    (r"(^|_)steps(_|$)|_step_index$", "steps"),
    (r"accuracy", "fraction correct"),
    (r"fraction", "fraction"),
    (r"(^|_)loss|entropy", "nats"),
    (r"(^|_)(relative|rel)_(error|diff)", "relative"),
    (r"log10_(slope|rate)", "log10 per layer"),
)


def unit(key: str) -> str:
    """The unit of the metric ``key`` ('' when it has none: a count, a name, a correlation)."""
    parts = [p for p in re.split(r"\.|\[\d+\]", key) if p]
    # A statistic of a quantity ("...epochs_ratio_to_gd.low") has the quantity's unit.
    while len(parts) > 1 and parts[-1] in STATISTICS + ("verdict", "value"):
        parts.pop()
    last = parts[-1] if parts else key
    for pattern, name in UNITS:
        if re.search(pattern, last):
            return name
    return ""


def _part(part: str) -> str:
    if part in PARTS:
        return PARTS[part]
    if "+" in part:
        return " + ".join(_part(p) for p in part.split("+"))
    words = part.split("_")
    stat = words.pop() if len(words) > 1 and words[-1] in STATISTICS else None
    text = " ".join(WORDS.get(w, w) for w in words)
    return f"{text}, {stat}" if stat else text


def readable(key: str) -> tuple[str, str]:
    """``(name, unit)`` for a flattened metric key: parts joined by " › ", list indices as "#1"."""
    out = []
    for part in key.split("."):
        m = re.fullmatch(r"(.*?)((?:\[\d+\])*)", part)
        name, indices = m.group(1), re.findall(r"\[(\d+)\]", m.group(2))
        text = _part(name) + "".join(f" #{int(i) + 1}" for i in indices)
        out.append(text)
    return " › ".join(out), unit(key)
