"""The temporal losses (Ruder et al. 2016, Eqs. 7-9) against hand-written numpy, and in Eq. 7's sum."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle import TORCHVISION, Config, Temporal, init_params, long_term_weights, temporal_loss
from jaxstyle.errors import ConfigError
from jaxstyle.loss.objective import loss_terms, make_targets, spec_of, weights_of
from jaxstyle.video.settings import Video


def _numpy_loss(x: np.ndarray, images: np.ndarray, weights: np.ndarray) -> float:
    """Eq. 8 as a loop: sum over references of 1/D sum_k c_k (x_k - w_k)^2, D = H W 3."""
    h, w, _ = x.shape
    total = 0.0
    for ref, c in zip(images, weights, strict=True):
        s = 0.0
        for i in range(h):
            for j in range(w):
                for ch in range(3):
                    s += c[i, j] * (float(x[i, j, ch]) - float(ref[i, j, ch])) ** 2
        total += s / (h * w * 3)
    return total


def _numpy_long_term(c: np.ndarray) -> np.ndarray:
    """Eq. 9: each reference keeps what no closer one covers."""
    out = np.empty_like(c)
    for j in range(len(c)):
        out[j] = np.maximum(c[j] - sum(c[k] for k in range(j)), 0.0)
    return out


@pytest.mark.parametrize("k", [1, 3])
def test_temporal_loss_matches_numpy(k):
    rng = np.random.default_rng(k)
    x = rng.random((5, 7, 3)).astype(np.float32)
    images = rng.random((k, 5, 7, 3)).astype(np.float32)
    weights = rng.random((k, 5, 7)).astype(np.float32)
    got = float(temporal_loss(jnp.asarray(x), Temporal(jnp.asarray(images), jnp.asarray(weights))))
    np.testing.assert_allclose(got, _numpy_loss(x, images, weights), rtol=1e-5)


def test_long_term_weights_match_numpy_and_count_each_pixel_once():
    rng = np.random.default_rng(0)
    c = (rng.random((3, 6, 6)) > 0.4).astype(np.float32) * rng.random((3, 6, 6)).astype(np.float32)
    got = np.asarray(long_term_weights(jnp.asarray(c)))
    np.testing.assert_allclose(got, _numpy_long_term(c), atol=1e-7)
    binary = (rng.random((3, 6, 6)) > 0.5).astype(np.float32)
    assert np.asarray(long_term_weights(jnp.asarray(binary))).sum(0).max() <= 1.0


def test_temporal_loss_gradient_is_the_weighted_difference():
    x = jnp.full((2, 2, 3), 0.5)
    refs = Temporal(jnp.zeros((1, 2, 2, 3)), jnp.ones((1, 2, 2)))
    g = jax.grad(lambda x: temporal_loss(x, refs))(x)
    np.testing.assert_allclose(np.asarray(g), 2 * 0.5 / 12, rtol=1e-6)


def test_the_objective_adds_temporal_weight_times_the_loss():
    params = init_params(jax.random.key(0), (4, 8, 8, 8, 8))
    img = jnp.asarray(np.random.default_rng(0).random((32, 32, 3)), jnp.float32)
    refs = Temporal(jnp.zeros((1, 32, 32, 3)), jnp.ones((1, 32, 32)))
    totals = {}
    for weight in (0.0, 2.5):
        config = Config(temporal_weight=weight)
        spec = spec_of(config, temporal=1)
        targets = make_targets(params, img, img, spec, TORCHVISION)._replace(temporal=refs)
        total, terms = loss_terms(
            TORCHVISION.apply(img), params, targets, weights_of(config, spec), spec, TORCHVISION
        )
        totals[weight] = (float(total), float(terms["temporal"]))
    expected = float(jnp.mean(img**2))
    np.testing.assert_allclose(totals[2.5][1], expected, rtol=1e-5)
    np.testing.assert_allclose(totals[2.5][0] - totals[0.0][0], 2.5 * expected, rtol=1e-4)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"passes": 0}, "passes must be"),
        ({"temporal_frames": "0,1"}, "positive whole numbers"),
        ({"temporal_frames": "a"}, "whole numbers like"),
        ({"blend": 1.5}, "blend must be"),
        ({"flow": "deepflow"}, "flow must be one of"),
        ({"window": 0}, "window must be"),
    ],
)
def test_video_settings_are_validated(fields, message):
    with pytest.raises(ConfigError, match=message):
        Video(**fields)


def test_temporal_weight_is_validated():
    with pytest.raises(ConfigError, match="temporal_weight must be"):
        Config(temporal_weight=-1.0)
