"""The explorer page: its data come from gradstep's optimizers, and in a real browser every control
changes what is drawn, nothing fails to load and nothing is logged."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gradstep.lab import explorer


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.skip("chromium not installed: the browser check needs Debian's `chromium` on PATH")
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("explorer")
    return explorer.write(out, seed=0)


def _data(page) -> dict:
    pattern = r'<script id="explorer-data" type="application/json">(.*?)</script>'
    found = re.search(pattern, page.read_text(encoding="utf-8"), re.S)
    return json.loads(found.group(1))


def test_page_is_offline_and_small(page):
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(https?:)?//", text)  # no network, no CDN
    assert page.stat().st_size < 1_000_000


def test_paths_are_gradstep_trajectories(page):
    from gradstep.lab.surfaces import QUADRATIC, trajectory

    d = _data(page)
    got = d["surfaces"]["ravine"]["paths"]["adam|1|0.9|1e-08"]
    path, _ = trajectory(QUADRATIC, "adam", got["lr"], explorer.STEPS["ravine"], beta1=0.9, eps=1e-8)
    np.testing.assert_allclose(np.array(got["xy"]).reshape(-1, 2), path, rtol=1e-3, atol=1e-6)
    n_paths = 3 + 9 + 27 + 27  # sgd: lr; momentum: lr x beta; RMSprop, Adam: lr x beta x eps
    assert len(d["surfaces"]["rosenbrock"]["paths"]) == n_paths
    assert len(d["depth"]) == len(explorer.INITS) * len(explorer.ACTIVATIONS) * len(explorer.DEPTHS)


# Moves every control through each of its values, one at a time, and records whether what is drawn
# changed; then reports it with any error, console error or failed resource.
CHECK = r"""<script>
(function () {
  var problems = [];
  var consoleError = console.error;
  console.error = function () { problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
                                consoleError.apply(console, arguments); };
  window.addEventListener("error", function (e) {
    var t = e.target;
    problems.push(t && t !== window ? "failed to load " + (t.src || t.href) : "error: " + e.message);
  }, true);
  window.addEventListener("load", function () {
    var report = {controls: {}, problems: problems};
    function drawn() {
      return ["view-paths", "view-ema", "view-depth"].map(function (id) {
        return document.getElementById(id).innerHTML; }).join("");
    }
    try {
      var names = ["optimizer", "lr", "beta", "eps", "init", "activation", "depth"];
      names.forEach(function (name) {
        var select = document.getElementById("ctl-" + name);
        var changed = [];
        for (var i = 0; i < select.options.length; i++) {
          if (select.options[i].selected) { continue; }
          var before = drawn();
          select = document.getElementById("ctl-" + name);
          select.value = select.options[i].value;
          select.dispatchEvent(new Event("change"));
          changed.push(drawn() !== before && drawn().length > 1000);
        }
        report.controls[name] = changed;
        var again = document.getElementById("ctl-" + name);
        if (name === "optimizer") { again.value = "adam"; again.dispatchEvent(new Event("change")); }
      });
    } catch (err) { problems.push("check failed: " + err); }
    var out = document.createElement("pre");
    out.id = "explorer-check";
    out.textContent = JSON.stringify(report);
    document.body.appendChild(out);
  });
})();
</script>"""


def test_every_control_changes_the_drawing_in_a_browser(page, tmp_path):
    browser = chromium()  # skips, with the reason, where chromium is not installed
    checked = page.with_name("explorer-check.html")
    checked.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>\n" + CHECK, 1), "utf-8")
    result = subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=20000", "--dump-dom", checked.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    found = re.search(r'<pre id="explorer-check">(.*?)</pre>', result.stdout, flags=re.S)
    assert found, f"the check did not run (exit {result.returncode}):\n{result.stderr[-2000:]}"
    report = json.loads(html.unescape(found.group(1)))
    assert report["problems"] == []
    assert set(report["controls"]) == set(explorer.CONTROLS)
    for name, changed in report["controls"].items():
        assert changed and all(changed), (name, changed)
    assert [line for line in result.stderr.splitlines() if ":CONSOLE" in line] == []
