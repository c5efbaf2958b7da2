"""Spatial guides against hand-written numpy: pooling cascades, receptive fields, Grams."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.loss import guides as G
from jaxstyle.loss.equations import gram
from jaxstyle.model.layers import LAYERS, layer_hw

MODES = ("simple", "inside")


def blobs(rng: np.random.Generator, h: int, w: int, n: int, r: tuple[int, int]) -> np.ndarray:
    """A binary float32 mask: the union of ``n`` random discs of radius in ``r``."""
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w), bool)
    for _ in range(n):
        cy, cx, rad = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(*r)
        m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= rad**2
    return m.astype(np.float32)


def wavy_split(rng: np.random.Generator, h: int, w: int, frac: float) -> np.ndarray:
    """A binary float32 mask: the left ``frac`` of the image, up to a wavy edge."""
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx < frac * w + 10 * np.sin(yy / 7 + rng.uniform(0, 6))).astype(np.float32)


def np_pool_cascade(mask: np.ndarray, layer: str, kind: str = "avg") -> np.ndarray:
    """The mask pooled 2x2 (stride 2, odd edge dropped) at every pool up to ``layer``."""
    g = mask.astype(np.float64)
    for name in LAYERS[: LAYERS.index(layer) + 1]:
        if name.startswith("pool"):
            h, w = g.shape[0] // 2, g.shape[1] // 2
            blocks = g[: 2 * h, : 2 * w].reshape(h, 2, w, 2)
            g = blocks.mean(axis=(1, 3)) if kind == "avg" else blocks.max(axis=(1, 3))
    return g


def receptive_fields(layer: str, hw: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Each unit's receptive field box ``[r0, r1] x [c0, c1]`` (inclusive), clipped.

    Unit ``p`` sees ``[p s + lo, p s + hi]``: a 3x3 conv widens it by the stride ``s``
    on each side, a 2x2 stride-2 pool adds ``s`` on the far side and doubles ``s``.
    """
    s, lo, hi = 1, 0, 0
    for name in LAYERS[: LAYERS.index(layer) + 1]:
        if name.startswith("conv"):
            lo, hi = lo - s, hi + s
        elif name.startswith("pool"):
            hi, s = hi + s, 2 * s
    hl, wl = layer_hw(hw, layer)
    rows, cols = np.arange(hl) * s, np.arange(wl) * s
    return (
        np.clip(rows + lo, 0, hw[0] - 1),
        np.clip(rows + hi, 0, hw[0] - 1),
        np.clip(cols + lo, 0, hw[1] - 1),
        np.clip(cols + hi, 0, hw[1] - 1),
    )


def np_inside(mask: np.ndarray, layer: str) -> np.ndarray:
    """True where a unit's clipped receptive field is all 1 (integral image of zeros)."""
    r0, r1, c0, c1 = receptive_fields(layer, mask.shape)
    zeros = np.pad(np.cumsum(np.cumsum(mask != 1, 0), 1), ((1, 0), (1, 0)))
    r0, r1 = r0[:, None], r1[:, None] + 1
    count = zeros[r1, c1 + 1] - zeros[r0, c1 + 1] - zeros[r1, c0] + zeros[r0, c0]
    return count == 0


@pytest.mark.parametrize("pooling", ["avg", "max"])
@pytest.mark.parametrize("mode", MODES)
def test_all_ones_is_exactly_one(mode, pooling, rng):
    hw = (37, 42)
    t = G.guides(jnp.ones(hw), LAYERS, mode, pooling)
    raw = G.layer_guides(jnp.ones(hw), LAYERS, mode, pooling)
    assert tuple(t) == LAYERS
    for layer in LAYERS:
        for g in (t[layer], raw[layer]):
            assert g.dtype == jnp.float32 and g.shape == layer_hw(hw, layer)
            np.testing.assert_array_equal(np.asarray(g), np.ones(layer_hw(hw, layer), np.float32))
    for layer in ("relu1_1", "conv3_2", "pool4"):
        for dtype in (jnp.float32, jnp.bfloat16):
            f = jnp.asarray(rng.standard_normal((*layer_hw(hw, layer), 5)), dtype)
            got, want = G.guided_gram(f, t[layer]), gram(f)
            assert got.dtype == jnp.float32
            assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


SOFT = np.random.default_rng(7).uniform(0, 1, (67, 75)).astype(np.float32)
#: Binary masks for the erosion check: (mask, guides at every layer), made once.
BINARY = (
    blobs(np.random.default_rng(1), 61, 53, 6, (6, 18)),  # small regions: erode away
    1.0 - blobs(np.random.default_rng(2), 203, 197, 3, (8, 20)),  # holes, odd sizes
    blobs(np.random.default_rng(3), 128, 160, 4, (30, 70)),
    wavy_split(np.random.default_rng(4), 203, 300, 0.65),  # wider than deepest RFs
)


@functools.cache
def all_layers(which: str, index: int, mode: str, pooling: str = "avg") -> dict[str, np.ndarray]:
    """``layer_guides`` (or ``guides``, for a ``which`` ending "normalised") at every layer."""
    mask = SOFT if which.startswith("soft") else BINARY[index]
    fn = G.guides if which.endswith("normalised") else G.layer_guides
    return {k: np.asarray(v) for k, v in fn(jnp.asarray(mask), LAYERS, mode, pooling).items()}


@pytest.mark.parametrize("pooling", ["avg", "max"])
@pytest.mark.parametrize("layer", LAYERS)
def test_simple_is_the_pool_cascade(layer, pooling):
    got = all_layers("soft", 0, "simple", pooling)[layer]
    want = np_pool_cascade(SOFT, layer, pooling)
    assert got.dtype == np.float32 and got.shape == want.shape == layer_hw(SOFT.shape, layer)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    t = all_layers("soft normalised", 0, "simple", pooling)[layer]
    np.testing.assert_allclose(t, want / np.sqrt(np.mean(want**2)), rtol=1e-5)


@pytest.mark.parametrize("layer", LAYERS)
def test_inside_is_exact_receptive_field_erosion(layer):
    marked_somewhere = False
    for i, mask in enumerate(BINARY):
        got = all_layers("binary", i, "inside")[layer]
        want = np_inside(mask, layer)
        assert got.shape == want.shape == layer_hw(mask.shape, layer)
        assert set(np.unique(got)) <= {0.0, 1.0}
        # marked => RF all inside, and RF all inside => marked.
        np.testing.assert_array_equal(got > 0, want)
        marked_somewhere |= bool(want.any())
    assert marked_somewhere  # the check is not vacuous


@pytest.mark.parametrize("layer", ["conv1_1", "relu1_2", "pool1", "conv2_1", "relu3_1"])
def test_inside_soft_mask_is_min_over_receptive_field(layer, rng):
    soft = rng.uniform(0, 1, (23, 29)).astype(np.float32)
    got = np.asarray(G.layer_guides(jnp.asarray(soft), [layer], "inside")[layer])
    r0, r1, c0, c1 = receptive_fields(layer, soft.shape)
    want = np.array(
        [
            [soft[a : b + 1, c : d + 1].min() for c, d in zip(c0, c1, strict=True)]
            for a, b in zip(r0, r1, strict=True)
        ]
    )
    np.testing.assert_array_equal(got, want.reshape(got.shape))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layer", ["relu1_1", "conv2_2", "relu3_1", "pool3"])
def test_complementary_regions_guided_grams(layer, mode, rng):
    hw = (96, 160)  # both regions outlast the erosion to pool3
    mask = np.maximum(wavy_split(rng, *hw, 0.5), blobs(rng, *hw, 4, (4, 12)))
    hl, wl = layer_hw(hw, layer)
    f = rng.standard_normal((hl, wl, 6)).astype(np.float32)
    total = np.zeros((6, 6))
    for m in (mask, 1.0 - mask):
        t = G.guides(jnp.asarray(m), [layer], mode)[layer]
        got = np.asarray(G.guided_gram(jnp.asarray(f), t), np.float64)
        raw = np_pool_cascade(m, layer) if mode == "simple" else np_inside(m, layer) * 1.0
        tn = raw / np.sqrt(np.mean(raw**2))
        fm = (f * tn[:, :, None]).reshape(-1, 6).astype(np.float64)
        np.testing.assert_allclose(got, fm.T @ fm, rtol=2e-5, atol=1e-4)
        if layer == "relu1_1":  # binary guide: the region's own Gram over its share
            inside = f[raw > 0].astype(np.float64)
            np.testing.assert_allclose(got, inside.T @ inside / np.mean(raw), rtol=2e-5, atol=1e-4)
            total += got * np.mean(raw)
    if layer == "relu1_1" and mode == "simple":  # the two regions tile the image
        full = f.reshape(-1, 6).astype(np.float64)
        np.testing.assert_allclose(total, full.T @ full, rtol=2e-5, atol=1e-4)


def test_normalise(rng):
    g = jnp.asarray(rng.uniform(0, 3, (7, 9)), jnp.float32)
    t = np.asarray(G.normalise(g), np.float64)
    assert np.mean(t**2) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(
        t, np.asarray(g) / np.sqrt(np.mean(np.asarray(g, np.float64) ** 2)), rtol=1e-6
    )
    zero = jnp.zeros((4, 5))
    for fn in (G.normalise, jax.jit(G.normalise)):
        np.testing.assert_array_equal(np.asarray(fn(zero)), np.zeros((4, 5)))
    grad = jax.jit(jax.grad(lambda x: jnp.sum(G.normalise(x) ** 2 + G.normalise(x))))
    for x in (zero, g):
        assert np.all(np.isfinite(np.asarray(grad(x))))
    np.testing.assert_array_equal(np.asarray(grad(zero)), np.zeros((4, 5)))


def test_empty_layers():
    hw = (96, 96)
    mask = jnp.zeros(hw).at[30:50, 40:62].set(1.0)  # 20 x 22 px: inside RFs outgrow it
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    inside = G.guides(mask, layers, "inside")
    want = tuple(name for name in layers if not np_inside(np.asarray(mask), name).any())
    assert want and want[-1] == "relu5_1" and "relu1_1" not in want
    assert G.empty_layers(inside) == want
    assert G.empty_layers(G.guides(mask, layers, "simple")) == ()
    assert G.empty_layers({"a": jnp.ones((2, 2)), "b": jnp.zeros((1, 1))}) == ("b",)
    batch = jax.vmap(lambda m: G.guides(m, layers, "inside"))(jnp.stack([mask, jnp.ones(hw)]))
    assert G.empty_layers(batch) == want  # any member's guide vanishing counts


@pytest.mark.parametrize("mode", MODES)
def test_vmap_and_jit(mode, rng):
    layers = ("relu1_1", "pool2", "relu3_1")
    masks = np.stack([blobs(rng, 40, 44, 4, (5, 15)) for _ in range(3)])
    masks[1] = rng.uniform(0, 1, (40, 44))
    batched = jax.jit(jax.vmap(lambda m: G.guides(m, layers, mode, "max")))(jnp.asarray(masks))
    for i, m in enumerate(masks):
        one = G.guides(jnp.asarray(m), layers, mode, "max")
        for layer in layers:
            np.testing.assert_allclose(
                np.asarray(batched[layer][i]), np.asarray(one[layer]), rtol=1e-6
            )
    f = jnp.asarray(rng.standard_normal((3, 10, 11, 4)), jnp.float32)
    grams = jax.jit(jax.vmap(G.guided_gram))(f, batched["pool2"])
    assert grams.shape == (3, 4, 4)
    np.testing.assert_allclose(
        np.asarray(grams[2]), np.asarray(G.guided_gram(f[2], batched["pool2"][2])), rtol=1e-6
    )


def test_errors():
    m = jnp.ones((8, 8))
    with pytest.raises(ValueError, match="guide mode"):
        G.layer_guides(m, ["relu1_1"], mode="all")
    with pytest.raises(ValueError, match="pooling"):
        G.layer_guides(m, ["relu1_1"], pooling="min")
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        G.layer_guides(m, ["relu9_1"])
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        G.layer_guides(jnp.ones((1, 8, 8)), ["relu1_1"])
    with pytest.raises(ValueError, match="does not match"):
        G.guided_gram(jnp.ones((4, 4, 2)), jnp.ones((2, 2)))
