"""Module structure: names, early stopping, shapes, checks."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from jaxstyle.errors import WeightsError
from jaxstyle.model import layers, vgg


def test_sixteen_convs_five_pools():
    assert len(layers.CONV_LAYERS) == 16
    assert sum(name.startswith("pool") for name in layers.LAYERS) == 5
    assert layers.LAYERS[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")


def test_real_param_shapes():
    shapes = vgg.param_shapes()
    assert shapes["conv1_1"]["kernel"] == (3, 3, 3, 64)
    assert shapes["conv3_1"]["kernel"] == (3, 3, 128, 256)
    assert shapes["conv5_4"]["bias"] == (512,)
    total = sum(int(jnp.prod(jnp.array(s))) for leaf in shapes.values() for s in leaf.values())
    assert total == 20_024_384  # VGG19's conv parameters, as published


@pytest.mark.parametrize(
    ("layer", "convs"), [("relu1_1", 1), ("pool2", 4), ("relu4_2", 10), ("relu5_1", 13)]
)
def test_stops_after_deepest_layer(layer, convs):
    model = vgg.VGG19(outputs=(layer,), widths=(4, 4, 4, 4, 4))
    params = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))["params"]
    assert len(params) == convs
    jaxpr = jax.make_jaxpr(lambda x: model.apply({"params": params}, x))(jnp.zeros((1, 32, 32, 3)))
    assert str(jaxpr).count("conv_general_dilated") == convs


@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 47)])
def test_output_shapes(h, w):
    params = vgg.init_params(jax.random.key(0), (4, 8, 8, 8, 8))
    out = vgg.features(params, jnp.zeros((h, w, 3)), ("relu1_1", "pool1", "relu3_1", "pool5"))
    assert out["relu1_1"].shape == (h, w, 4)
    assert out["pool1"].shape == (h // 2, w // 2, 4)
    assert out["relu3_1"].shape == (h // 4, w // 4, 8)
    assert out["pool5"].shape == (h // 32, w // 32, 8)


def test_first_blocks_only():
    """A net of the first three blocks computes them as the whole net does, and no further."""
    full = vgg.init_params(jax.random.key(0), (4, 8, 8, 8, 8))
    three = {k: v for k, v in full.items() if int(k[4]) <= 3}
    x = jax.random.normal(jax.random.key(1), (20, 24, 3))
    assert vgg.blocks_of(three) == 3 and vgg.blocks_of(full) == 5
    got = vgg.features(three, x, ("relu1_1", "relu3_4", "pool3"))
    want = vgg.features(full, x, ("relu1_1", "relu3_4", "pool3"))
    for k, v in want.items():
        assert jnp.array_equal(got[k], v), k
    with pytest.raises(WeightsError, match="layer relu4_2 needs block 4 of VGG19"):
        vgg.features(three, x, ("relu1_1", "relu4_2"))


def test_layer_hw_floors_at_each_pool():
    x = jnp.zeros((1, 37, 50, 3))
    params = vgg.init_params(jax.random.key(0), (4, 4, 4, 4, 4))
    out = vgg.features(params, x, ("relu1_1", "pool1", "relu3_2", "relu5_1", "pool5"))
    for k, v in out.items():
        assert layers.layer_hw((37, 50), k) == v.shape[1:3], k


def test_unknown_layer():
    with pytest.raises(ValueError, match="unknown VGG19 layer 'relu6_1'"):
        layers.check_layers(["relu1_1", "relu6_1"])


def test_min_size():
    assert layers.min_size(["relu1_1", "relu4_2"]) == 8
    assert layers.min_size(["relu5_1"]) == 16
