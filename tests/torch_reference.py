"""An independent PyTorch VGG19 and the paper's losses, written from the paper.

Shares nothing with jaxstyle but the raw weight arrays: torch's own conv2d
(OIHW, NCHW), pooling, and autograd for the gradient.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

BLOCKS = (2, 2, 4, 4, 4)


def to_torch_params(params, dtype=np.float32) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """HWIO params (jaxstyle's dict, or ``{name: (kernel, bias)}``) -> {name: (OIHW, bias)}."""
    out = {}
    for name, leaf in params.items():
        kernel, bias = (leaf["kernel"], leaf["bias"]) if isinstance(leaf, dict) else leaf
        kernel = np.asarray(kernel, dtype).transpose(3, 2, 0, 1).copy()
        out[name] = (torch.from_numpy(kernel), torch.from_numpy(np.array(bias, dtype)))
    return out


def vgg19(weights, x: torch.Tensor, pooling: str = "avg") -> dict[str, torch.Tensor]:
    """Every named activation of NCHW input ``x``, for the blocks ``weights`` holds."""
    out = {}
    for b, depth in enumerate(BLOCKS, start=1):
        if f"conv{b}_1" not in weights:
            break
        for i in range(1, depth + 1):
            w, bias = weights[f"conv{b}_{i}"]
            x = F.conv2d(x, w, bias, padding=1)
            out[f"conv{b}_{i}"] = x
            x = F.relu(x)
            out[f"relu{b}_{i}"] = x
        x = F.avg_pool2d(x, 2, 2) if pooling == "avg" else F.max_pool2d(x, 2, 2)
        out[f"pool{b}"] = x
    return out


def gram(f: torch.Tensor) -> torch.Tensor:
    """(1, N, H, W) -> N x N, G = F F^T with F = N x M."""
    n = f.shape[1]
    flat = f.reshape(n, -1)
    return flat @ flat.T


def style_layer_loss(f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    n = f.shape[1]
    m = f.shape[2] * f.shape[3]
    return ((gram(f) - a) ** 2).sum() / (4.0 * n**2 * m**2)


def content_loss(f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((f - p) ** 2).sum()


def nchw(img_hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(
        np.ascontiguousarray(np.asarray(img_hwc, np.float32).transpose(2, 0, 1)[None])
    )


def hwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()[0].transpose(1, 2, 0)


def nchw64(img_hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(
        np.ascontiguousarray(np.asarray(img_hwc, np.float64).transpose(2, 0, 1)[None])
    )


def caffe(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> the Keras/Caffe VGG input: BGR, 0-255, ImageNet mean subtracted."""
    return np.asarray(rgb, np.float64)[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68])


def style_distance(weights, image, painting, photo, layers) -> float:
    """``sum_l E_l(image, painting) / sum_l E_l(photo, painting)``, float64, RGB inputs.

    1 means no closer to the painting's statistics than the photo; 0, the painting's.
    ``weights`` are raw float64 tensors (:func:`to_torch_params`); all three images
    have one size.
    """
    with torch.no_grad():
        feats = [vgg19(weights, nchw64(caffe(im))) for im in (image, painting, photo)]
    grams = [{k: gram(f[k]) for k in layers} for f in feats]
    return float(
        sum(style_layer_loss(feats[0][k], grams[1][k]) for k in layers)
        / sum(style_layer_loss(feats[2][k], grams[1][k]) for k in layers)
    )


def content_distance(weights, image, photo, layer) -> float:
    """Eq. 1 between ``image`` and ``photo`` at ``layer``, float64, RGB inputs."""
    with torch.no_grad():
        f, p = (vgg19(weights, nchw64(caffe(im)))[layer] for im in (image, photo))
    return float(content_loss(f, p))
