"""An independent PyTorch VGG19 and the paper's losses, written from the paper.

Shares nothing with jaxstyle but the raw weight arrays: torch's own conv2d
(OIHW, NCHW), pooling, and autograd for the gradient.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

BLOCKS = (2, 2, 4, 4, 4)


def to_torch_params(params) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """jaxstyle HWIO params -> {name: (OIHW weight, bias)} float32 tensors."""
    out = {}
    for name, leaf in params.items():
        kernel = np.asarray(leaf["kernel"], np.float32).transpose(3, 2, 0, 1).copy()
        out[name] = (torch.from_numpy(kernel), torch.from_numpy(np.array(leaf["bias"], np.float32)))
    return out


def vgg19(weights, x: torch.Tensor, pooling: str = "avg") -> dict[str, torch.Tensor]:
    """Every named activation of NCHW input ``x``."""
    out = {}
    for b, depth in enumerate(BLOCKS, start=1):
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
