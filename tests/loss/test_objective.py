"""The objective against an independent PyTorch computation on the same weights, and forward mode."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch_reference as ref
from conftest import cpu_only, evaluate, rel_err, smooth_image

from jaxstyle.config import Config
from jaxstyle.cpu.plugin import WINOGRAD_LAYERS, CpuKernels
from jaxstyle.images.arrays import resize, style_size
from jaxstyle.loss import equations
from jaxstyle.loss.objective import make_targets, objective, spec_of, weights_of
from jaxstyle.model.layers import CONV_LAYERS, LAYERS
from jaxstyle.model.preprocess import TORCHVISION
from jaxstyle.model.vgg import features

RTOL = 1e-4
SIZES = [(32, 32), (40, 56)]


def _size_id(value: object) -> str | None:
    """``32x32`` for a size in a test id; pytest's own naming for everything else."""
    return f"{value[0]}x{value[1]}" if isinstance(value, tuple) else None


STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


#: The CPU plug-in as stylize runs it: every convolution with its backward kernel, or
#: blocks 3-5 in Winograd form.
KERNELS = {
    "plain": None,
    "cpu-backward": CpuKernels(backward=CONV_LAYERS),
    "cpu-winograd": CpuKernels(
        backward=tuple(c for c in CONV_LAYERS if c not in WINOGRAD_LAYERS), winograd=WINOGRAD_LAYERS
    ),
}
CPU_KERNELS = cpu_only("the plug-in's kernels are written for XLA:CPU")


@pytest.fixture(scope="module")
def torch_weights(full_params):
    return ref.to_torch_params(full_params)


def _images(size):
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    h, w = size
    # Network input scale (about +-2 as torchvision-normalised images).
    x = (smooth_image(rng, h, w) - 0.45) / 0.225
    content = (smooth_image(rng, h, w) - 0.45) / 0.225
    style = (smooth_image(rng, h, w) - 0.45) / 0.225
    return x.astype(np.float32), content.astype(np.float32), style.astype(np.float32)


@pytest.mark.parametrize(
    ("pooling", "kernels", "size"),
    [
        ("avg", "plain", SIZES[0]),
        ("max", "plain", SIZES[1]),
        pytest.param("avg", "cpu-winograd", SIZES[1], marks=CPU_KERNELS),
    ],
    ids=_size_id,
)
def test_every_activation(full_params, torch_weights, size, pooling, kernels):
    x, _, _ = _images(size)
    k = KERNELS[kernels]
    prepared = None if k is None else k.prepare(full_params)
    got = jax.jit(lambda p, q, x: features(p, x, LAYERS, pooling=pooling, kernels=k, prepared=q))(
        full_params, prepared, x
    )
    with torch.no_grad():
        want = ref.vgg19(torch_weights, ref.nchw(x), pooling)
    assert set(got) == set(LAYERS)
    for name in LAYERS:
        g = np.asarray(got[name])
        w = ref.hwc(want[name])
        assert g.shape == w.shape, name
        assert rel_err(g, w) <= RTOL, (name, rel_err(g, w))


@pytest.mark.parametrize(
    ("pooling", "kernels", "size"),
    [
        ("avg", "plain", SIZES[0]),
        ("max", "plain", SIZES[1]),
        pytest.param("avg", "cpu-backward", SIZES[0], marks=CPU_KERNELS),
        pytest.param("avg", "cpu-winograd", SIZES[1], marks=CPU_KERNELS),
    ],
    ids=_size_id,
)
def test_losses_and_gradient(full_params, torch_weights, size, pooling, kernels):
    # "cpu-*": the evaluation stylize runs on a CPU (host.probe, a batch of one,
    # through the plug-in's precomputed kernels); "plain": jaxstyle.loss_terms.
    x, content, style = _images(size)
    config = Config(
        content_layers="relu4_2",
        style_layers=",".join(STYLE),
        weighting="paper",
        ratio=1e-3,
        pooling=pooling,
    )
    # Targets computed once, in network space (preprocess = identity here).
    ((total, terms), grad), targets = evaluate(
        full_params, x, content, style, config, kernels=KERNELS[kernels]
    )

    with torch.no_grad():
        p_feats = ref.vgg19(torch_weights, ref.nchw(content), pooling)
        s_feats = ref.vgg19(torch_weights, ref.nchw(style), pooling)
    grams = {k: ref.gram(s_feats[k]) for k in STYLE}
    xt = ref.nchw(x).requires_grad_(True)
    feats = ref.vgg19(torch_weights, xt, pooling)
    t_content = ref.content_loss(feats["relu4_2"], p_feats["relu4_2"])
    t_layers = {k: ref.style_layer_loss(feats[k], grams[k]) for k in STYLE}
    t_style = sum(0.2 * v for v in t_layers.values())
    t_total = 1e-3 * t_content + 1.0 * t_style
    t_total.backward()

    for k in STYLE:
        assert rel_err(targets.style[k], grams[k].numpy()) <= RTOL, k
        assert rel_err(terms["style"][k], t_layers[k].item()) <= RTOL, k
    assert rel_err(terms["content"], t_content.item()) <= RTOL
    assert rel_err(total, t_total.item()) <= RTOL
    with torch.no_grad():
        t_feats = ref.vgg19(torch_weights, ref.nchw(x), pooling)
    mask = kink_mask(full_params, x, t_feats, pooling)
    # Flipped ReLU gates may touch only a small neighbourhood of the image.
    assert mask.mean() <= 0.1
    g, w = np.asarray(grad, np.float64), ref.hwc(xt.grad).astype(np.float64)
    err = np.abs(g - w) / np.max(np.abs(w))
    assert err[~mask].max() <= RTOL, err[~mask].max()


def kink_mask(params, x, t_feats, pooling="avg") -> np.ndarray:
    """Input entries whose gradient a ReLU kink may legitimately change.

    A pre-activation within ~1e-7 of zero can have opposite signs in XLA and torch
    (float32 summation order); that flips the ReLU's derivative, which changes the
    gradient exactly where that unit's own gradient w.r.t. the input is non-zero.
    Each such flip is found by comparing the two frameworks' pre-activations, must sit
    within 1e-5 of zero (relative to the layer), and masks that unit's support.
    """
    conv = [n for n in LAYERS if n.startswith("conv") and n in params]
    feats = features(params, jnp.asarray(x), conv, pooling=pooling)
    mask = np.zeros(x.shape, bool)
    for name in conv:
        a, b = np.asarray(feats[name]), ref.hwc(t_feats[name])
        for i, j, c in np.argwhere(np.sign(a) != np.sign(b)):
            scale = np.abs(b).max()
            assert max(abs(a[i, j, c]), abs(b[i, j, c])) <= 1e-5 * scale, (name, i, j, c)
            unit = jax.grad(
                lambda x, n=name, i=i, j=j, c=c: features(params, x, (n,), pooling=pooling)[n][
                    i, j, c
                ]
            )(jnp.asarray(x))
            mask |= np.asarray(unit) != 0
    return mask


@pytest.mark.parametrize("layer", STYLE)
def test_gram_of_generated_image(full_params, torch_weights, layer):
    x, _, _ = _images((32, 32))
    f = features(full_params, jnp.asarray(x), (layer,))[layer]
    with torch.no_grad():
        want = ref.gram(ref.vgg19(torch_weights, ref.nchw(x))[layer])
    assert rel_err(equations.gram(f), want.numpy()) <= RTOL


def test_all_conv_layers_are_used(full_params):
    assert set(full_params) == set(CONV_LAYERS)


def test_tv_weight_adds_total_variation(slim_params):
    """TV term against a numpy hand computation on the RGB image."""
    rng = np.random.default_rng(3)
    img = smooth_image(rng, 20, 18)
    config = Config(tv_weight=2.0, weighting="paper")
    x = TORCHVISION.apply(jnp.asarray(img))
    ((total, terms), _), _ = evaluate(slim_params, x, img, img, config, TORCHVISION)
    want_tv = np.sum(np.diff(img, axis=0) ** 2) + np.sum(np.diff(img, axis=1) ** 2)
    assert rel_err(terms["tv"], want_tv) <= RTOL
    # The image is its own target: content and style vanish, only TV is left.
    assert rel_err(total, 2.0 * want_tv) <= 1e-3


def _torch_losses(weights, x, content, style, content_layer, style_layers):
    """Eq. 1 and each E_l in torch at NCHW ``x``, with ``style`` of any size, and autograd.

    Grams are compared per position (the authors' code): the style's Gram is scaled by
    ``M / M'``, which is exactly ``A`` when the sizes match.
    """
    with torch.no_grad():
        p = ref.vgg19(weights, ref.nchw(content))[content_layer]
        s_feats = ref.vgg19(weights, ref.nchw(style))
    xt = ref.nchw(x).requires_grad_(True)
    feats = ref.vgg19(weights, xt)
    c = ref.content_loss(feats[content_layer], p)
    layers = {}
    for k in style_layers:
        m, m_style = feats[k][0, 0].numel(), s_feats[k][0, 0].numel()
        layers[k] = ref.style_layer_loss(feats[k], ref.gram(s_feats[k]) * (m / m_style))
    return xt, feats, c, layers


def _jax_losses(params, x, content, style, config):
    return evaluate(params, x, content, style, config)[0]


@pytest.mark.parametrize("weighting", ["authors", "paper"])
def test_weighting_against_the_authors_formula(full_params, torch_weights, weighting):
    """The default weighting is the authors' code's; the paper's is Eq. 7 literally.

    The torch side writes the authors' notebook's terms directly: content weight times
    the mean squared error of the features, plus each layer's ``1e3 / N^2`` times the
    mean squared error of the Grams divided by their positions.
    """
    x, content, style = _images((40, 56))
    config = Config(
        content_layers="relu4_2", style_layers=",".join(STYLE), weighting=weighting, ratio=0.3
    )
    (total, terms), grad = _jax_losses(full_params, x, content, style, config)
    xt, feats, t_content, t_layers = _torch_losses(
        torch_weights, x, content, style, "relu4_2", STYLE
    )
    if weighting == "paper":
        t_total = 0.3 * t_content + sum(0.2 * v for v in t_layers.values())
    else:
        f = feats["relu4_2"]
        mse = 2 * t_content / f.numel()  # torch.nn.MSELoss of the features
        t_total = 0.3 * mse
        with torch.no_grad():
            s_feats = ref.vgg19(torch_weights, ref.nchw(style))
        for k in STYLE:
            n, m = feats[k].shape[1], feats[k][0, 0].numel()
            g_mse = ((ref.gram(feats[k]) / m - ref.gram(s_feats[k]) / m) ** 2).mean()
            t_total = t_total + 0.2 * 1e3 / n**2 * g_mse
    _assert_matches(
        params=full_params,
        weights=torch_weights,
        x=x,
        got=(total, terms, grad),
        want=(t_total, t_content, t_layers, xt),
    )


def _assert_matches(*, params, weights, x, got, want):
    """jaxstyle's ``(total, terms, gradient)`` against torch's, which it backpropagates."""
    total, terms, grad = got
    t_total, t_content, t_layers, xt = want
    t_total.backward()
    assert rel_err(terms["content"], t_content.item()) <= RTOL
    for k, v in t_layers.items():
        assert rel_err(terms["style"][k], v.item()) <= RTOL, k
    assert rel_err(total, t_total.item()) <= RTOL
    assert_gradient_close(params, weights, x, grad, xt.grad)


def assert_gradient_close(params, weights, x, grad, want):
    """The gradient equals torch's to RTOL, away from the units at a ReLU kink."""
    with torch.no_grad():
        t_feats = ref.vgg19(weights, ref.nchw(x))
    mask = kink_mask(params, x, t_feats)
    assert mask.mean() <= 0.1
    g, w = np.asarray(grad, np.float64), ref.hwc(want).astype(np.float64)
    err = np.abs(g - w) / np.max(np.abs(w))
    assert err[~mask].max() <= RTOL, err[~mask].max()


@pytest.mark.parametrize("scale", [2.0, 0.75])
def test_grams_compared_per_position(full_params, torch_weights, scale):
    """A style of another size than the content: E_l on Grams per position (M / M')."""
    x, content, _ = _images((32, 40))
    rng = np.random.default_rng(7)
    h, w = round(32 * scale), round(40 * scale)
    style = (smooth_image(rng, h, w) - 0.45) / 0.225
    config = Config(
        content_layers="relu3_2", style_layers="relu1_1,relu2_1,relu3_1", weighting="paper"
    )
    (_, terms), _ = _jax_losses(full_params, x, content, style, config)
    blocks_1_3 = {k: v for k, v in torch_weights.items() if int(k[4]) <= 3}
    _, _, _, t_layers = _torch_losses(
        blocks_1_3, x, content, style, "relu3_2", ("relu1_1", "relu2_1", "relu3_1")
    )
    for k, v in t_layers.items():
        assert rel_err(terms["style"][k], v.item()) <= RTOL, k


def test_style_scale_reaches_the_per_position_targets(slim_params):
    """stylize's style_scale path builds the same per-position targets (2x the content)."""
    rng = np.random.default_rng(5)
    content, style = smooth_image(rng, 24, 32), smooth_image(rng, 60, 70)
    config = Config(style_layers="relu1_1,relu2_1", content_layers="relu2_2")
    big = resize(jnp.asarray(style), *style_size((24, 32), (60, 70), 2.0))
    assert big.shape[:2] == (55, 64)  # long side 2x the content's, the style's aspect
    targets = make_targets(slim_params, jnp.asarray(content), big, spec_of(config), TORCHVISION)
    feats = features(slim_params, TORCHVISION.apply(big), ("relu1_1", "relu2_1"))
    # Positions of the content over the style's: 24x32 / 55x64, then 12x16 / 27x32.
    for k, m in (("relu1_1", 24 * 32 / (55 * 64)), ("relu2_1", 12 * 16 / (27 * 32))):
        f = np.asarray(feats[k], np.float64).reshape(-1, feats[k].shape[-1])
        np.testing.assert_allclose(targets.style[k], f.T @ f * m, rtol=1e-5)


@pytest.mark.parametrize("weighting", ["authors", "paper"])
def test_real_weights_losses_and_gradient(whole_weights, weighting):
    """The parity of loss terms and gradient on the whole real VGG19 at the paper's layers
    (relu4_2; relu1_1 ... relu5_1), converted and normalised as a user's weights are."""
    params, _ = whole_weights
    weights = ref.to_torch_params(params)
    x, content, style = _images((64, 80))
    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    config = Config(weighting=weighting, ratio=1e-3)
    assert config.content_layers == (("relu4_2", 1.0),)
    assert config.style_layers == tuple((k, 0.2) for k in layers)
    (total, terms), grad = _jax_losses(params, x, content, style, config)
    xt, feats, t_content, t_layers = _torch_losses(weights, x, content, style, "relu4_2", layers)
    if weighting == "paper":
        c, s = 1.0, {k: 1.0 for k in layers}
    else:
        c = 2.0 / feats["relu4_2"].numel()
        s = {k: 4e3 / feats[k].shape[1] ** 2 for k in layers}
    t_total = 1e-3 * c * t_content + sum(s[k] * v / 5 for k, v in t_layers.items())
    _assert_matches(
        params=params,
        weights=weights,
        x=x,
        got=(total, terms, grad),
        want=(t_total, t_content, t_layers, xt),
    )


def test_forward_mode_equals_a_finite_difference(slim_params):
    """``jax.jvp`` through the default objective equals a central difference of the loss.

    float32 throughout (the losses accumulate in float32), so the difference's step is
    large enough for rounding and small enough for the curvature: agreement to 1e-3.
    """
    rng = np.random.default_rng(9)
    content, style = smooth_image(rng, 32, 32), smooth_image(rng, 32, 32)
    config = Config()
    spec = spec_of(config)
    pre = TORCHVISION
    targets = make_targets(slim_params, jnp.asarray(content), jnp.asarray(style), spec, pre)
    f = objective(slim_params, targets, weights_of(config, spec), spec, pre)
    x = pre.apply(jnp.asarray(smooth_image(rng, 32, 32)))
    loss = jax.jit(lambda x: f(x)[0])
    grad = jax.jit(jax.grad(loss))
    # Along the gradient, plus a random part: a derivative well above float32 rounding.
    g = grad(x)
    v = (
        g / jnp.linalg.norm(g)
        + jnp.asarray(rng.standard_normal(x.shape), jnp.float32) / x.size**0.5
    )
    value, tangent = jax.jit(lambda x, v: jax.jvp(loss, (x,), (v,)))(x, v)
    eps = 1e-2
    fd = (loss(x + eps * v) - loss(x - eps * v)) / (2 * eps)
    assert float(value) > 0
    # The same derivative as reverse mode's, and a central difference's within 5e-3
    # (float32 rounding over the step, ReLU kinks within it).
    assert abs(float(tangent) - float(jnp.vdot(g, v))) <= 1e-4 * abs(float(tangent))
    assert abs(float(tangent) - float(fd)) <= 5e-3 * abs(float(fd)), (tangent, fd)
    # Forward over reverse: Hessian-vector products, and the Hessian is symmetric
    # (u.Hv = v.Hu). A difference of gradients is no reference here: the gradient jumps
    # wherever a ReLU gate flips within the step.
    hvp = jax.jit(lambda x, v: jax.jvp(grad, (x,), (v,))[1])
    u = jnp.asarray(rng.standard_normal(x.shape), jnp.float32)
    uhv, vhu = float(jnp.vdot(u, hvp(x, v))), float(jnp.vdot(v, hvp(x, u)))
    assert abs(uhv - vhu) <= 1e-3 * max(abs(uhv), abs(vhu)), (uhv, vhu)
