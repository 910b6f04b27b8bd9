"""The lab report: run experiments into a folder, then write ``index.html`` and ``results.json`` there.

Layout of the folder ``out``::

    out/index.html          one page: a summary table, then one section per experiment
    out/results.json        everything on the page as data (every metric, unabbreviated)
    out/<name>/*.png        each experiment's figures, referenced relatively from index.html

The page is readable offline: inline CSS, no scripts, no fonts or images from elsewhere (``embed=True``
puts the figures into the page as base64, making index.html a single self-contained file).

An experiment that raises is recorded as an error, with the exception, and the others still run; a verdict
that does not hold is a result like any other. ``gradstep lab`` is the command-line front end.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import platform
import re
import time
import traceback
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._json import dumps
from .base import Experiment, Result, run_experiment

__all__ = ["Entry", "run_all", "write", "build", "STATUSES"]

SCHEMA = 1
STATUSES = ("held", "did not hold", "error")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Entry:
    """One experiment's place in the report: its result, ``status`` (one of :data:`STATUSES`), the
    traceback if it raised, and its figures' paths relative to the report folder."""

    experiment: Experiment
    result: Result
    status: str
    error: str | None = None

    @property
    def figures(self) -> list[str]:
        return [f"{self.experiment.name}/{f}" for f in self.result.figures]


def _single_threaded_blas():
    """The lab's matrices are small: one BLAS thread is faster, and on a shared machine multi-threaded
    BLAS spends more time waiting for cores than computing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn, a dependency, brings threadpoolctl
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run_all(
    experiments: Sequence[Experiment],
    out: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    on_start: Callable[[int, Experiment], None] | None = None,
    on_done: Callable[[int, Entry], None] | None = None,
) -> list[Entry]:
    """Run each experiment into ``out/<name>/`` and return one :class:`Entry` per experiment, in order.

    ``on_start(i, experiment)`` and ``on_done(i, entry)`` (optional) are called around experiment ``i``
    (0-based), e.g. to drive a progress bar.
    """
    out = Path(out)
    entries = []
    with _single_threaded_blas():
        for i, exp in enumerate(experiments):
            if on_start is not None:
                on_start(i, exp)
            t0 = time.perf_counter()
            try:
                result = run_experiment(exp, out / exp.name, quick=quick, seed=seed)
                entry = Entry(exp, result, "held" if result.holds else "did not hold")
            except Exception as exc:  # an experiment's bug must not lose the other experiments' results
                result = Result(
                    name=exp.name, title=exp.title, claim="", criterion="", holds=False,
                    verdict=f"The experiment raised {type(exc).__name__}: {exc}", metrics={},
                    seconds=time.perf_counter() - t0,
                )  # fmt: skip
                entry = Entry(exp, result, "error", traceback.format_exc())
            entries.append(entry)
            if on_done is not None:
                on_done(i, entry)
    return entries


def build(
    experiments: Sequence[Experiment], out: str | Path, *, quick: bool = False, seed: int = 0, **kwargs
) -> tuple[list[Entry], Path, Path]:
    """:func:`run_all` then :func:`write`: returns the entries and the paths of index.html and results.json.

    ``kwargs`` go to :func:`run_all` (``on_start``, ``on_done``) or :func:`write` (``embed``).
    """
    embed = kwargs.pop("embed", False)
    t0 = time.perf_counter()
    entries = run_all(experiments, out, quick=quick, seed=seed, **kwargs)
    index, results = write(
        entries, out, quick=quick, seed=seed, embed=embed, seconds=time.perf_counter() - t0
    )
    return entries, index, results


# -- results.json ---------------------------------------------------------------------------------------


def _is_png(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(8) == PNG_SIGNATURE
    except OSError:
        return False


def _document(entries: Sequence[Entry], out: Path, *, quick: bool, seed: int, seconds: float | None) -> dict:
    import numpy

    from .. import __version__

    counts = {s: sum(e.status == s for e in entries) for s in STATUSES}
    experiments = []
    for e in entries:
        d = e.result.to_dict()
        d["figures"] = e.figures
        d["missing_figures"] = [f for f in e.figures if not _is_png(out / f)]
        d |= {"status": e.status, "error": e.error, "order": e.experiment.order}
        experiments.append(d)
    return {
        "schema": SCHEMA,
        "generator": f"gradstep {__version__}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": _command([e.experiment.name for e in entries], quick=quick, seed=seed),
        "quick": quick,
        "seed": seed,
        "seconds": sum(e.result.seconds for e in entries) if seconds is None else seconds,
        "environment": {
            "python": platform.python_version(),
            "numpy": numpy.__version__,
            "platform": platform.platform(),
        },  # fmt: skip
        "summary": {
            "experiments": len(entries),
            "held": counts["held"],
            "did_not_hold": counts["did not hold"],
            "errors": counts["error"],
        },  # fmt: skip
        "experiments": experiments,
    }


def _command(names: Sequence[str], *, quick: bool, seed: int) -> str:
    """The command that reruns ``names``: ``--all`` when they are every registered experiment."""
    from .base import registry

    every = [e.name for e in registry()]
    what = "--all" if sorted(names) == sorted(every) else " ".join(names)
    return f"gradstep lab {what} --seed {seed}" + (" --quick" if quick else "")


def write(
    entries: Sequence[Entry],
    out: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    embed: bool = False,
    seconds: float | None = None,
    explorer: bool = True,
) -> tuple[Path, Path]:
    """Write ``out/results.json`` and ``out/index.html`` for ``entries``, and (``explorer``) the explorer
    page ``out/explorer.html`` that the related claims link to; return the first two paths."""
    from . import explorer as explorer_page

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if explorer:
        explorer_page.write(out, seed=seed)
    doc = _document(entries, out, quick=quick, seed=seed, seconds=seconds)
    results = out / "results.json"
    results.write_text(dumps(doc, indent=1) + "\n", encoding="utf-8")
    index = out / "index.html"
    index.write_text(render_html(doc, out, embed=embed, explorer=explorer), encoding="utf-8")
    return index, results


# -- index.html -----------------------------------------------------------------------------------------

CSS = """
:root { --ok: #1a7f37; --bad: #cf222e; --err: #9a6700; --ink: #1f2328; --muted: #59636e;
        --line: #d1d9e0; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 68rem; padding: 1.5rem; color: var(--ink); line-height: 1.5;
       font: 16px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
h1 { margin: 0 0 .25rem; font-size: 1.8rem; }
h2 { margin: 0 0 .5rem; font-size: 1.3rem; display: flex; gap: .6rem; align-items: baseline;
     flex-wrap: wrap; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--soft);
       padding: .05em .3em; border-radius: 4px; }
.meta, .rerun { color: var(--muted); font-size: .9rem; }
.badge { display: inline-block; padding: .1em .6em; border-radius: 1em; font-size: .8rem;
         font-weight: 600; color: #fff; white-space: nowrap; vertical-align: middle; }
.badge.held { background: var(--ok); } .badge.did-not-hold { background: var(--bad); }
.badge.error { background: var(--err); }
table { border-collapse: collapse; width: 100%; font-size: .88rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left;
         vertical-align: top; }
th { background: var(--soft); }
td.num { font-variant-numeric: tabular-nums; text-align: right; white-space: nowrap; }
td.unit { color: var(--muted); white-space: nowrap; }
td.value { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-word; }
section { border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.25rem; margin: 1.5rem 0; }
section.held { border-left: 6px solid var(--ok); } section.did-not-hold { border-left: 6px solid var(--bad); }
section.error { border-left: 6px solid var(--err); }
.claim, .criterion { margin: .4rem 0; }
figure { margin: 1rem 0; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
.verdict { padding: .6rem .8rem; border-radius: 6px; margin: .8rem 0; }
.verdict.held { background: #dafbe1; } .verdict.did-not-hold { background: #ffebe9; }
.verdict.error { background: #fff8c5; }
.caveat { background: var(--soft); border-left: 4px solid var(--muted); padding: .5rem .8rem;
          margin: .8rem 0; }
.metrics { max-height: 28rem; overflow: auto; }
.missing { color: var(--bad); }
pre { overflow: auto; background: var(--soft); padding: .6rem; font-size: .8rem; }
"""

_LIST_SHOWN = 8  # longer lists are abbreviated on the page; results.json has every value


def _text(s: str) -> str:
    """Escape for HTML, then show `backticked` names as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(s))


def _slug(status: str) -> str:
    return status.replace(" ", "-")


def _badge(status: str) -> str:
    return f'<span class="badge {_slug(status)}">{html.escape(status)}</span>'


def _number(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "0" if v == 0 else f"{v:.6g}"
    return html.escape(str(v))


def _value(v: Any) -> str:
    """One cell: a number, or a list of numbers (abbreviated beyond a few), or short JSON."""
    if isinstance(v, list) and all(not isinstance(x, (list, dict)) for x in v):
        cells = [_number(x) for x in v]
        if len(cells) > _LIST_SHOWN:
            cells = [*cells[:5], "&hellip;", *cells[-2:]]
            return f"[{', '.join(cells)}] <span class='meta'>({len(v)} values)</span>"
        return f"[{', '.join(cells)}]"
    if isinstance(v, (list, dict)):
        return html.escape(json.dumps(v)[:200])
    return _number(v)


def flatten(metrics: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"a": {"b": 1}, "c": [{"d": 2}]}`` -> ``[("a.b", 1), ("c[0].d", 2)]``; number lists stay whole."""
    rows: list[tuple[str, Any]] = []
    for key, v in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(v, dict):
            rows += flatten(v, f"{name}.")
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, x in enumerate(v):
                rows += flatten(x, f"{name}[{i}].")
        else:
            rows.append((name, v))
    return rows


def _measured(rows: list[tuple[str, Any]]) -> str:
    """The "Measured" table: a readable name and unit per metric; the key in results.json on hover."""
    from .names import readable

    body = []
    for key, v in rows:
        name, unit = readable(key)
        body.append(
            f"<tr><td title='{html.escape(key, quote=True)}'>{html.escape(name)}</td>"
            f"<td class='unit'>{html.escape(unit)}</td><td class='value'>{_value(v)}</td></tr>"
        )
    return (
        "<h3>Measured</h3><div class='metrics'><table><thead><tr><th>quantity (hover: its key in "
        "results.json)</th><th>unit</th><th>value</th></tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _figure(rel: str, out: Path, embed: bool, alt: str) -> str:
    path = out / rel
    if not _is_png(path):
        return f'<p class="missing">Figure missing or not a PNG file: <code>{html.escape(rel)}</code></p>'
    if embed:
        src = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    else:
        src = html.escape(urllib.parse.quote(rel), quote=True)
    return (
        f'<figure><img src="{src}" alt="{html.escape(alt, quote=True)}">'
        f"<figcaption class='meta'>{html.escape(rel)}</figcaption></figure>"
    )


# The explorer's view for each claim it lets a reader play with (explorer.html#<view>).
EXPLORER_VIEWS = {
    "optim_rmsprop": "paths", "optim_adam_bias": "paths", "optim_race": "paths",
    "optim_minibatch_noise": "ema", "optim_ema": "ema",
    "init_deep_linear": "depth", "init_scales": "depth", "init_he2015": "depth", "init_glorot2010": "depth",
}  # fmt: skip


def _section(i: int, e: dict, out: Path, *, quick: bool, seed: int, embed: bool, explorer: bool) -> str:
    status = e["status"]
    parts = [
        f'<section id="{html.escape(e["name"], quote=True)}" class="{_slug(status)}">',
        f"<h2><span>{i}. {html.escape(e['title'])}</span>{_badge(status)}</h2>",
    ]
    if e["claim"]:
        parts.append(f'<p class="claim"><strong>Claim.</strong> {_text(e["claim"])}</p>')
    if e["criterion"]:
        parts.append(f'<p class="criterion"><strong>Criterion.</strong> {_text(e["criterion"])}</p>')
    parts += [_figure(f, out, embed, f"{e['title']}: {f}") for f in e["figures"]]
    if explorer and e["name"] in EXPLORER_VIEWS:
        parts.append(
            f"<p class='explore'>Try it: <a href='explorer.html#{EXPLORER_VIEWS[e['name']]}'>move the "
            "controls in the explorer</a> and watch what changes.</p>"
        )
    parts.append(f'<div class="verdict {_slug(status)}">{_badge(status)} {_text(e["verdict"])}</div>')
    if e["caveat"]:
        parts.append(f'<p class="caveat"><strong>Caveat.</strong> {_text(e["caveat"])}</p>')
    if e.get("error"):
        parts.append(f"<details><summary>Traceback</summary><pre>{html.escape(e['error'])}</pre></details>")
    rows = flatten(e["metrics"])
    if rows:
        parts.append(_measured(rows))
    parts.append(
        f"<p class='rerun'>{e['seconds']:.2f} s &middot; rerun: "
        f"<code>{html.escape(_command([e['name']], quick=quick, seed=seed))}</code></p></section>"
    )
    return "\n".join(parts)


def _explorer_link(explorer: bool) -> str:
    if not explorer:
        return ""
    return (
        ' The <a href="explorer.html">explorer</a> lets you move the optimizer, learning rate, betas, '
        "epsilon, initializer, activation and depth, and see the paths and scales change."
    )


def render_html(doc: dict, out: str | Path, *, embed: bool = False, explorer: bool = False) -> str:
    """The report page for a results document (as written to results.json)."""
    out = Path(out)
    quick, seed, summary = doc["quick"], doc["seed"], doc["summary"]
    rows = "".join(
        f"<tr><td class='num'>{i}</td><td><a href='#{html.escape(e['name'], quote=True)}'>"
        f"{html.escape(e['title'])}</a><br><code>{html.escape(e['name'])}</code></td>"
        f"<td>{_badge(e['status'])}</td><td class='num'>{e['seconds']:.2f} s</td></tr>"
        for i, e in enumerate(doc["experiments"], start=1)
    )
    counts = f"{summary['held']} of {summary['experiments']} claims held"
    if summary["did_not_hold"]:
        counts += f", {summary['did_not_hold']} did not hold"
    if summary["errors"]:
        counts += f", {summary['errors']} raised an error"
    sections = "\n".join(
        _section(i, e, out, quick=quick, seed=seed, embed=embed, explorer=explorer)
        for i, e in enumerate(doc["experiments"], start=1)
    )
    mode = "quick mode (smaller measurements)" if quick else "full mode"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>gradstep lab: {html.escape(counts)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>gradstep lab</h1>
<p class="meta">Every claim of the lecture notes on initialization and optimizers, measured.
{html.escape(counts)}.
Seed {seed}, {mode}, {doc["seconds"]:.1f} s in all; {html.escape(doc["generator"])}, Python
{html.escape(doc["environment"]["python"])}, NumPy {html.escape(doc["environment"]["numpy"])};
{html.escape(doc["created"])}. Rerun with <code>{html.escape(doc["command"])}</code>; every number is also
in <a href="results.json">results.json</a>.{_explorer_link(explorer)}</p>
</header>
<main>
<table class="summary">
<thead><tr><th>#</th><th>experiment</th><th>verdict</th><th>time</th></tr></thead>
<tbody>{rows}</tbody>
</table>
{sections}
</main>
</body>
</html>
"""
