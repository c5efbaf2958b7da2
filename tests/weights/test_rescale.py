"""The paper's normalisation: unit mean activations, and activations divided per channel."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import smooth_image

from jaxstyle.model.layers import CONV_LAYERS, LAYERS
from jaxstyle.model.preprocess import CAFFE, TORCHVISION
from jaxstyle.model.vgg import features, init_params
from jaxstyle.weights import rescale as rs

SLIM = (4, 8, 8, 8, 8)
HI = jax.lax.Precision.HIGHEST


@pytest.fixture(scope="module")
def params():
    p = init_params(jax.random.key(7), SLIM)
    # Kill one filter for sure: a large negative bias keeps it below zero everywhere.
    p["conv2_1"]["bias"] = p["conv2_1"]["bias"].at[3].set(-1e4)
    return p


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(5)
    return [smooth_image(rng, 32, 32) for _ in range(4)]


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_unit_means_and_per_channel_division(params, images, pooling):
    new, stats = rs.rescale(params, images, CAFFE, pooling)
    json.dumps(stats)
    assert stats["dead"]["conv2_1"] >= 1 and stats["dead_total"] >= 1
    assert stats["factor"]["conv2_1"][3] == 1.0
    after = rs.mean_activations(new, images, CAFFE, pooling)
    for conv, relu in zip(CONV_LAYERS, rs.RELU_LAYERS, strict=True):
        live = np.asarray(stats["mean_activation"][conv]) > 0
        np.testing.assert_allclose(after[relu][live], 1.0, atol=1e-3, err_msg=conv)
        np.testing.assert_array_equal(after[relu][~live], 0.0)

    # Every activation, at two image sizes (one unlike the calibration size).
    rng = np.random.default_rng(9)
    for h, w in ((32, 32), (48, 40)):
        x = CAFFE.apply(jnp.asarray(smooth_image(rng, h, w)))
        old = features(params, x, LAYERS, pooling=pooling, precision=HI)
        got = features(
            {k: {leaf: jnp.asarray(v) for leaf, v in d.items()} for k, d in new.items()},
            x,
            LAYERS,
            pooling=pooling,
            precision=HI,
        )
        block_factor = None
        for name in LAYERS:
            if not name.startswith("pool"):
                block_factor = np.asarray(stats["factor"][f"conv{name[4:]}"], np.float32)
            want = np.asarray(old[name]) / block_factor
            scale = np.abs(want).max()
            np.testing.assert_allclose(
                np.asarray(got[name]), want, rtol=1e-4, atol=1e-5 * scale, err_msg=name
            )


def test_pure_and_preprocess_matters(params, images):
    before = {k: np.asarray(v["kernel"]).copy() for k, v in params.items()}
    _, s1 = rs.rescale(params, images, CAFFE)
    _, s2 = rs.rescale(params, images, TORCHVISION)
    for k in CONV_LAYERS:
        np.testing.assert_array_equal(np.asarray(params[k]["kernel"]), before[k])
    assert s1["factor"]["conv1_1"] != s2["factor"]["conv1_1"]


def test_bundled_calibration_set():
    ims = rs.load_calibration(32)
    assert len(ims) == 10
    for im in ims:
        assert im.shape == (32, 32, 3) and im.dtype == np.float32
        assert im.min() >= 0.0 and im.max() <= 1.0


def test_mixed_sizes_weigh_images_equally(params):
    rng = np.random.default_rng(1)
    a, b = smooth_image(rng, 32, 32), smooth_image(rng, 48, 40)
    both = rs.mean_activations(params, [a, b], CAFFE, layers=("relu1_1",))["relu1_1"]
    ma = rs.mean_activations(params, [a], CAFFE, layers=("relu1_1",))["relu1_1"]
    mb = rs.mean_activations(params, [b], CAFFE, layers=("relu1_1",))["relu1_1"]
    np.testing.assert_allclose(both, (ma + mb) / 2, rtol=1e-6)
