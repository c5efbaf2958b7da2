"""Stylisation on the real ImageNet VGG19 weights of blocks 1-3 (skipped without them).

Every measure here is computed independently of jaxstyle's loss code: float64
PyTorch on the raw Keras arrays (``torch_reference``), with the Keras/Caffe input
written out by hand. "Style distance" is ``sum_l E_l(result, painting)`` over the same
for the photo itself: 1 is not stylised at all, 0 the painting's statistics exactly.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch_reference as ref
from conftest import REAL_CONTENT, REAL_STYLE
from PIL import Image

from jaxstyle import rescale
from jaxstyle.config import Config
from jaxstyle.image import bundled, initial_image, load_image
from jaxstyle.layers import held_layers
from jaxstyle.stylize import stylize

#: The defaults, except the layers (the paper's relu4_2 and relu4_1/relu5_1 are past
#: block 3).
CONFIG = Config(content_layers=REAL_CONTENT, style_layers=",".join(REAL_STYLE), iterations=100)


@pytest.fixture(scope="module")
def raw64(real_raw):
    return ref.to_torch_params(real_raw, np.float64)


def _pair(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Tübingen at long side ``size`` and Starry Night resized to it by Pillow."""
    content = load_image(bundled("tubingen.jpg"), size)
    h, w = content.shape[:2]
    with Image.open(bundled("starry_night.jpg")) as im:
        painting = im.convert("RGB").resize((w, h), Image.Resampling.BICUBIC)
    return content, np.clip(np.asarray(painting, np.float32) / 255.0, 0.0, 1.0)


def _run(real_weights, size, configs):
    params, meta = real_weights
    content, painting = _pair(size)
    out = stylize(content, painting, params, meta.preprocess, configs, key=jax.random.key(0))
    return content, painting, out


@pytest.fixture(scope="module")
def strengths(real_weights):
    """One batched run at 128 px: ten times the default ratio, the default, a tenth."""
    r = CONFIG.ratio
    return _run(
        real_weights, 128, [dataclasses.replace(CONFIG, ratio=v) for v in (10 * r, r, r / 10)]
    )


def test_conversion_normalises_every_filter(real_weights):
    """Each filter's mean activation over the calibration set is 1, measured in torch."""
    params, meta = real_weights
    assert sorted(params) == sorted(held_layers(3))
    weights = ref.to_torch_params(params, np.float64)
    images = np.stack([ref.caffe(im) for im in rescale.load_calibration()])
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        feats = ref.vgg19(weights, x)
    for conv in held_layers(3):
        means = feats[conv.replace("conv", "relu")].mean(dim=(0, 2, 3)).numpy()
        dead = np.asarray(meta.info["mean_activation"][conv]) <= 0
        assert int(dead.sum()) == meta.info["dead"][conv], conv
        np.testing.assert_allclose(means[~dead], 1.0, atol=1e-3, err_msg=conv)
        assert np.all(means[dead] == 0.0), conv


def test_default_stylises(real_weights, raw64, strengths):
    """The defaults (layers aside) paint: near the painting's statistics, the layout kept."""
    content, painting, out = strengths
    image = out.image[1]  # the default ratio
    x0 = initial_image(
        jnp.asarray(content),
        jnp.asarray(painting),
        CONFIG.init,
        real_weights[1].preprocess,
        jax.random.key(0),
    )
    start = np.clip(np.asarray(real_weights[1].preprocess.invert(x0)), 0.0, 1.0)
    style = ref.style_distance(raw64, image, painting, content, REAL_STYLE)
    kept = ref.content_distance(raw64, image, content, REAL_CONTENT)
    noise = ref.content_distance(raw64, start, content, REAL_CONTENT)
    assert style <= 0.4, style
    assert kept <= 0.5 * noise, (kept, noise)


@pytest.mark.heavy  # 75 s: a second size of the real-weights run
def test_strength_is_ordered_and_size_independent(real_weights, raw64, strengths):
    content, painting, out = strengths
    small = [ref.style_distance(raw64, im, painting, content, REAL_STYLE) for im in out.image]
    assert small[0] > small[1] > small[2], small
    content, painting, out = _run(real_weights, 256, CONFIG)
    large = ref.style_distance(raw64, out.image, painting, content, REAL_STYLE)
    assert max(large, small[1]) / min(large, small[1]) <= 1.5, (small[1], large)
