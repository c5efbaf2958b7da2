"""Coarse to fine: stage sizes, each stage started from the previous result, the CLI."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY, smooth_image, write_weights
from PIL import Image

from jaxstyle import cli
from jaxstyle.config import Config
from jaxstyle.errors import ConfigError
from jaxstyle.images.arrays import initial_image
from jaxstyle.loss.objective import objective
from jaxstyle.loss.spec import spec_of, weights_of
from jaxstyle.loss.targets import make_targets
from jaxstyle.model.preprocess import TORCHVISION
from jaxstyle.model.vgg import init_params
from jaxstyle.run.multiscale import coarse_to_fine, stage_iterations, stage_sizes

CONFIG = Config(content_layers="relu2_2", style_layers="relu1_1,relu2_1,relu3_1", init="noise")


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(4)
    return (
        init_params(jax.random.key(2), TINY),
        smooth_image(rng, 48, 64),
        smooth_image(rng, 40, 40),
    )


def test_each_stage_starts_from_the_previous_result(setup):
    params, content, style = setup
    key = jax.random.key(0)
    first, second = coarse_to_fine(
        content, style, params, TORCHVISION, CONFIG, (32, 64), (4, 0), key=key
    )
    assert first.image.shape == (24, 32, 3) and second.image.shape == (48, 64, 3)
    upsampled = jax.image.resize(jnp.asarray(first.image), (48, 64, 3), "linear", antialias=True)
    np.testing.assert_allclose(second.image, np.clip(upsampled, 0, 1), atol=1e-5)


def test_a_stage_starts_below_a_noise_start(setup):
    params, content, style = setup
    key = jax.random.key(0)
    first, _ = coarse_to_fine(
        content, style, params, TORCHVISION, CONFIG, (32, 64), (10, 0), key=key
    )
    spec = spec_of(CONFIG)
    loss = objective(
        params,
        make_targets(params, jnp.asarray(content), jnp.asarray(style), spec, TORCHVISION),
        weights_of(CONFIG, spec),
        spec,
        TORCHVISION,
    )
    upsampled = jax.image.resize(jnp.asarray(first.image), (48, 64, 3), "linear", antialias=True)
    noise = initial_image(jnp.asarray(content), jnp.asarray(style), "noise", TORCHVISION, key)
    assert loss(TORCHVISION.apply(jnp.clip(upsampled, 0, 1)))[0] < loss(noise)[0]


@pytest.mark.parametrize(
    ("scales", "iterations", "match"),
    [((64, 32), 1, "increasing"), ((0, 32), 1, "positive"), ((16, 32), (1, 2, 3), "one per scale")],
)
def test_bad_schedules(scales, iterations, match):
    with pytest.raises(ConfigError, match=match):
        stage_iterations(iterations, len(stage_sizes((48, 64), scales)))


def test_cli_scales(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name, (h, w) in {"c.png": (48, 64), "s.png": (30, 30)}.items():
        Image.fromarray((smooth_image(rng, h, w) * 255).astype(np.uint8)).save(tmp_path / name)
    write_weights(tmp_path / "w.npz", TINY, source="random")
    base = [
        "stylize",
        str(tmp_path / "c.png"),
        str(tmp_path / "s.png"),
        "--weights",
        str(tmp_path / "w.npz"),
        "--quiet",
    ]
    assert (
        cli.main([*base, "-o", str(tmp_path / "o.png"), "--scales", "32,48", "--iterations", "2,1"])
        == 0
    )
    with Image.open(tmp_path / "o.png") as im:
        assert im.size == (48, 36)
    assert (
        cli.main([*base, "-o", str(tmp_path / "x.png"), "--scales", "32,48", "--size", "48"]) == 2
    )
    assert (
        cli.main(
            [*base, "-o", str(tmp_path / "x.png"), "--scales", "32,48", "--iterations", "1,2,3"]
        )
        == 2
    )
    err = capsys.readouterr().err.splitlines()
    assert "--size and --scales" in err[0] and "one per scale" in err[1] and len(err) == 2
    assert not (tmp_path / "x.png").exists()
