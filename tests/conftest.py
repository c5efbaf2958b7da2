"""Shared fixtures; strict JAX promotion so silent dtype/rank broadcasting fails loudly."""

from __future__ import annotations

import os
from pathlib import Path

# Tests compile in a clean process each run; keep them off the user's cache directory.
os.environ.setdefault("JAXSTYLE_COMPILATION_CACHE", "0")

import jax
import numpy as np
import pytest
from keras_h5 import read_keras_npz, write_keras_h5

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")

#: Slim block widths: the real topology (16 convs, 5 pools) at a fraction of the cost.
SLIM = (8, 16, 16, 24, 24)


@pytest.fixture(scope="session")
def full_params():
    """He-initialised params with the real VGG19 shapes."""
    from jaxstyle.vgg import init_params

    return init_params(jax.random.key(0))


@pytest.fixture(scope="session")
def slim_params():
    from jaxstyle.vgg import init_params

    return init_params(jax.random.key(1), SLIM)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A natural-ish test image: smooth colour fields plus a little noise, in [0, 1]."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    phases = rng.uniform(0, 2 * np.pi, size=(3, 2))
    freqs = rng.uniform(2, 6, size=(3, 2))
    chans = [
        0.5
        + 0.35
        * np.sin(freqs[c, 0] * 2 * np.pi * yy + phases[c, 0])
        * np.cos(freqs[c, 1] * 2 * np.pi * xx + phases[c, 1])
        for c in range(3)
    ]
    img = np.stack(chans, axis=-1) + 0.05 * rng.standard_normal((h, w, 3))
    return np.clip(img, 0, 1).astype(np.float32)


#: The real ImageNet VGG19 weights of blocks 1-3 (Keras names, raw, not normalised):
#: ``$JAXSTYLE_REAL_WEIGHTS``, else the workplace's ``../shared/weights/``.
REAL_WEIGHTS = Path(
    os.environ.get("JAXSTYLE_REAL_WEIGHTS")
    or Path(__file__).resolve().parents[2] / "shared" / "weights" / "vgg19_imagenet_blocks1-3.npz"
)
#: The layers those weights allow: the paper's choice moved into blocks 1-3.
REAL_CONTENT = "relu3_2"
REAL_STYLE = ("relu1_1", "relu2_1", "relu3_1")


@pytest.fixture(scope="session")
def real_raw():
    """The real weights as ``{"conv1_1": (HWIO kernel, bias)}`` numpy; skips when absent."""
    if not REAL_WEIGHTS.is_file():
        pytest.skip(f"real VGG19 weights not found at {REAL_WEIGHTS} (set JAXSTYLE_REAL_WEIGHTS)")
    return read_keras_npz(REAL_WEIGHTS)


@pytest.fixture(scope="session")
def real_weights(real_raw, tmp_path_factory):
    """``(params, meta)`` of the real weights written as Keras' ``.h5`` and converted.

    The conversion is the user's path (``jaxstyle.weights.convert``, the paper's
    normalisation over the bundled calibration set).
    """
    from jaxstyle import weights

    d = tmp_path_factory.mktemp("real")
    return weights.load_weights(convert_real(real_raw, d))


def convert_real(raw, directory):
    """The raw arrays written as Keras' ``.h5`` and converted by ``jaxstyle.weights.convert``."""
    from jaxstyle import weights

    blocks = max(int(name[4]) for name in raw)
    write_keras_h5(directory / "vgg19_notop.h5", raw, "old", blocks=blocks)
    weights.convert("keras", directory / "vgg19_notop.h5", directory / "real.npz")
    return directory / "real.npz"
