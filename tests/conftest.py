"""Shared fixtures; strict JAX promotion so silent dtype/rank broadcasting fails loudly."""

from __future__ import annotations

import os

# Tests compile in a clean process each run; keep them off the user's cache directory.
os.environ.setdefault("JAXSTYLE_COMPILATION_CACHE", "0")

import jax
import numpy as np
import pytest

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
