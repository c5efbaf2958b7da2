"""Config: validated once when made, resolved once per backend."""

from __future__ import annotations

import pytest

from jaxstyle.config import LINESEARCHES, Config, resolve
from jaxstyle.errors import ConfigError


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
        ({"optimizer": "jaxopt", "linesearch": "none"}, "offers linesearch"),
        ({"optimizer": "lbfgs", "linesearch": "zoom"}, "offers linesearch"),
        ({"linesearch": "golden"}, "offers linesearch"),
        ({"precision": "float16"}, "precision must be"),
        ({"convolution": "fft"}, "convolution must be one of"),
        ({"convolution": "winograd", "precision": "bfloat16"}, "float32 only"),
        ({"style_scale": 0.0}, "style_scale must be positive"),
        ({"history_size": 0}, "must be positive"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Config(**kwargs)


def test_layers_and_weights():
    config = Config(style_layers="relu1_1,relu3_1", content_layers={"relu2_2": 2.0})
    assert config.style_layers == (("relu1_1", 0.5), ("relu3_1", 0.5))
    assert config.layers == ("relu1_1", "relu2_2", "relu3_1")
    assert (config.alpha, config.beta) == (2e-2, 1.0)
    assert Config(weighting="paper").alpha == 1e-3
    explicit = Config(content_weight=5.0, style_weight=100.0)
    assert (explicit.alpha, explicit.beta) == (5.0, 100.0)
    hash(config)


@pytest.mark.parametrize(
    ("backend", "optimizer"), [("cpu", "lbfgs"), ("gpu", "jaxopt"), ("tpu", "jaxopt")]
)
def test_auto_optimizer_by_backend(backend, optimizer):
    assert resolve(Config(), backend).optimizer == optimizer
    for name, searches in LINESEARCHES.items():
        assert resolve(Config(optimizer=name), backend).linesearch == searches[0]


def test_resolve_checks_the_linesearch_of_the_chosen_optimizer():
    assert resolve(Config(linesearch="strong-wolfe"), "cpu").linesearch == "strong-wolfe"
    with pytest.raises(ConfigError, match="optimizer 'jaxopt' offers linesearch"):
        resolve(Config(linesearch="strong-wolfe"), "gpu")
