"""The lab's initialization experiments: each holds in quick mode, draws real PNGs, and stores JSON metrics.

Also the helpers they share (``gradstep.lab.common``) and the small tools inside the experiments.
"""

import json
import math

import numpy as np
import pytest

from gradstep.lab import common, get, registry, run_experiment

INIT_EXPERIMENTS = [
    "init_dead",
    "init_symmetry",
    "init_deep_linear",
    "init_scales",
    "init_fan",
    "init_uniform_range",
    "init_he2015",
    "init_glorot2010",
]


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """As ``gradstep lab`` runs them: small matrices are fastest on one BLAS thread."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        yield


def assert_png(path):
    from matplotlib import image

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG file"
    pixels = image.imread(path)  # decodes the whole file: a truncated PNG fails here
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100


def test_every_init_module_is_registered_once():
    names = [e.name for e in registry() if e.name.startswith("init_")]
    assert sorted(names) == sorted(INIT_EXPERIMENTS)
    assert len({e.order for e in registry()}) == len(registry()), "two experiments share a report position"


@pytest.mark.parametrize("name", INIT_EXPERIMENTS)
def test_experiment_holds_in_quick_mode(name, tmp_path):
    result = run_experiment(get(name), tmp_path, quick=True, seed=0)
    assert result.holds, result.verdict
    assert result.name == name and result.title == get(name).title
    assert result.claim and result.criterion and result.verdict and result.caveat
    assert result.seconds > 0
    json.dumps(result.to_dict(), allow_nan=False)  # strict JSON: no NaN, no NumPy types
    assert result.figures, "every experiment draws at least one figure"
    for figure in result.figures:
        assert figure.endswith(".png") and "/" not in figure
        assert_png(tmp_path / figure)


def test_a_measurement_is_a_function_of_its_seed(tmp_path):
    exp = get("init_fan")
    a = run_experiment(exp, tmp_path / "a", quick=True, seed=3).metrics
    b = run_experiment(exp, tmp_path / "b", quick=True, seed=3).metrics
    c = run_experiment(exp, tmp_path / "c", quick=True, seed=4).metrics
    assert a == b
    assert a != c


# -- the shared helpers ------------------------------------------------------------------------------


def test_fit_line_recovers_a_line_and_log10_slope_a_growth_factor():
    fit = common.fit_line([1, 2, 3, 4], [3, 5, 7, 9])
    assert fit.slope == pytest.approx(2) and fit.intercept == pytest.approx(1) and fit.r2 == pytest.approx(1)
    growth = common.log10_slope([2.0**k for k in range(1, 11)])
    assert growth.slope == pytest.approx(math.log10(2)) and growth.r2 == pytest.approx(1)
    assert common.fit_line([1, 2, 3], [5, 5, 5]).r2 == 1.0


def test_drift_factor_and_geometric_mean():
    assert common.drift_factor([2.0, 1.0, 0.5]) == pytest.approx(4.0)
    assert common.drift_factor([0.5, 2.0]) == pytest.approx(4.0)
    assert common.geometric_mean([[1.0, 100.0], [100.0, 1.0]]) == pytest.approx([10.0, 10.0])


def test_saturation_depends_on_the_activation():
    a = np.array([[-0.995, 0.0, 0.5, 0.995], [0.2, 0.3, 0.4, 0.1]])
    assert common.saturated_fraction(a, "tanh") == pytest.approx(2 / 8)  # |a| > 0.99
    s = np.array([[0.005, 0.5, 0.995, 0.98], [0.5, 0.5, 0.5, 0.0]])
    assert common.saturated_fraction(s, "sigmoid") == pytest.approx(3 / 8)  # a < 0.01 or a > 0.99
    assert common.saturated_fraction(s, "tanh") == pytest.approx(1 / 8)
    assert common.saturated_fraction(a, "relu") is None  # ReLU has no flat tail to saturate in
    assert common.saturated_fraction(a, "linear") is None


def test_dead_fraction_counts_units_that_are_zero_on_every_row():
    A = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])
    assert common.dead_fraction(A) == 0.5


def test_layer_scales_measures_sigmoid_saturation_in_its_own_range():
    from gradstep import init
    from gradstep.nn import MLP

    data = common.digits(0)
    X = data.X_train[:64]
    large = init.get("variance_scaling", scale=50.0, mode="fan_in", distribution="normal")
    model = MLP((64, 16, 10), activation="sigmoid", init=large, rng=0)
    scales = common.layer_scales(model, X)
    A = model.activations[0]
    expected = float(((A < 0.01) | (A > 0.99)).mean())
    assert 0 < expected < 1 and scales["saturated_fraction"] == [pytest.approx(expected)]
    assert common.layer_scales(MLP((64, 16, 10), activation="relu", rng=0), X)["saturated_fraction"] == [None]


def test_layer_scales_reports_one_value_per_hidden_layer():
    from gradstep.nn import MLP

    data = common.digits(0)
    model = MLP((64, 16, 16, 10), activation="relu", init="zeros", rng=0)
    scales = common.layer_scales(model, data.X_train[:32], data.y_train[:32])
    assert set(scales) >= {"z_std", "a_std", "a_rms", "grad_std", "dead_fraction", "saturated_fraction"}
    assert all(len(v) == 2 for v in scales.values())
    assert scales["dead_fraction"] == [1.0, 1.0] and scales["grad_std"] == [0.0, 0.0]


def test_train_steps_takes_exactly_the_steps_asked_across_epochs():
    from gradstep import optim
    from gradstep.nn import MLP

    data = common.digits(0)
    model = MLP((64, 8, 10), rng=0)
    seen = []
    losses = common.train_steps(
        model, data.X_train[:100], data.y_train[:100], optimizer=optim.SGD([model.params], lr=0.1),
        steps=7, batch_size=32, on_step=lambda step, m: seen.append(step),
    )  # fmt: skip
    assert len(losses) == 7 and seen == list(range(7))  # 100 rows in 32s: 4 batches, then a second epoch


# -- tools inside the experiments ----------------------------------------------------------------------


def test_distinct_units_and_width_one_folding():
    from gradstep import init
    from gradstep.lab.experiments.init_symmetry import collapse_to_width_one, distinct_units
    from gradstep.nn import MLP

    A = np.array([[1.0, 1.0, 2.0], [3.0, 3.0, 0.0]])
    assert distinct_units(A) == 2
    X = common.digits(0).X_train[:50].astype(np.float64)
    model = MLP((64, 8, 8, 10), activation="tanh", init=init.get("constant", value=0.1), bias_init=0.1,
                dtype=np.float64)  # fmt: skip
    model.layers[-1].W[...] = np.random.default_rng(0).normal(size=model.layers[-1].W.shape)
    assert collapse_to_width_one(model).layer_sizes == (64, 1, 1, 10)
    np.testing.assert_allclose(collapse_to_width_one(model).predict(X), model.predict(X), rtol=1e-12)


def test_mean_unit_correlation():
    from gradstep.lab.experiments.init_uniform_range import mean_unit_correlation

    rng = np.random.default_rng(0)
    common_mode = rng.normal(size=(500, 1))
    assert mean_unit_correlation(common_mode + 0.01 * rng.normal(size=(500, 20))) > 0.99
    assert abs(mean_unit_correlation(rng.normal(size=(500, 20)))) < 0.05
    assert mean_unit_correlation(np.zeros((10, 5))) is None  # no unit varies


# -- the shape of an experiment ----------------------------------------------------------------------


def test_every_experiment_module_measures_judges_and_draws_in_three_functions():
    import dataclasses
    import importlib

    for exp in registry():
        module = importlib.import_module(exp.fn.__module__)
        assert module.__name__ == f"gradstep.lab.experiments.{exp.name}"
        for step in ("measure", "judge", "figures"):
            assert callable(getattr(module, step, None)), f"{exp.name} has no {step}()"
        assert dataclasses.is_dataclass(module.Measurement), f"{exp.name}: Measurement is not a dataclass"
        assert module.Measurement.__dataclass_params__.frozen


def test_figures_are_typed_records_drawn_by_plots(tmp_path):
    from gradstep import plots
    from gradstep.lab.experiments import init_fan

    m = init_fan.measure(quick=True, seed=0)
    judgement = init_fan.judge(m)
    assert judgement.holds and "slope" in judgement.verdict
    figures = init_fan.figures(m)
    assert list(figures) == ["variance_vs_fan.png"]
    figure = figures["variance_vs_fan.png"]
    assert isinstance(figure, plots.PanelFigure)
    assert all(isinstance(line, plots.Line) for panel in figure.panels for line in panel.lines)
    assert_png(plots.draw(figure, tmp_path / "fig.png"))
    with pytest.raises(TypeError, match="PanelFigure"):
        plots.draw({"panels": []}, tmp_path / "dict.png")
