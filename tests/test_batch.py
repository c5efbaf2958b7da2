"""Batched stylize: one compiled program whose items equal the per-item runs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import smooth_image

from jaxstyle import optimize
from jaxstyle.errors import ConfigError
from jaxstyle.vgg import TORCHVISION

ITERATIONS = 6


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(11)
    contents = np.stack([smooth_image(rng, 24, 32) for _ in range(3)])
    return contents, smooth_image(rng, 30, 28)


def _configs(optimizer: str) -> list[optimize.Config]:
    # Different alpha/beta, layer sets, layer weights, inits and noise: all per-item.
    base = optimize.Config(iterations=ITERATIONS, optimizer=optimizer, chunk_size=4)
    return [
        optimize.Config(**{**base.__dict__, "ratio": 1e-4, "init": "noise"}),
        optimize.Config(
            **{
                **base.__dict__,
                "ratio": 1e-2,
                "style_layers": "relu1_1,relu2_1",
                "init": "content",
            }
        ),
        optimize.Config(
            **{
                **base.__dict__,
                "content_weight": 2.0,
                "style_weight": 50.0,
                "content_layers": {"relu2_2": 1.0},
                "tv_weight": 1e-3,
                "init": "noise",
                "noise_std": 0.2,
            }
        ),
    ]


# Not jaxopt: its zoom decides whether to move at all by rounding in float32 (see
# test_options.py), and vmapped programs round differently from single ones.
@pytest.mark.parametrize("optimizer", ["optax", "lbfgs"])
def test_batch_equals_items(slim_params, images, optimizer):
    contents, style = images
    configs = _configs(optimizer)
    keys = jnp.stack([jax.random.key(i) for i in range(3)])
    batch = optimize.stylize(contents, style, slim_params, TORCHVISION, configs, key=keys)
    assert batch.image.shape == (3, 24, 32, 3)
    assert batch.history.total.shape == (3, ITERATIONS)
    assert set(batch.history.style) == {f"relu{b}_1" for b in range(1, 6)}
    for i, config in enumerate(configs):
        one = optimize.stylize(contents[i], style, slim_params, TORCHVISION, config, key=keys[i])
        np.testing.assert_allclose(batch.image[i], one.image, atol=2e-4)
        np.testing.assert_allclose(batch.history.total[i], one.history.total, rtol=2e-4)
        # Line-search evaluation counts may differ by float noise near a tolerance.
        assert np.all(batch.history.evaluations[i] >= 1)
        for layer, curve in one.history.style.items():
            np.testing.assert_allclose(batch.history.style[layer][i], curve, rtol=2e-4)


def test_one_key_is_shared_and_unbatched_args_broadcast(slim_params, images):
    contents, style = images
    configs = [optimize.Config(iterations=2, ratio=r) for r in (1e-3, 1e-3)]
    out = optimize.stylize(
        contents[0], style, slim_params, TORCHVISION, configs, key=jax.random.key(3)
    )
    # Same content, style, weights and noise: the two items are the same run.
    np.testing.assert_allclose(out.image[0], out.image[1], atol=1e-6)


def test_new_weights_reuse_the_compiled_loop(slim_params, images):
    contents, style = images
    key = jax.random.key(0)
    optimize.stylize(
        contents[0], style, slim_params, TORCHVISION, optimize.Config(iterations=1), key=key
    )

    def compiled() -> int:
        programs = (optimize.run_chunk, optimize.run_step, optimize.probe)
        return sum(p._cache_size() for p in programs)

    before = compiled()
    for ratio in (1e-5, 1e-1):
        optimize.stylize(
            contents[0],
            style,
            slim_params,
            TORCHVISION,
            optimize.Config(iterations=1, ratio=ratio, style_layers={"relu1_1": 0.3, "relu5_1": 3}),
            key=key,
        )
    assert compiled() == before + 1  # the new layer set, not the ratios


def test_optimiser_settings_reuse_the_compiled_evaluation(slim_params, images):
    contents, style = images
    key = jax.random.key(0)

    def run(**kwargs) -> None:
        config = optimize.Config(**{"iterations": 1, **kwargs})
        optimize.stylize(contents[0], style, slim_params, TORCHVISION, config, key=key)

    run()
    before = optimize.probe._cache_size(), optimize._targets._cache_size()
    run(history_size=3, linesearch="none", chunk_size=7)
    run(optimizer="optax", iterations=2)  # its own step program, but the same targets
    assert (optimize.probe._cache_size(), optimize._targets._cache_size()) == before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"configs": 2, "keys": 3}, "batch sizes disagree"),
        ({"configs": 2, "iterations": (1, 2)}, "same iterations"),
        ({"configs": 2, "pooling": ("avg", "max")}, "same pooling"),
    ],
)
def test_batch_errors(slim_params, images, kwargs, match):
    contents, style = images
    iters = kwargs.get("iterations", (1, 1))
    pool = kwargs.get("pooling", ("avg", "avg"))
    configs = [optimize.Config(iterations=iters[i], pooling=pool[i]) for i in range(2)]
    keys = jax.random.split(jax.random.key(0), kwargs.get("keys", 2))
    with pytest.raises(ConfigError, match=match):
        optimize.stylize(contents[0], style, slim_params, TORCHVISION, configs, key=keys)


def test_empty_config_list_is_refused(slim_params, images):
    contents, style = images
    with pytest.raises(ConfigError, match="non-empty"):
        optimize.stylize(contents[0], style, slim_params, TORCHVISION, [])
