"""Images as float32 RGB arrays in [0, 1], ``(..., H, W, 3)``: resizing and the start.

Internal: the public names are re-exported by :mod:`jaxstyle`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxstyle.errors import ConfigError
from jaxstyle.model.preprocess import Preprocess

Array = jax.Array


def resize(image: Array, height: int, width: int) -> Array:
    """Antialiased bilinear resize of ``(..., H, W, C)`` images (identity at the same size).

    Example:
        >>> resize(jnp.ones((8, 6, 3)), 4, 3).shape
        (4, 3, 3)
    """
    if image.shape[-3:-1] == (height, width):
        return image
    shape = (*image.shape[:-3], height, width, image.shape[-1])
    return jax.image.resize(image, shape, "linear", antialias=True)


def style_size(
    content_hw: tuple[int, int], style_hw: tuple[int, int], scale: float | None
) -> tuple[int, int]:
    """The size the style image is resized to (see ``Config.style_scale``).

    Example:
        >>> style_size((96, 128), (300, 200), None), style_size((96, 128), (300, 200), 0.5)
        ((96, 128), (64, 43))
    """
    if scale is None:
        return content_hw
    long_side = max(1, round(max(content_hw) * scale))
    h, w = style_hw
    factor = long_side / max(h, w)
    return max(1, round(h * factor)), max(1, round(w * factor))


def initial_image(
    content: Array,
    style: Array,
    init: str,
    preprocess: Preprocess,
    key: Array | None,
    noise_std: float = 0.1,
) -> Array:
    """The starting image in network-input space, ``content``'s ``(H, W, 3)`` shape.

    ``init="noise"``: white Gaussian noise of std ``noise_std`` around the
    preprocessing's mean colour, drawn from ``key``; ``"content"``: the photo;
    ``"style"``: the painting resized to the photo.
    """
    if init == "content":
        rgb = content
    elif init == "style":
        rgb = resize(style, *content.shape[:2])
    else:
        if key is None:
            raise ConfigError("init='noise' needs a PRNG key, e.g. key=jax.random.key(0)")
        mean_rgb = preprocess.invert(jnp.zeros((1, 1, 3), jnp.float32))
        rgb = mean_rgb + noise_std * jax.random.normal(key, content.shape, jnp.float32)
    return preprocess.apply(rgb.astype(jnp.float32))
