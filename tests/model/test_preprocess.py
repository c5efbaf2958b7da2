"""The three input conventions against the hand-written formulas."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.model import preprocess


@pytest.mark.parametrize("preprocess_name", ["CAFFE", "TORCHVISION", "GATYS"])
def test_preprocessing_matches_hand_formula(preprocess_name):
    pre = getattr(preprocess, preprocess_name)
    rgb = np.random.default_rng(0).uniform(size=(4, 5, 3)).astype(np.float32)
    if preprocess_name == "TORCHVISION":
        want = (rgb - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    elif preprocess_name == "CAFFE":
        want = rgb[..., ::-1] * 255 - np.array([103.939, 116.779, 123.68])
    else:
        want = (rgb[..., ::-1] - np.array([0.40760392, 0.45795686, 0.48501961])) * 255
    got = pre.apply(jnp.asarray(rgb))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(pre.invert(got)), rgb, rtol=1e-5, atol=1e-5)
