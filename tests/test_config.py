"""Config: validated once when made, resolved once per backend."""

from __future__ import annotations

import pytest

from jaxstyle.config import Config, resolve
from jaxstyle.errors import ConfigError
from jaxstyle.options import LINESEARCHES


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"content_layers": "relu9_9"}, "unknown VGG19 layer"),
        ({"style_layers": {"conv1_1": 1.0, "bogus": 1.0}}, "unknown VGG19 layer"),
        ({"init": "zeros"}, "init must be"),
        ({"optimizer": "sgd"}, "optimizer must be"),
        ({"style_layers": "relu1_1:0.5,relu3_1"}, "give every layer a weight"),
        ({"style_layers": "relu1_1:big"}, "must be a number"),
        ({"style_layers": "relu1_1:-1"}, r"number in \[0, 3.403e\+38\]"),
        ({"style_layers": "relu1_1,relu1_1"}, "named twice"),
        ({"style_blend_weights": "3,-1"}, "blend weights"),
        ({"style_blend_weights": [0, 0]}, "not all 0"),
        ({"style_blend_weights": "a,b"}, "must be numbers"),
        ({"colors": "sepia"}, "colors must be one of"),
        ({"color_match": "lab"}, "color_match must be one of"),
        ({"mask_mode": "outside"}, "mask_mode must be one of"),
        ({"style_loss": "mmd"}, "style_loss must be one of"),
        ({"photorealism": -1.0}, "photorealism"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": 5.0}, "learning_rate"),
        ({"optimizer": "adam", "linesearch": "zoom"}, "offers linesearch"),
        ({"iterations": -1}, "iterations"),
        ({"ratio": float("nan")}, "ratio"),
        ({"content_weight": 1.0}, "both"),
        ({"content_layers": "", "style_layers": ""}, "at least one"),
        ({"optimizer": "jaxopt", "linesearch": "none"}, "offers linesearch"),
        ({"optimizer": "lbfgs", "linesearch": "zoom"}, "offers linesearch"),
        ({"linesearch": "golden"}, "offers linesearch"),
        ({"optimizer": "adam", "precondition": "spectral"}, "offers precondition"),
        ({"precondition": "fourier"}, "offers precondition"),
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
    assert (config.alpha, config.beta) == (6e-3, 1.0)
    assert Config(weighting="paper").alpha == 1e-3
    explicit = Config(content_weight=5.0, style_weight=100.0)
    assert (explicit.alpha, explicit.beta) == (5.0, 100.0)
    hash(config)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("relu1_1:0.5,relu3_1:0.25", (("relu1_1", 0.5), ("relu3_1", 0.25))),
        ("relu1_1, relu2_1", (("relu1_1", 0.5), ("relu2_1", 0.5))),
        ("relu4_2:2", (("relu4_2", 2.0),)),
    ],
)
def test_layer_weights_on_the_command_line(text, want):
    assert Config(style_layers=text).style_layers == want
    assert Config(content_layers=text).content_layers == want


@pytest.mark.parametrize(
    ("given", "want"), [("3,1", (0.75, 0.25)), ([1, 1, 2], (0.25, 0.25, 0.5)), (None, None)]
)
def test_blend_weights_are_normalised(given, want):
    assert Config(style_blend_weights=given).style_blend_weights == want


@pytest.mark.parametrize(
    ("backend", "optimizer"), [("cpu", "lbfgs"), ("gpu", "jaxopt"), ("tpu", "jaxopt")]
)
def test_auto_optimizer_by_backend(backend, optimizer):
    assert resolve(Config(), backend).optimizer == optimizer
    for name, searches in LINESEARCHES.items():
        assert resolve(Config(optimizer=name), backend).linesearch == searches[0]


def test_resolve_checks_the_linesearch_and_preconditioner_of_the_chosen_optimizer():
    assert resolve(Config(linesearch="strong-wolfe"), "cpu").linesearch == "strong-wolfe"
    with pytest.raises(ConfigError, match="optimizer 'jaxopt' offers linesearch"):
        resolve(Config(linesearch="strong-wolfe"), "gpu")
    assert resolve(Config(), "cpu").precondition == "spectral"
    assert resolve(Config(), "gpu").precondition == "none"
    with pytest.raises(ConfigError, match="optimizer 'jaxopt' offers precondition"):
        resolve(Config(precondition="spectral"), "gpu")


@pytest.mark.parametrize(
    "fields",
    [
        {"ratio": 3.5e38},
        {"content_weight": 1.0, "style_weight": 3.5e38},
        {"style_layers": "relu1_1:3.4028235677973366e+38"},
        {"style_scale": float("inf")},
    ],
)
def test_a_number_past_float32_is_refused(fields):
    """A weight that is finite in Python but infinite as float32 is a ConfigError."""
    with pytest.raises(ConfigError):
        Config(**fields)


def test_an_error_message_is_one_line():
    from jaxstyle.errors import ImageError

    assert str(ImageError("cannot read image a\nb.png")) == "cannot read image a\\nb.png"
