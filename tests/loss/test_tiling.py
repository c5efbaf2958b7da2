"""Row tiling: the same loss, gradient and targets as the whole image, in less memory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import SLIM, TINY, cpu_only, evaluate, rel_err, smooth_image, xla_bytes

from benchmarks.remat import compiled_probe
from jaxstyle.config import Config, resolve
from jaxstyle.cpu.plugin import WINOGRAD_LAYERS, CpuKernels
from jaxstyle.errors import ConfigError
from jaxstyle.loss import tiling
from jaxstyle.loss.objective import make_targets, spec_of
from jaxstyle.model.layers import CONV_LAYERS
from jaxstyle.model.preprocess import TORCHVISION
from jaxstyle.model.vgg import features, init_params
from jaxstyle.run.plan import plan
from jaxstyle.run.stylize import stylize
from jaxstyle.scale import capacity

RTOL = 1e-5
DEFAULT = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
#: Layer sets: the paper's; content inside the tiled blocks; only tiled blocks.
LAYER_SETS = {
    "paper": (DEFAULT, "relu4_2"),
    "content-in-head": (DEFAULT, "relu2_2,relu4_2"),
    "head-only": ("relu1_1,relu2_1,relu3_1", "relu3_2"),
}


@pytest.fixture(scope="module")
def slim():
    return init_params(jax.random.key(3), SLIM)


@pytest.mark.parametrize(
    "layers, hw, tiles",
    [
        ("paper", (77, 45), 3),
        ("content-in-head", (64, 48), 2),
        ("head-only", (100, 40), 8),
        ("paper", (40, 56), 1),
    ],
)
def test_tiled_loss_and_gradient_equal_whole_image(slim, rng, layers, hw, tiles):
    style, content = LAYER_SETS[layers]
    img, sty, x = (smooth_image(rng, *hw) for _ in range(3))
    base = Config(style_layers=style, content_layers=content, tv_weight=1e-3)
    ((want, want_terms), want_g), _ = evaluate(slim, TORCHVISION.apply(x), img, sty, base)
    tiled = Config(style_layers=style, content_layers=content, tv_weight=1e-3, tiles=tiles)
    ((got, terms), g), _ = evaluate(slim, TORCHVISION.apply(x), img, sty, tiled)
    assert rel_err(got, want) < RTOL
    assert rel_err(g, want_g) < RTOL
    for k, e in want_terms["style"].items():
        assert rel_err(terms["style"][k], e) < RTOL, k
    assert rel_err(terms["content"], want_terms["content"]) < RTOL


@pytest.mark.heavy  # 45 s of compile; the plug-in and the tiles are each checked alone
@cpu_only("the plug-in's kernels are written for XLA:CPU")
def test_tiled_through_the_cpu_plugin(slim, rng):
    kernels = CpuKernels(
        backward=tuple(c for c in CONV_LAYERS if c not in WINOGRAD_LAYERS), winograd=WINOGRAD_LAYERS
    )
    img, sty, x = (smooth_image(rng, 72, 40) for _ in range(3))
    args = (slim, TORCHVISION.apply(x), img, sty)
    ((want, _), want_g), _ = evaluate(*args, Config(), kernels=kernels)
    ((got, _), g), _ = evaluate(*args, Config(tiles=4), kernels=kernels)
    assert rel_err(got, want) < RTOL and rel_err(g, want_g) < RTOL


def test_tiled_targets_equal_whole_image(slim, rng):
    img, sty = smooth_image(rng, 61, 50), smooth_image(rng, 80, 64)
    config = Config(content_layers="relu2_2,relu4_2")
    want = make_targets(slim, img, sty, spec_of(config), TORCHVISION)
    got = make_targets(
        slim, img, sty, spec_of(Config(content_layers="relu2_2,relu4_2", tiles=3)), TORCHVISION
    )
    for k in want.content:
        assert rel_err(got.content[k], want.content[k]) < RTOL, k
    for k in want.style:
        assert rel_err(got.style[k], want.style[k]) < RTOL, k


def test_first_blocks_rows_and_grams_are_the_whole_images():
    p = init_params(jax.random.key(0), TINY)
    x = jax.random.normal(jax.random.key(1), (53, 24, 3))
    layers = ("relu1_2", "relu2_1", "relu3_4", "pool3")
    whole = features(p, x, layers)
    parts = tiling.first_blocks(p, x, spec_of(Config(tiles=5)), grams=layers, rows=layers)
    for k in layers:
        f = whole[k]
        assert parts[k]["rows"].shape == f.shape
        assert rel_err(parts[k]["rows"], f) < RTOL, k
        g = jnp.einsum("hwi,hwj->ij", f, f)
        assert rel_err(parts[k]["gram"], g) < RTOL, k


@pytest.mark.parametrize("height, tiles", [(4096, 8), (100, 8), (37, 3), (8, 1), (9, 64)])
def test_strips_cover_the_image_on_the_pooling_grid(height, tiles):
    own, count = tiling.strips(height, tiles)
    assert own % 2**tiling.TILED_BLOCKS == 0
    assert count <= tiles and own * count >= height > own * (count - 1)


def test_halo_is_the_spoiled_rows_of_three_blocks():
    # 2 convs at full size, then 1 + 2 spoiled rows at half, 2 + 4 at a quarter: 6 * 4.
    assert tiling.halo(3) == 24 and tiling.halo(1) == 2


@cpu_only("the estimate's factor is XLA:CPU's")
def test_tiles_cut_xla_bytes_and_the_plan_follows(full_params):
    hw = (1024, 1024)
    base = resolve(Config(optimizer="adam", linesearch="none"), "cpu")
    tiled = resolve(Config(optimizer="adam", linesearch="none", tiles=8), "cpu")
    whole = compiled_probe(full_params, hw, base).memory_analysis().temp_size_in_bytes
    cut = compiled_probe(full_params, hw, tiled).memory_analysis().temp_size_in_bytes
    assert cut < 0.3 * whole, (cut, whole)
    xla = xla_bytes(full_params, hw, tiled, 1, "auto")
    planned = plan(hw, tiled, budget=None, backend="cpu").memory.total
    assert abs(planned - xla) < 0.25 * xla, (planned, xla)


def test_auto_memory_tiles_before_it_refuses():
    config = Config(optimizer="adam", linesearch="none")
    budget = 20 * 2**30
    assert not plan((4096, 4096), config, budget=None).memory.total < 0.9 * budget
    p = plan((4096, 4096), config, budget=budget)
    assert p.fits and p.spec.tiles in capacity.TILE_COUNTS and p.memory.tiles == p.spec.tiles
    assert plan((4096, 4096), config, styles=2, regions=2, budget=budget).spec.tiles == 0
    fixed = Config(optimizer="adam", linesearch="none", memory="fixed")
    with pytest.raises(capacity.MemoryPlanError, match="tiles="):
        plan((4096, 4096), fixed, budget=budget).checked()


def test_tiles_refuse_what_reads_a_whole_layer(rng):
    with pytest.raises(ConfigError, match="wasserstein"):
        plan((64, 64), Config(tiles=2, style_loss="wasserstein"))
    with pytest.raises(ConfigError, match="whole number"):
        Config(tiles=-1)
    p = init_params(jax.random.key(0), TINY)
    img = jnp.asarray(smooth_image(rng, 32, 32))
    masks = np.zeros((1, 32, 32), np.float32)
    with pytest.raises(ConfigError, match="masks"):
        stylize(img, [img], p, TORCHVISION, Config(iterations=1, tiles=2), masks=[masks[0] + 1])


def test_tiled_stylize_equals_whole_image(rng):
    p = init_params(jax.random.key(0), TINY)
    img, sty = jnp.asarray(smooth_image(rng, 48, 40)), jnp.asarray(smooth_image(rng, 48, 40))
    key = jax.random.key(5)
    want = stylize(img, sty, p, TORCHVISION, Config(iterations=4, init="content"), key=key)
    got = stylize(img, sty, p, TORCHVISION, Config(iterations=4, init="content", tiles=2), key=key)
    np.testing.assert_allclose(got.image, want.image, atol=2e-5)
    np.testing.assert_allclose(got.history.total, want.history.total, rtol=1e-4)
