"""Non-finite losses: a transient NaN is recovered from, a lasting one stops cleanly."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import SLIM, smooth_image, write_weights
from PIL import Image

from jaxstyle import cli
from jaxstyle.config import Config
from jaxstyle.model.preprocess import TORCHVISION
from jaxstyle.run.stylize import stylize
from jaxstyle.solve.solvers import Solver, minimize


class NanOnce:
    """An extra loss term, 0 except NaN at its ``at``-th evaluation (counted on the host)."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def _factor(self) -> np.ndarray:
        self.calls += 1
        return np.float32(np.nan if self.calls == self.at else 0.0)

    def __call__(self, rgb, features):
        shape = jax.ShapeDtypeStruct((), jnp.float32)
        return jax.pure_callback(self._factor, shape, vmap_method="sequential") * jnp.mean(rgb)


def _bowl(x):
    return jnp.sum((x - 2.0) ** 2), {}


@pytest.mark.parametrize("optimizer", ["lbfgs", "jaxopt", "optax", "adam"])
def test_a_nan_step_is_retried_and_the_run_goes_on(optimizer):
    calls = {"n": 0}

    def once():
        calls["n"] += 1
        return np.float32(np.nan if calls["n"] == 3 else 1.0)

    def f(x):
        k = jax.pure_callback(once, jax.ShapeDtypeStruct((), jnp.float32), vmap_method="sequential")
        return _bowl(x)[0] * k, {}

    solver = Solver(optimizer, learning_rate=0.3) if optimizer == "adam" else Solver(optimizer)
    x, hist = minimize(f, jnp.zeros(4), 30, solver)
    assert not hist["failed"][-1] and np.isfinite(hist["value"][-1])
    assert float(_bowl(x)[0]) < 0.5 * float(_bowl(jnp.zeros(4))[0])
    assert np.all(np.isfinite(x))


@pytest.mark.parametrize("optimizer", ["adam"])
def test_each_failure_after_a_success_gets_its_restart(optimizer):
    """One rule for every solver (solve/guards.py): a restart per failure that follows a
    successful step; two failures in a row stop the item. Adam evaluates once per step,
    so the 3rd and 12th evaluations are two failed steps with successes between."""
    calls = {"n": 0}

    def twice():
        calls["n"] += 1
        return np.float32(np.nan if calls["n"] in (3, 12) else 1.0)

    def f(x):
        k = jax.pure_callback(
            twice, jax.ShapeDtypeStruct((), jnp.float32), vmap_method="sequential"
        )
        return _bowl(x)[0] * k, {}

    solver = Solver(optimizer, learning_rate=0.3) if optimizer == "adam" else Solver(optimizer)
    x, hist = minimize(f, jnp.zeros(4), 30, solver)
    assert hist["failed"].sum() == 2 and not hist["failed"][-1]
    assert float(_bowl(x)[0]) < 0.5 * float(_bowl(jnp.zeros(4))[0])


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_stylize_recovers_from_a_transient_nan(slim_params, rng, optimizer):
    content = jnp.asarray(smooth_image(rng, 24, 32))
    config = Config(iterations=12, optimizer=optimizer, init="noise")
    out = stylize(
        *(content, content, slim_params, TORCHVISION, config),
        key=jax.random.key(0),
        extra_loss=NanOnce(at=5),
    )
    total = out.history.total
    assert out.failed is None and out.stopped is None
    assert np.isfinite(total[-1]) and total[-1] < np.nanmax(total)
    assert np.all(np.isfinite(out.image))


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_an_overflowing_weight_stops_with_the_start_kept(slim_params, rng, optimizer):
    content = jnp.asarray(smooth_image(rng, 24, 32))
    config = Config(
        iterations=6, optimizer=optimizer, init="content", content_weight=1.0, style_weight=1e38
    )
    out = stylize(content, content * 0.5, slim_params, TORCHVISION, config)
    assert out.failed is not None and "from iteration 1 on" in out.failed, out.failed
    np.testing.assert_allclose(out.image, content, atol=1e-5)  # the start, the last finite


def test_the_cli_writes_the_last_finite_image_and_exits_2(tmp_path, capsys):
    rng = np.random.default_rng(0)
    Image.fromarray((smooth_image(rng, 20, 24) * 255).astype(np.uint8)).save(tmp_path / "c.png")
    write_weights(tmp_path / "w.npz", SLIM, source="random")
    out = tmp_path / "o.png"
    argv = ["stylize", str(tmp_path / "c.png"), str(tmp_path / "c.png"), "-o", str(out)]
    argv += ["--weights", str(tmp_path / "w.npz"), "--size", "24", "--iterations", "3"]
    argv += ["--quiet", "--style-layers", "relu1_1:1e38", "--init", "content"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not finite from iteration 1 on" in err[0], err
    assert err[0].startswith("jaxstyle: error:") and str(out) in err[0]
    with Image.open(out) as im:
        assert im.size == (24, 20)
