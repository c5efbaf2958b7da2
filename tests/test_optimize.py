"""stylize: the optimisers lower the loss, seeds are honoured, configs are checked."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import smooth_image

from jaxstyle import optimize
from jaxstyle.errors import ConfigError
from jaxstyle.vgg import CAFFE, TORCHVISION


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(7)
    return smooth_image(rng, 32, 32), smooth_image(rng, 40, 36)


def _initial_loss(params, content, style, config, preprocess, key):
    targets = optimize.make_targets(
        params,
        jnp.asarray(content),
        optimize.resize(jnp.asarray(style), 32, 32),
        config,
        preprocess,
    )
    x0 = optimize.initial_image(jnp.asarray(content), jnp.asarray(style), config, preprocess, key)
    return float(optimize.loss_terms(x0, params, targets, config, preprocess)[0])


@pytest.mark.parametrize("optimizer", optimize.OPTIMIZERS)
def test_loss_drops_tenfold_in_50_iterations(slim_params, pair, optimizer):
    content, style = pair
    config = optimize.Config(iterations=50, optimizer=optimizer, chunk_size=20)
    key = jax.random.key(0)
    result = optimize.stylize(content, style, slim_params, TORCHVISION, config, key=key)
    start = _initial_loss(slim_params, content, style, config, TORCHVISION, key)
    h = result.history
    assert h.total.shape == (50,) and np.all(np.isfinite(h.total))
    assert start / h.total[-1] >= 10.0, (start, h.total[-1])
    # The recorded parts (the paper's L_content and E_l) add up to the recorded total
    # with the default weighting's factors, worked out for the slim net at 32x32:
    # relu4_2 has N = 24 channels at 4x4 positions, so alpha = 2e-2 * 2 / (24 * 16); the
    # style layers have N = 8, 16, 16, 24, 24, each weighted 1/5 * 4e3 / N^2.
    widths = {"relu1_1": 8, "relu2_1": 16, "relu3_1": 16, "relu4_1": 24, "relu5_1": 24}
    style_sum = sum(0.2 * 4e3 / widths[k] ** 2 * h.style[k] for k in h.style)
    np.testing.assert_allclose(2e-2 * 2 / 384 * h.content + style_sum, h.total, rtol=1e-4)
    assert np.all(h.evaluations >= 1)
    assert result.image.shape == (32, 32, 3)
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0


def test_same_seed_same_image_other_seed_other_image(slim_params, pair):
    content, style = pair
    config = optimize.Config(iterations=5)

    def run(seed: int) -> np.ndarray:
        return optimize.stylize(
            content, style, slim_params, TORCHVISION, config, key=jax.random.key(seed)
        ).image

    a, b, c = run(3), run(3), run(4)
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1e-3


def test_chunking_does_not_change_the_result(slim_params, pair):
    content, style = pair
    key = jax.random.key(5)
    one = optimize.stylize(
        content, style, slim_params, CAFFE, optimize.Config(iterations=12), key=key
    )
    many = optimize.stylize(
        content, style, slim_params, CAFFE, optimize.Config(iterations=12, chunk_size=5), key=key
    )
    np.testing.assert_allclose(one.image, many.image, atol=1e-5)
    np.testing.assert_allclose(one.history.total, many.history.total, rtol=1e-5)


def test_callback_called_per_chunk(slim_params, pair):
    content, style = pair
    seen = []
    optimize.stylize(
        content,
        style,
        slim_params,
        TORCHVISION,
        optimize.Config(iterations=7, chunk_size=3),
        key=jax.random.key(0),
        callback=lambda n, img, hist: seen.append((n, img.shape, len(hist.total))),
    )
    assert seen == [(3, (32, 32, 3), 3), (6, (32, 32, 3), 6), (7, (32, 32, 3), 7)]


def test_stepping_keeps_only_the_newest_iterate(slim_params, pair):
    # A chunk of lbfgs steps used to keep every iterate alive until the chunk ended
    # (50 images at 3 MiB each at 512 px); count the live image-shaped arrays instead.
    content, style = pair
    live = []

    def count(n, img, hist):
        live.append(sum(1 for a in jax.live_arrays() if a.shape[-3:] == (32, 32, 3)))

    optimize.stylize(
        content,
        style,
        slim_params,
        TORCHVISION,
        optimize.Config(iterations=24, chunk_size=24),
        key=jax.random.key(0),
        callback=count,
    )
    # 13 here (images, iterate, gradient, direction, the L-BFGS memory, ...); 36 when
    # all 24 iterates of the chunk were kept.
    assert live and live[0] < 20, live


# winograd4 only with committed params (the case that once split the program); it is
# also the suite's one whole stylize run in F(4x4).
@pytest.mark.parametrize(
    ("convolution", "commit"),
    [
        pytest.param(c, commit, id=f"{c}-{'committed-params' if commit else 'params'}")
        for c, commit in [
            ("direct", False),
            ("direct", True),
            ("winograd", False),
            ("winograd", True),
            ("winograd4", True),
        ]
    ],
)
def test_every_evaluation_runs_one_program(slim_params, pair, monkeypatch, convolution, commit):
    # jit compiles a committed and an uncommitted argument into two programs, and its
    # outputs are committed when any input is. The first evaluation takes the start x0,
    # every later one a probe's output: with Winograd's host-sliced kernels (committed)
    # the evaluation program was compiled, and held in memory, twice per run.
    content, style = pair
    real, seen = optimize.probe, []

    def spy(x, d, t, **kwargs):
        seen.append((x.committed, d.committed, t.committed))
        return real(x, d, t, **kwargs)

    monkeypatch.setattr(optimize, "probe", spy)
    params = jax.device_put(slim_params, jax.devices()[0]) if commit else slim_params
    config = optimize.Config(iterations=3, init="content", convolution=convolution)
    optimize.stylize(content, style, params, TORCHVISION, config)
    assert len(seen) >= 4 and len(set(seen)) == 1, seen


@pytest.mark.parametrize("init", ["content", "style"])
def test_content_and_style_init(slim_params, pair, init):
    content, style = pair
    config = optimize.Config(init=init)
    x0 = optimize.initial_image(jnp.asarray(content), jnp.asarray(style), config, TORCHVISION, None)
    want = content if init == "content" else optimize.resize(jnp.asarray(style), 32, 32)
    np.testing.assert_allclose(np.asarray(TORCHVISION.invert(x0)), np.asarray(want), atol=1e-5)


def test_noise_init_needs_a_key(slim_params, pair):
    content, style = pair
    with pytest.raises(ConfigError, match="PRNG key"):
        optimize.stylize(content, style, slim_params, TORCHVISION, optimize.Config(iterations=1))


@pytest.mark.parametrize(("scale", "want"), [(None, (32, 32)), (1.0, (32, 29)), (0.5, (16, 14))])
def test_style_size(scale, want):
    assert optimize.style_size((32, 32), (40, 36), scale) == want


def test_too_small_image_is_refused(slim_params):
    img = np.full((12, 12, 3), 0.5, np.float32)
    with pytest.raises(ConfigError, match="at least 16 px"):
        optimize.stylize(
            img, img, slim_params, TORCHVISION, optimize.Config(iterations=1), key=jax.random.key(0)
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"content_layers": "relu9_9"}, "unknown VGG19 layer"),
        ({"style_layers": {"conv1_1": 1.0, "bogus": 1.0}}, "unknown VGG19 layer"),
        ({"init": "zeros"}, "init must be"),
        ({"optimizer": "adam"}, "optimizer must be"),
        ({"iterations": -1}, "iterations"),
        ({"ratio": float("nan")}, "ratio"),
        ({"content_weight": 1.0}, "both"),
        ({"content_layers": "", "style_layers": ""}, "at least one"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        optimize.Config(**kwargs)


def test_config_layers_and_weights():
    config = optimize.Config(style_layers="relu1_1,relu3_1", content_layers={"relu2_2": 2.0})
    assert config.style_layers == (("relu1_1", 0.5), ("relu3_1", 0.5))
    assert config.layers == ("relu1_1", "relu2_2", "relu3_1")
    assert (config.alpha, config.beta) == (2e-2, 1.0)
    assert optimize.Config(weighting="paper").alpha == 1e-3
    explicit = optimize.Config(content_weight=5.0, style_weight=100.0)
    assert (explicit.alpha, explicit.beta) == (5.0, 100.0)
    hash(config)  # usable as a static jit argument
