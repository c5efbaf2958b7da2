"""The arguments of :func:`jaxstyle.stylize`, checked and broadcast to one batch.

Internal: :func:`gather` runs once per stylisation, before any control.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxstyle.config import Config
from jaxstyle.errors import ConfigError
from jaxstyle.loss.temporal import Temporal

Array = jax.Array


class Batch(NamedTuple):
    """What a user handed :func:`jaxstyle.stylize`, checked and broadcast to ``B`` items.

    Attributes:
        size: ``B``, or ``None`` when nothing was batched (a batch of one, unbatched).
        content: ``(B, H, W, 3)`` float32.
        styles: ``S`` style images, each ``(H', W', 3)`` or ``(B, H', W', 3)``.
        start: ``(B, H, W, 3)`` start image, or ``None``.
        configs: ``B`` configs.
        keys: ``B`` PRNG keys (or ``None``s).
    """

    size: int | None
    content: Array
    styles: list[Array]
    start: Array | None
    configs: list[Config]
    keys: list[Array | None]


def _image(a: Any, name: str) -> Array:
    a = jnp.asarray(a, jnp.float32)
    if a.ndim not in (3, 4) or a.shape[-1] != 3 or min(a.shape[-3:-1]) < 1:
        raise ConfigError(f"{name} image must have shape (H, W, 3), got {a.shape}")
    return a


def _is_key_batch(key: Array) -> bool:
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key.ndim == 1
    return key.ndim == 2  # raw uint32 keys: (2,) is one key, (B, 2) a batch


def gather(content: Any, style: Any, init_image: Any, config: Any, key: Any) -> Batch:
    """:func:`jaxstyle.stylize`'s arguments as one :class:`Batch`, every size checked.

    A batch is given by any of a ``(B, H, W, 3)`` content, style or start, ``B``
    configs or ``B`` stacked keys; the rest is shared by every item.

    Raises:
        ConfigError: a wrong shape, disagreeing batch sizes, a start of another size
            than the content, or ``init="image"`` without a start.
    """
    config = Config() if config is None else config
    content = _image(content, "content")
    several = isinstance(style, list | tuple)
    if several and not style:
        raise ConfigError("give at least one style image")
    styles = [_image(s, "style") for s in style] if several else [_image(style, "style")]
    start = None if init_image is None else _image(init_image, "init_image")
    if not isinstance(config, Config) and (
        not config or not all(isinstance(c, Config) for c in config)
    ):
        raise ConfigError("config must be a Config or a non-empty sequence of Configs")
    arrays = (("content", content), ("init_image", start), *(("style", s) for s in styles))
    sizes = {n: a.shape[0] for n, a in arrays if a is not None and a.ndim == 4}
    if not isinstance(config, Config):
        sizes["config"] = len(config)
    if key is not None and _is_key_batch(key):
        sizes["key"] = key.shape[0]
    if len(set(sizes.values())) > 1:
        raise ConfigError(
            "batch sizes disagree: " + ", ".join(f"{k} {v}" for k, v in sizes.items())
        )
    n = next(iter(sizes.values()), None)
    b = n or 1
    configs = [config] * b if isinstance(config, Config) else list(config)
    hw = content.shape[-3:-1]
    if start is not None and start.shape[-3:-1] != hw:
        raise ConfigError(f"init_image must have the content's size {hw}, got {start.shape[-3:-1]}")
    if start is None and any(c.init == "image" for c in configs):
        raise ConfigError("init='image' needs an init_image")

    def each(a: Array | None) -> Array | None:
        return a if a is None or a.ndim == 4 else jnp.broadcast_to(a, (b, *a.shape))

    keys = [None if key is None else (key[i] if _is_key_batch(key) else key) for i in range(b)]
    return Batch(n, each(content), styles, each(start), configs, keys)


def references(temporal: Any, size: int, hw: tuple[int, int]) -> Temporal:
    """A video frame's :class:`~jaxstyle.loss.temporal.Temporal` references, ``(B, K, ...)``.

    ``temporal`` is one frame's ``(K, H, W, 3)`` images and ``(K, H, W)`` weights
    (shared by every item) or ``B`` frames' ``(B, K, ...)``.

    Raises:
        ConfigError: shapes that disagree with each other, the content or the batch.
    """
    images = jnp.asarray(temporal[0], jnp.float32)
    weights = jnp.asarray(temporal[1], jnp.float32)
    if images.ndim == 4:
        images, weights = images[None], weights[None]
    ok = images.ndim == 5 and images.shape[-1] == 3 and weights.shape == images.shape[:-1]
    if not ok or images.shape[2:4] != tuple(hw) or images.shape[0] not in (1, size):
        raise ConfigError(
            f"temporal references must be (K, {hw[0]}, {hw[1]}, 3) images with (K, "
            f"{hw[0]}, {hw[1]}) weights, or {size} of each; got {images.shape} and {weights.shape}"
        )
    shape = (size, *images.shape[1:])
    return Temporal(jnp.broadcast_to(images, shape), jnp.broadcast_to(weights, shape[:-1]))
