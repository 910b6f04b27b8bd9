"""The lab report and ``gradstep lab``: index.html and results.json agree, the page works in a real browser.

The browser check renders index.html in headless Chromium (Debian's ``chromium``; skipped where it is
absent) with a small script injected into a copy of the page that records, after the load event, every
image that did not decode (``complete && naturalWidth > 0``) and every error event or ``console.error``;
Chromium's own console log (``--enable-logging=stderr``) must stay empty too. The check is shown to fail
on a copy of the page with one image source broken.
"""

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gradstep.lab import Experiment, Result, get, registry, report

CHEAP = ["init_fan", "init_uniform_range"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab") / "report"
    entries, index, results = report.build([get(n) for n in CHEAP], out, quick=True, seed=0)
    return out, entries, index.read_text(encoding="utf-8"), json.loads(results.read_text(encoding="utf-8"))


def sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)"[^>]*>(.*?)</section>', page, flags=re.S))


def test_index_has_one_section_per_experiment_and_a_summary(built):
    out, entries, page, _ = built
    assert list(sections(page)) == CHEAP
    summary = page.split('<table class="summary">', 1)[1].split("</table>", 1)[0]
    assert summary.count("<tr>") == 1 + len(CHEAP)  # the header and one row per experiment
    for e in entries:
        body = sections(page)[e.experiment.name]
        assert html.escape(e.result.title) in body
        assert f"badge {e.status.replace(' ', '-')}" in body
        for part in (e.result.claim, e.result.criterion, e.result.caveat):
            assert html.escape(part).split("`")[0][:60] in body
        for figure in e.figures:
            assert f'src="{figure}"' in body and (out / figure).is_file()
        assert "<table>" in body and "Measured" in body


def test_results_json_matches_the_page(built):
    out, entries, page, doc = built
    assert doc["schema"] == 1 and doc["quick"] is True and doc["seed"] == 0
    assert doc["summary"] == {"experiments": 2, "held": 2, "did_not_hold": 0, "errors": 0}
    assert [e["name"] for e in doc["experiments"]] == CHEAP
    for e, entry in zip(doc["experiments"], entries, strict=True):
        assert e["status"] == "held" and e["holds"] is True and e["error"] is None
        assert e["metrics"] == entry.result.metrics
        assert e["figures"] == entry.figures and e["missing_figures"] == []
        assert html.escape(e["verdict"]) in sections(page)[e["name"]]
    assert "2 of 2 claims held" in page


def test_the_page_is_self_contained(built):
    _, _, page, _ = built
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "@import" not in page and "url(" not in page
    assert '<link rel="icon" href="data:,">' in page  # no favicon request, no console error for it


def test_embed_puts_every_figure_inside_the_page(built, tmp_path):
    out, entries, _, _ = built
    index, _ = report.write(entries, out, quick=True, seed=0, embed=True)
    page = index.read_text(encoding="utf-8")
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert len(srcs) == sum(len(e.figures) for e in entries)
    assert all(s.startswith("data:image/png;base64,") for s in srcs)


def _fake(name: str, order: int, fn) -> Experiment:
    return Experiment(name, f"Fake {name}", order, fn)


def _does_not_hold(out: Path, *, quick: bool, seed: int) -> Result:
    return Result(
        name="fake_fails", title="Fake fake_fails", claim="A claim with <b>markup</b> and `code`.",
        criterion="x > 1", holds=False, verdict="Measured x = 0.5 < 1.", metrics={"x": 0.5, "nan": None},
        figures=["never_drawn.png"],
    )  # fmt: skip


def _raises(out: Path, *, quick: bool, seed: int) -> Result:
    raise RuntimeError("an internal bug")


def test_a_claim_that_fails_and_an_experiment_that_raises_are_reported(tmp_path):
    exps = [_fake("fake_fails", 1, _does_not_hold), _fake("fake_raises", 2, _raises)]
    entries, index, results = report.build(exps, tmp_path, quick=False, seed=5)
    assert [e.status for e in entries] == ["did not hold", "error"]
    page = index.read_text(encoding="utf-8")
    doc = json.loads(results.read_text(encoding="utf-8"))
    assert doc["summary"] == {"experiments": 2, "held": 0, "did_not_hold": 1, "errors": 1}
    body = sections(page)
    assert "badge did-not-hold" in body["fake_fails"] and "badge error" in body["fake_raises"]
    assert "&lt;b&gt;markup&lt;/b&gt;" in body["fake_fails"] and "<code>code</code>" in body["fake_fails"]
    assert "Figure missing" in body["fake_fails"] and "<img" not in body["fake_fails"]
    assert doc["experiments"][0]["missing_figures"] == ["fake_fails/never_drawn.png"]
    assert "RuntimeError: an internal bug" in body["fake_raises"]
    assert "Traceback" in doc["experiments"][1]["error"]
    assert "0 of 2 claims held, 1 did not hold, 1 raised an error" in page


def test_flatten_and_abbreviated_lists():
    rows = report.flatten({"a": {"b": 1}, "c": [{"d": 2}], "e": list(range(20))})
    assert rows == [("a.b", 1), ("c[0].d", 2), ("e", list(range(20)))]
    assert "(20 values)" in report._value(list(range(20)))
    assert report._value([0.5, None, True]) == "[0.5, n/a, yes]"


# -- the browser check ---------------------------------------------------------------------------------

CHECK_SCRIPT = """<script>
(function () {
  var problems = [];
  var consoleError = console.error;
  console.error = function () {
    problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    var t = e.target;
    problems.push(t && t !== window ? "failed to load " + (t.currentSrc || t.src || t.href)
                                    : "error: " + e.message);
  }, true);
  document.addEventListener("securitypolicyviolation", function (e) {
    problems.push("blocked " + e.blockedURI);
  });
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                       .map(function (i) { return i.getAttribute("src").slice(0, 120); });
    var out = document.createElement("pre");
    out.id = "gradstep-browser-check";
    out.textContent = JSON.stringify({images: images.length, broken: broken, problems: problems});
    document.body.appendChild(out);
  });
})();
</script>"""


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.skip("chromium not installed: the browser check needs Debian's `chromium` on PATH")
    return path


def render(page: Path, tmp_path: Path) -> tuple[dict, list[str]]:
    """Open ``page`` (a copy with the check script) in headless Chromium; return the check's findings and
    the console lines Chromium logged."""
    result = subprocess.run(
        [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=10000", "--dump-dom", page.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    found = re.search(r'<pre id="gradstep-browser-check">(.*?)</pre>', result.stdout, flags=re.S)
    assert found, f"the check script did not run (exit {result.returncode}):\n{result.stderr[-2000:]}"
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html.unescape(found.group(1))), console


def with_check(index: Path, name: str, *, break_first_image: bool = False) -> Path:
    page = index.read_text(encoding="utf-8").replace("<head>", "<head>\n" + CHECK_SCRIPT, 1)
    if break_first_image:
        page = re.sub(r'<img src="[^"]+"', '<img src="no-such-figure.png"', page, count=1)
    copy = index.with_name(name)
    copy.write_text(page, encoding="utf-8")
    return copy


def test_every_image_loads_in_a_browser_and_nothing_is_logged(built, tmp_path):
    out, entries, _, _ = built
    findings, console = render(with_check(out / "index.html", "browser-check.html"), tmp_path)
    assert findings["images"] == sum(len(e.figures) for e in entries) > 0
    assert findings["broken"] == [] and findings["problems"] == []
    assert console == []


def test_the_browser_check_catches_a_broken_image(built, tmp_path):
    out, _, _, _ = built
    findings, _ = render(
        with_check(out / "index.html", "broken-check.html", break_first_image=True), tmp_path
    )
    assert findings["broken"] == ["no-such-figure.png"]
    assert any("no-such-figure.png" in p for p in findings["problems"])


# -- the command line ----------------------------------------------------------------------------------


def gradstep(*argv, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "gradstep", "lab", *argv], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_list_names_every_experiment_with_its_title():
    res = gradstep("--list")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert any(line.startswith("init_dead ") and "every gradient is zero" in line for line in lines)
    assert len(lines) == len(registry())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["nonsuch"], r"Unknown experiment 'nonsuch'.*Known: .*init_dead"),
        (["init_ded"], r"Unknown experiment 'init_ded'; did you mean 'init_dead'\?"),
        ([], r"--all"),
        (["--all", "init_dead"], r"not both"),
        (["--all", "--seed", "-1"], r"`seed`"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message):
    res = gradstep(*argv)
    assert res.returncode == 2
    assert re.search(message, res.stderr), res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_run_writes_the_report_with_plain_progress_lines_off_a_terminal(tmp_path):
    res = gradstep("init_fan", "--quick", "--out", "rep", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert re.search(r"\[1/1\] init_fan: held \(\d+\.\d s\)", res.stderr)
    assert "1 of 1 claims held" in res.stdout
    doc = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert doc["command"] == "gradstep lab init_fan --seed 0 --quick"
    assert (tmp_path / "rep" / "index.html").is_file() and (tmp_path / "rep" / "init_fan").is_dir()


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("")
    res = gradstep("init_fan", "--out", str(tmp_path / "file"))
    assert res.returncode == 2 and "must be a folder" in res.stderr
