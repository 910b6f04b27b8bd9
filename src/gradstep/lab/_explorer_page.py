# ruff: noqa: E501  (the page is JavaScript in a string)
"""The explorer's page: HTML, CSS and JavaScript that only select and draw precomputed series (SVG).

``__DATA__`` is replaced by the JSON of :func:`gradstep.lab.explorer.data`, ``__SEED__`` by the seed.
"""

PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>gradstep lab: explorer</title>
<style>
body { margin: 0 auto; max-width: 72rem; padding: 1.2rem; color: #1f2328;
       font: 16px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; } h2 { font-size: 1.15rem; margin: 1.2rem 0 .3rem; }
.meta { color: #59636e; font-size: .9rem; }
.controls { display: flex; flex-wrap: wrap; gap: .6rem 1.2rem; padding: .7rem; background: #f6f8fa;
            border: 1px solid #d1d9e0; border-radius: 8px; position: sticky; top: 0; z-index: 1; }
.controls label { display: flex; flex-direction: column; font-size: .85rem; color: #59636e; }
.controls select { font-size: .95rem; padding: .15rem; }
.row { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: .4rem 0; } figcaption { font-size: .85rem; color: #59636e; max-width: 34rem; }
svg { background: #fff; border: 1px solid #d1d9e0; border-radius: 4px; }
svg text { font: 12px Helvetica, Arial, sans-serif; fill: #1f2328; }
.legend span { display: inline-block; margin-right: 1rem; font-size: .85rem; }
.swatch { display: inline-block; width: 1.2rem; height: .25rem; vertical-align: middle; margin-right: .3rem; }
</style>
</head>
<body>
<h1>gradstep lab: explorer</h1>
<p class="meta">Move a control and see what changes. Every path and curve on this page was computed by
gradstep's own optimizers and initializers when the report was written (seed __SEED__), for each value
offered by the controls; this page only draws them. Back to the <a href="index.html">report</a>.</p>
<div class="controls" id="controls"></div>

<h2 id="paths">Optimizer paths: the notes' ravine and the Rosenbrock valley</h2>
<p class="meta">Controls: optimizer, learning rate, beta (momentum's beta, RMSprop's beta, Adam's beta1),
epsilon (RMSprop and Adam). Colour: log10 f; the path starts at the white dot and ends at the black one;
the star is the minimum. Related claims: <a href="index.html#optim_rmsprop">RMSprop (8)</a>,
<a href="index.html#optim_adam_bias">Adam (9)</a>, <a href="index.html#optim_race">the race (10)</a>.</p>
<div class="row" id="view-paths"></div>

<h2 id="ema">The moving average of noisy steps</h2>
<p class="meta">Control: beta. Grey dots: a noisy gradient whose mean flips from +1 to -1 halfway; blue:
the notes' V = beta V + (1 - beta) dw (gradstep's Momentum); orange dashed: V / (1 - beta^t), bias
corrected. Related claims: <a href="index.html#optim_minibatch_noise">mini-batch noise (6)</a>,
<a href="index.html#optim_ema">the moving average (7)</a>.</p>
<div class="row" id="view-ema"></div>

<h2 id="depth">Activation scale through depth</h2>
<p class="meta">Controls: initializer, activation, depth. An MLP of 64-unit layers on 256 digits: the std
of each hidden layer's activations and of the gradient flowing back into it (log scale). Related claims:
<a href="index.html#init_deep_linear">exploding and vanishing (3)</a>,
<a href="index.html#init_scales">fan-based initializers (4)</a>,
<a href="index.html#init_he2015">He et al. 2015 (12)</a>,
<a href="index.html#init_glorot2010">Glorot and Bengio 2010 (13)</a>.</p>
<div class="row" id="view-depth"></div>

<script id="explorer-data" type="application/json">__DATA__</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("explorer-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var LABELS = {optimizer: "optimizer", lr: "learning rate", beta: "beta", eps: "epsilon",
                init: "initializer", activation: "activation", depth: "depth (hidden layers)"};
  var state = {optimizer: "adam", lr: "1", beta: "0.9", eps: "1e-08", init: "he_normal",
               activation: "relu", depth: "15"};

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function text(parent, x, y, s, anchor) {
    var t = el("text", {x: x, y: y, "text-anchor": anchor || "start"}, parent);
    t.textContent = s;
    return t;
  }
  function family(name) { return (name === "sgd" || name === "momentum") ? "plain" : "adaptive"; }
  function lrLabel(i) {
    var f = family(state.optimizer);
    return "ravine " + D.lrs.ravine[f][i] + " / Rosenbrock " + D.lrs.rosenbrock[f][i];
  }
  function optionText(name, v) {
    if (name === "optimizer") { return D.names.optimizer[v]; }
    if (name === "init") { return D.names.init[v]; }
    if (name === "lr") { return lrLabel(+v); }
    return v;
  }

  function buildControls() {
    var box = document.getElementById("controls");
    box.textContent = "";
    Object.keys(LABELS).forEach(function (name) {
      var label = document.createElement("label");
      label.textContent = LABELS[name];
      var select = document.createElement("select");
      select.id = "ctl-" + name;
      D.controls[name].forEach(function (v) {
        var o = document.createElement("option");
        o.value = v; o.textContent = optionText(name, v);
        if (v === state[name]) { o.selected = true; }
        select.appendChild(o);
      });
      select.addEventListener("change", function () {
        state[name] = select.value;
        if (name === "optimizer") { buildControls(); }
        render();
      });
      label.appendChild(select);
      box.appendChild(label);
    });
  }

  function scale(lo, hi, a, b) { return function (v) { return a + (v - lo) / (hi - lo) * (b - a); }; }

  function heat(v, lo, hi) {
    var t = Math.max(0, Math.min(1, (v - lo) / (hi - lo)));
    return "hsl(" + (230 - 200 * t).toFixed(0) + ",60%," + (92 - 35 * t).toFixed(0) + "%)";
  }

  function pathKey() {
    var o = state.optimizer;
    var beta = o === "sgd" ? "None" : state.beta;
    var eps = (o === "rmsprop" || o === "adam") ? state.eps : "None";
    return [o, state.lr, beta, eps].join("|");
  }

  function drawSurface(parent, s) {
    var W = 440, H = 330, m = {l: 44, r: 10, t: 24, b: 36};
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H}, null);
    var sx = scale(s.xlim[0], s.xlim[1], m.l, W - m.r), sy = scale(s.ylim[0], s.ylim[1], H - m.b, m.t);
    var zs = s.logz.filter(function (v) { return v !== null; });
    var lo = Math.min.apply(null, zs), hi = Math.max.apply(null, zs);
    var nx = s.x.length, ny = s.y.length, dx = (W - m.l - m.r) / nx, dy = (H - m.t - m.b) / ny;
    var g = el("g", {}, svg);
    for (var j = 0; j < ny; j++) {
      for (var i = 0; i < nx; i++) {
        el("rect", {x: (m.l + i * dx).toFixed(1), y: (H - m.b - (j + 1) * dy).toFixed(1),
                    width: (dx + 0.5).toFixed(1), height: (dy + 0.5).toFixed(1),
                    fill: heat(s.logz[j * nx + i], lo, hi)}, g);
      }
    }
    var p = s.paths[pathKey()];
    var pts = [];
    for (var k = 0; k + 1 < p.xy.length; k += 2) { pts.push(sx(p.xy[k]).toFixed(1) + "," + sy(p.xy[k + 1]).toFixed(1)); }
    el("clipPath", {id: "clip-" + s.labels[0]}, svg).appendChild(
      el("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b}));
    var clipped = el("g", {"clip-path": "url(#clip-" + s.labels[0] + ")"}, svg);
    el("polyline", {points: pts.join(" "), fill: "none", stroke: "#d62728", "stroke-width": 1.5}, clipped);
    var first = pts[0].split(","), last = pts[pts.length - 1].split(",");
    el("circle", {cx: first[0], cy: first[1], r: 4, fill: "#fff", stroke: "#000"}, clipped);
    el("circle", {cx: last[0], cy: last[1], r: 4, fill: "#000"}, clipped);
    text(svg, sx(s.minimum[0]), sy(s.minimum[1]) + 5, "\u2605", "middle");
    text(svg, m.l, 16, s.title + " \u2014 lr " + p.lr + (p.diverged ? " (diverged)" : ""));
    text(svg, (m.l + W - m.r) / 2, H - 6, s.labels[0], "middle");
    text(svg, 12, (m.t + H - m.b) / 2, s.labels[1], "middle");
    [s.xlim[0], s.xlim[1]].forEach(function (v) { text(svg, sx(v), H - m.b + 14, v, "middle"); });
    [s.ylim[0], s.ylim[1]].forEach(function (v) { text(svg, m.l - 4, sy(v) + 4, v, "end"); });
    var fig = document.createElement("figure");
    fig.appendChild(svg);
    var cap = document.createElement("figcaption");
    cap.textContent = D.names.optimizer[state.optimizer] + ", " + (p.xy.length / 2 - 1) + " steps";
    fig.appendChild(cap);
    parent.appendChild(fig);
  }

  function chart(parent, o) {
    // o: {title, xlabel, ylabel, log, series: [{x, y, color, dash, dots}]}
    var W = 520, H = 300, m = {l: 56, r: 12, t: 24, b: 38};
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H}, parent);
    var f = o.log ? function (v) { return Math.log10(v); } : function (v) { return v; };
    var xs = [], ys = [];
    o.series.forEach(function (s) {
      s.y.forEach(function (v, i) { if (v !== null && (!o.log || v > 0)) { xs.push(s.x[i]); ys.push(f(v)); } });
    });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (y1 - y0 < 1e-9) { y0 -= 1; y1 += 1; }
    var pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    var sx = scale(x0, x1, m.l, W - m.r), sy = scale(y0, y1, H - m.b, m.t);
    el("rect", {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: "none", stroke: "#d1d9e0"}, svg);
    for (var k = 0; k <= 4; k++) {
      var v = y0 + (y1 - y0) * k / 4;
      text(svg, m.l - 4, sy(v) + 4, o.log ? Math.pow(10, v).toPrecision(2) : v.toFixed(2), "end");
      text(svg, sx(x0 + (x1 - x0) * k / 4), H - m.b + 14, Math.round(x0 + (x1 - x0) * k / 4), "middle");
    }
    o.series.forEach(function (s) {
      var pts = [];
      s.y.forEach(function (v, i) {
        if (v === null || (o.log && v <= 0)) { return; }
        pts.push(sx(s.x[i]).toFixed(1) + "," + sy(f(v)).toFixed(1));
        if (s.dots) { el("circle", {cx: sx(s.x[i]).toFixed(1), cy: sy(f(v)).toFixed(1), r: 2, fill: s.color}, svg); }
      });
      if (!s.dots) {
        el("polyline", {points: pts.join(" "), fill: "none", stroke: s.color, "stroke-width": 2,
                        "stroke-dasharray": s.dash || ""}, svg);
      }
    });
    text(svg, m.l, 16, o.title);
    text(svg, (m.l + W - m.r) / 2, H - 6, o.xlabel, "middle");
    var yl = text(svg, 14, (m.t + H - m.b) / 2, o.ylabel, "middle");
    yl.setAttribute("transform", "rotate(-90 14 " + (m.t + H - m.b) / 2 + ")");
    var legend = document.createElement("div");
    legend.className = "legend";
    o.series.forEach(function (s) {
      var span = document.createElement("span");
      var sw = document.createElement("span");
      sw.className = "swatch"; sw.style.background = s.color;
      span.appendChild(sw); span.appendChild(document.createTextNode(s.label));
      legend.appendChild(span);
    });
    parent.appendChild(legend);
  }

  function range(n, start) { var a = []; for (var i = 0; i < n; i++) { a.push(i + start); } return a; }

  function render() {
    var paths = document.getElementById("view-paths");
    paths.textContent = "";
    drawSurface(paths, D.surfaces.ravine);
    drawSurface(paths, D.surfaces.rosenbrock);

    var ema = document.getElementById("view-ema");
    ema.textContent = "";
    var e = D.ema, b = e.by_beta[state.beta], t = range(e.g.length, 1);
    var box = document.createElement("div"); ema.appendChild(box);
    chart(box, {title: "beta " + state.beta + ": averaging over about " +
                       (1 / (1 - parseFloat(state.beta))).toFixed(0) + " steps",
                xlabel: "step t", ylabel: "gradient", series: [
      {x: t, y: e.g, color: "#9aa4ae", dots: true, label: "noisy gradient dw"},
      {x: t, y: e.trend, color: "#444", dash: "2 3", label: "its mean"},
      {x: t, y: b.V, color: "#1f77b4", label: "V (EMA)"},
      {x: t, y: b.V_hat, color: "#ff7f0e", dash: "6 3", label: "V / (1 - beta^t)"}]});

    var depth = document.getElementById("view-depth");
    depth.textContent = "";
    var d = D.depth[[state.init, state.activation, state.depth].join("|")];
    var layers = range(d.a_std.length, 1);
    var box2 = document.createElement("div"); depth.appendChild(box2);
    chart(box2, {title: D.names.init[state.init] + " + " + state.activation + ", " + state.depth + " layers",
                 xlabel: "hidden layer", ylabel: "std (log scale)", log: true, series: [
      {x: layers, y: d.a_std, color: "#1f77b4", label: "activations A"},
      {x: layers, y: d.grad_std, color: "#d62728", label: "gradient dL/dA"}]});
  }

  buildControls();
  render();
  window.gradstepExplorer = {state: state, render: render};
})();
</script>
</body>
</html>
"""
