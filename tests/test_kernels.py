"""The fused numba kernels against the NumPy reference, over one table of every optimizer configuration.

What is asserted (and stated in ``gradstep/optim/_kernels.py``): the kernels perform the reference's
operations in the same order without fast-math, so after 30 steps parameters and state are
bit-identical in float64. float32 is held to 1e-6 relative (the issue's bound) and, separately, to
bit-identity too. The serial and the parallel kernel agree exactly, the backend is not a
hyperparameter, and ``import gradstep`` does not import numba.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gradstep import GradstepError, optim
from gradstep.optim import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    AdamWScheduleFree,
    Lion,
    Momentum,
    NAdam,
    NAdamW,
    RAdam,
    RAdamW,
    RMSprop,
    SGDScheduleFree,
)

numba = pytest.importorskip("numba")
from gradstep.optim import _kernels  # noqa: E402

# (id, class, kwargs): every option of every optimizer, alone and in the combinations that share a kernel.
CONFIGS = [
    ("sgd", SGD, {}),
    ("sgd_wd", SGD, {"weight_decay": 0.01}),
    ("momentum_ema", Momentum, {"beta": 0.9}),
    ("momentum_ema_nesterov", Momentum, {"beta": 0.9, "nesterov": True}),
    ("momentum_ema_wd", Momentum, {"beta": 0.8, "weight_decay": 0.01}),
    ("heavy_ball", Momentum, {"form": "heavy_ball"}),
    ("heavy_ball_dampening", Momentum, {"form": "heavy_ball", "dampening": 0.3}),
    ("heavy_ball_nesterov_wd", Momentum, {"form": "heavy_ball", "nesterov": True, "weight_decay": 0.01}),
    ("rmsprop", RMSprop, {}),
    ("rmsprop_eps_outside", RMSprop, {"eps_in_sqrt": False}),
    ("rmsprop_centered", RMSprop, {"centered": True}),
    ("rmsprop_centered_outside", RMSprop, {"centered": True, "eps_in_sqrt": False}),
    ("rmsprop_momentum", RMSprop, {"momentum": 0.9}),
    ("rmsprop_centered_momentum_wd", RMSprop, {"centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    (
        "rmsprop_torch_all",
        RMSprop,
        {"centered": True, "momentum": 0.5, "eps_in_sqrt": False, "weight_decay": 0.1},
    ),
    ("adam", Adam, {}),
    ("adam_outside", Adam, {"eps_mode": "outside_sqrt"}),
    ("adam_hat", Adam, {"eps_mode": "hat", "eps": 1e-7}),
    ("adam_no_bias_correction", Adam, {"bias_correction": False}),
    ("adam_no_bias_correction_outside", Adam, {"bias_correction": False, "eps_mode": "outside_sqrt"}),
    ("adam_hat_no_bias_correction", Adam, {"bias_correction": False, "eps_mode": "hat"}),
    ("adam_amsgrad", Adam, {"amsgrad": True}),
    ("adam_amsgrad_outside", Adam, {"amsgrad": True, "eps_mode": "outside_sqrt"}),
    ("adam_amsgrad_hat", Adam, {"amsgrad": True, "eps_mode": "hat"}),
    ("adam_wd", Adam, {"weight_decay": 0.01}),
    ("adam_wd_amsgrad", Adam, {"weight_decay": 0.01, "amsgrad": True, "eps_mode": "outside_sqrt"}),
    ("adamw", AdamW, {}),
    ("adamw_outside", AdamW, {"eps_mode": "outside_sqrt", "weight_decay": 0.1}),
    ("adamw_amsgrad_hat", AdamW, {"amsgrad": True, "eps_mode": "hat"}),
    ("adamw_no_decay", AdamW, {"weight_decay": 0.0}),
    ("adagrad", Adagrad, {}),
    ("adagrad_eps_in_sqrt", Adagrad, {"eps_in_sqrt": True, "initial_accumulator_value": 0.1}),
    ("adagrad_all", Adagrad, {"lr_decay": 0.05, "weight_decay": 0.01, "initial_accumulator_value": 0.5}),
    ("adamax", Adamax, {}),
    ("adamax_wd", Adamax, {"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.01}),
    ("nadam", NAdam, {}),
    ("nadam_wd", NAdam, {"weight_decay": 0.01, "momentum_decay": 0.01}),
    ("nadamw", NAdamW, {"weight_decay": 0.1}),
    ("radam", RAdam, {}),  # rectified from step 6 on: both branches run
    ("radam_beta2_low", RAdam, {"beta2": 0.9, "weight_decay": 0.01}),
    ("radamw", RAdamW, {"weight_decay": 0.1}),
    ("adadelta", Adadelta, {}),
    ("adadelta_wd", Adadelta, {"rho": 0.95, "eps": 1e-5, "weight_decay": 0.01}),
    ("lion", Lion, {}),
    ("lion_wd", Lion, {"beta1": 0.95, "beta2": 0.98, "weight_decay": 0.5}),
    # c crosses 1/2 on the first steps, so both ends of the lerp run; warmup and r change the weights.
    ("sgd_schedulefree", SGDScheduleFree, {}),
    (
        "sgd_schedulefree_all",
        SGDScheduleFree,
        {"beta": 0.8, "warmup": 4, "r": 1.0, "weight_decay": 0.01},
    ),
    ("adamw_schedulefree", AdamWScheduleFree, {}),
    (
        "adamw_schedulefree_all",
        AdamWScheduleFree,
        {
            "beta1": 0.8,
            "beta2": 0.99,
            "warmup": 4,
            "r": 1.0,
            "weight_lr_power": 1.0,
            "weight_decay": 0.1,
        },
    ),
]
each_config = pytest.mark.parametrize("config", CONFIGS, ids=[c[0] for c in CONFIGS])
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
SMALL_PARALLEL_THRESHOLD = 4096
# tiny; odd and below the threshold; odd and above it (the test lowers the threshold to 4096)
SIZES = pytest.mark.parametrize("n", [3, 1001, 5003], ids=["tiny", "odd", "parallel"])


@pytest.fixture
def low_parallel_threshold(monkeypatch):
    """Make arrays of 4096+ elements take the parallel kernel, so the table stays fast."""
    monkeypatch.setattr(_kernels, "PARALLEL_MIN_SIZE", SMALL_PARALLEL_THRESHOLD)


def make(config, params, backend, lr=0.01):
    _, cls, kwargs = config
    return cls(params, lr=lr, backend=backend, **kwargs)


def gradient(p, t, seed=1):
    """A gradient that depends on the point and on the step: a diagonal quadratic plus noise."""
    rng = np.random.default_rng([seed, t])
    slope = np.linspace(0.5, 2.0, p.size).reshape(p.shape)
    return (slope * p + 0.3 * rng.normal(size=p.shape)).astype(p.dtype)


def twins(config, shapes, dtype, seed=0):
    """The same starting parameters under the reference and under the fused backend."""
    rng = np.random.default_rng(seed)
    ref = [rng.normal(size=s).astype(dtype) for s in shapes]
    fused = [p.copy() for p in ref]
    return ref, fused, make(config, ref, "numpy"), make(config, fused, "numba")


def run_both(opt_ref, opt_fused, ref, fused, steps=30):
    for t in range(steps):
        if t == steps // 2:  # a schedule: the learning rate changes mid-run
            opt_ref.lr = opt_fused.lr = opt_ref.lr * 0.5
        grads = [gradient(p, t) for p in ref]
        opt_ref.step(grads)
        opt_fused.step(grads)


def max_rel_diff(a, b) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(np.max(np.abs(a64 - b64) / np.maximum(1.0, np.abs(a64)), initial=0.0))


def assert_agree(a, b, dtype):
    if dtype == np.float64:
        np.testing.assert_array_equal(a, b)  # bit-identical
    else:
        assert max_rel_diff(a, b) <= 1e-6


def assert_same_run(opt_ref, opt_fused, ref, fused, dtype):
    assert opt_ref.t == opt_fused.t
    for a, b in zip(ref, fused, strict=True):
        assert_agree(a, b, dtype)
    for s in opt_ref.state_names:
        for a, b in zip(opt_ref.state[s], opt_fused.state[s], strict=True):
            assert a.dtype == b.dtype
            assert_agree(a, b, dtype)


# -- fused against reference ----------------------------------------------------------------------------


@each_config
@DTYPES
@SIZES
def test_fused_matches_reference(config, dtype, n, low_parallel_threshold):
    ref, fused, opt_ref, opt_fused = twins(config, [(n,)], dtype)
    assert _kernels.use_parallel(n) == (n >= SMALL_PARALLEL_THRESHOLD)
    run_both(opt_ref, opt_fused, ref, fused)
    assert_same_run(opt_ref, opt_fused, ref, fused, dtype)
    assert not np.array_equal(ref[0], twins(config, [(n,)], dtype)[0][0])  # it did move


@each_config
def test_float32_is_bit_identical_too(config, low_parallel_threshold):
    """Stronger than the 1e-6 bound: the same operations in the same order give the same float32 bits."""
    ref, fused, opt_ref, opt_fused = twins(config, [(7,), (5003,)], np.float32)
    run_both(opt_ref, opt_fused, ref, fused)
    for a, b in zip(ref, fused, strict=True):
        np.testing.assert_array_equal(a, b)
    for s in opt_ref.state_names:
        for a, b in zip(opt_ref.state[s], opt_fused.state[s], strict=True):
            np.testing.assert_array_equal(a, b)


LARGE = [c for c in CONFIGS if c[0] in ("adam", "rmsprop_torch_all")]


@pytest.mark.parametrize("config", LARGE, ids=[c[0] for c in LARGE])
def test_fused_matches_reference_above_the_real_threshold(config):
    n = _kernels.PARALLEL_MIN_SIZE + 1
    assert _kernels.use_parallel(n)
    ref, fused, opt_ref, opt_fused = twins(config, [(n,)], np.float64)
    run_both(opt_ref, opt_fused, ref, fused, steps=5)
    assert_same_run(opt_ref, opt_fused, ref, fused, np.float64)


@each_config
@DTYPES
def test_many_arrays_of_every_shape(config, dtype, low_parallel_threshold):
    """A model's parameter list: matrices, vectors, a scalar, an empty array, one above the threshold."""
    shapes = [(4, 3), (3,), (), (0,), (2, 3, 5), (71, 73)]
    ref, fused, opt_ref, opt_fused = twins(config, shapes, dtype)
    run_both(opt_ref, opt_fused, ref, fused)
    assert_same_run(opt_ref, opt_fused, ref, fused, dtype)


@pytest.mark.parametrize("config", CONFIGS[::3], ids=[c[0] for c in CONFIGS[::3]])
def test_non_contiguous_and_float16_parameters(config):
    """Parameters the kernel cannot update in place are copied in and written back; float16 is
    updated in float32 and rounded, exactly as the reference does it."""
    rng = np.random.default_rng(0)
    ref = [rng.normal(size=(6, 8)), rng.normal(size=(3, 5)), rng.normal(size=5).astype(np.float16)]
    fused = [p.copy() for p in ref]
    bases_ref, bases_fused = ref[:2], fused[:2]
    ref = [ref[0][:, ::2], ref[1].T, ref[2]]  # strided, Fortran-ordered, float16
    fused = [fused[0][:, ::2], fused[1].T, fused[2]]
    opt_ref, opt_fused = make(config, ref, "numpy"), make(config, fused, "numba")
    for t in range(10):
        grads = [gradient(np.asarray(p, np.float64), t).astype(p.dtype) for p in ref]
        opt_ref.step(grads)
        opt_fused.step(grads)
    for a, b in zip(bases_ref + ref[2:], bases_fused + fused[2:], strict=True):
        np.testing.assert_array_equal(a, b)  # the views wrote through to their arrays
    assert not np.array_equal(bases_ref[0], np.random.default_rng(0).normal(size=(6, 8)))


def test_gradients_are_never_written():
    p = np.ones(10, np.float32)
    g = np.full(10, 0.5, np.float32)
    opt = Adam([p], backend="numba", weight_decay=0.1)
    opt.step([g])
    assert np.all(g == 0.5)
    opt = SGD([p], lr=0.1, backend="numba")
    g64 = np.full(10, 0.5)  # another dtype: cast into a copy
    opt.step([g64])
    assert g64.dtype == np.float64 and np.all(g64 == 0.5)


# -- the kernels themselves ---------------------------------------------------------------------------


KERNEL_CASES = [
    ("sgd", lambda par: _kernels.sgd_kernel(_kernels.COUPLED, par), 0, 2),
    ("momentum", lambda par: _kernels.momentum_kernel(True, _kernels.COUPLED, par), 1, 6),
    ("rmsprop", lambda par: _kernels.rmsprop_kernel(False, True, True, _kernels.COUPLED, par), 3, 6),
    ("adam", lambda par: _kernels.adam_kernel(True, True, _kernels.DECOUPLED, par), 3, 10),
    ("adagrad", lambda par: _kernels.adagrad_kernel(False, _kernels.COUPLED, par), 1, 3),
    ("adamax", lambda par: _kernels.adamax_kernel(_kernels.COUPLED, par), 2, 5),
    ("nadam", lambda par: _kernels.nadam_kernel(_kernels.DECOUPLED, par), 2, 9),
    ("radam", lambda par: _kernels.radam_kernel(_kernels.COUPLED, par), 2, 11),
    ("adadelta", lambda par: _kernels.adadelta_kernel(_kernels.COUPLED, par), 2, 5),
    ("lion", lambda par: _kernels.lion_kernel(_kernels.DECOUPLED, par), 1, 6),
]


@pytest.mark.parametrize("case", KERNEL_CASES, ids=[c[0] for c in KERNEL_CASES])
@DTYPES
def test_parallel_and_serial_kernels_agree(case, dtype):
    _, build, n_state, n_scalars = case
    rng = np.random.default_rng(0)
    n = 10_007
    p = rng.normal(size=n).astype(dtype)
    g = rng.normal(size=n).astype(dtype)
    state = [np.abs(rng.normal(size=n)).astype(dtype) for _ in range(n_state)]
    scalars = np.array([0.01, 0.9, 0.1, 0.5, 0.001, 0.999, 0.5, 1e-8, 0.01, 0.99, 0.999][:n_scalars], dtype)
    out = {}
    for parallel in (False, True):
        arrays = [p.copy(), g.copy(), *(s.copy() for s in state)]
        for _ in range(3):
            build(parallel)(*arrays, scalars)
        out[parallel] = arrays
    for a, b in zip(out[False], out[True], strict=True):
        np.testing.assert_array_equal(a, b)


def test_kernels_are_compiled_once_per_option_set():
    assert _kernels.adam_kernel(True, False, 0, False) is _kernels.adam_kernel(True, False, 0, False)
    assert _kernels.adam_kernel(True, False, 0, False) is not _kernels.adam_kernel(False, False, 0, False)


def test_cache_dir_fallback(monkeypatch, tmp_path):
    """numba's own places first; a per-user temp folder only when neither is writable."""
    writable_dir = _kernels._writable_dir
    assert writable_dir(str(tmp_path / "new")) and (tmp_path / "new").is_dir()
    (tmp_path / "a_file").write_text("")
    assert not writable_dir(str(tmp_path / "a_file" / "sub"))  # cannot be created
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(_kernels, "_writable_dir", lambda path: True)
    assert _kernels._choose_cache_dir() is None
    monkeypatch.setattr(_kernels, "_writable_dir", lambda path: "gradstep-numba-cache" in path)
    assert "gradstep-numba-cache" in _kernels._choose_cache_dir()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _kernels._choose_cache_dir() is None  # the user's choice wins


# -- the backend attribute --------------------------------------------------------------------------------


@each_config
def test_backend_is_not_a_hyperparameter(config):
    params = [np.ones(3)]
    opt = make(config, params, "numba")
    assert "backend" not in opt.hyperparams() and "backend" not in opt.state_dict()["hyperparams"]
    assert opt.backend == "numba"
    ref = make(config, [np.ones(3)], "numpy")
    opt.step([np.ones(3)])
    ref.load_state_dict(opt.state_dict())  # a checkpoint loads into either backend
    assert ref.backend == "numpy" and ref.t == 1
    clone = optim.create(config[1].name, [np.ones(3)], **opt.hyperparams())
    assert clone.backend == "auto"


def test_backend_is_validated():
    with pytest.raises(GradstepError, match="Unknown backend 'cuda'"):
        Adam([np.ones(2)], backend="cuda")
    opt = Adam([np.ones(2)])
    with pytest.raises(GradstepError, match="did you mean 'numba'"):
        opt.backend = "numbaa"
    assert opt.backend == "auto"


def test_a_subclass_with_its_own_update_takes_the_reference_path():
    class Clipped(Adam):
        def _update(self, p, g, state):
            super()._update(p, np.clip(g, -0.1, 0.1), state)

    p = np.zeros(3)
    opt = Clipped([p], lr=0.1, backend="numba")
    assert opt._kernels() is None
    opt.step([np.array([10.0, -10.0, 0.05])])
    reference = np.zeros(3)
    Adam([reference], lr=0.1, backend="numpy").step([np.array([0.1, -0.1, 0.05])])
    np.testing.assert_array_equal(p, reference)
    assert AdamW([np.ones(2)])._kernels() is _kernels  # AdamW declares that Adam's kernel covers it


def test_auto_uses_the_kernels_when_numba_imports():
    opt = Adam([np.ones(4)])
    assert opt.backend == "auto" and opt._kernels() is _kernels
    assert Adam([np.ones(4)], backend="numpy")._kernels() is None


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code) + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_numba_is_imported_at_the_first_fused_step_not_before():
    after_import = _modules_after(
        """
        import numpy as np, gradstep
        opt = gradstep.Adam([np.ones(3)])
        """
    )
    assert "numba" not in after_import and "gradstep.optim._kernels" not in after_import
    after_step = _modules_after(
        """
        import numpy as np, gradstep
        gradstep.Adam([np.ones(3)]).step([np.ones(3)])
        """
    )
    assert "numba" in after_step and "gradstep.optim._kernels" in after_step
    numpy_backend = _modules_after(
        """
        import numpy as np, gradstep
        gradstep.Adam([np.ones(3)], backend="numpy").step([np.ones(3)])
        """
    )
    assert "numba" not in numpy_backend
