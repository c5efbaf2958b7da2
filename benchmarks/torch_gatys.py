"""Gatys et al. (2016) in PyTorch, for side-by-side benchmarks against jaxstyle.

Shares nothing with jaxstyle's JAX code but the weights file: it reads the ``.npz``
(``conv*_*/kernel`` HWIO, ``conv*_*/bias``, ``__meta__`` JSON with the preprocessing)
with numpy, and builds the network, the losses and the optimiser from torch.

The optimiser is ``torch.optim.LBFGS`` as the widely used PyTorch implementations run
it: Gatys' own notebook (leongatys/PytorchNeuralStyleTransfer) and the PyTorch
tutorial call ``optim.LBFGS([img])`` with the defaults ``lr=1, history_size=100,
line_search_fn=None``. We keep those and set ``max_iter=N, tolerance_grad=-1,
tolerance_change=-1`` so that one ``step`` runs exactly ``N`` iterations with one
evaluation each (the notebook's loop of 20-iteration steps does the same work with
more Python around it). ``line_search_fn="strong_wolfe"`` is offered as an option.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

#: Where the torch side runs: the GPU when there is one, as a torch user would.
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

BLOCKS = (2, 2, 4, 4, 4)
LAYERS = tuple(
    name
    for b, depth in enumerate(BLOCKS, start=1)
    for i in range(1, depth + 1)
    for name in (f"conv{b}_{i}", f"relu{b}_{i}")
)


def load_npz(path: str) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], dict]:
    """The weights file as ``{conv: (OIHW weight, bias)}`` tensors and its metadata."""
    with np.load(path) as data:
        meta = json.loads(bytes(data["__meta__"]).decode())
        weights = {}
        for key in data.files:
            if key.endswith("/kernel"):
                layer = key.split("/")[0]
                kernel = np.ascontiguousarray(data[key].transpose(3, 2, 0, 1), np.float32)
                bias = np.asarray(data[f"{layer}/bias"], np.float32)
                weights[layer] = (
                    torch.from_numpy(kernel).to(DEVICE),
                    torch.from_numpy(bias).to(DEVICE),
                )
    return weights, meta


def preprocess(rgb: np.ndarray, meta: dict) -> torch.Tensor:
    """``(H, W, 3)`` RGB in [0, 1] -> ``(1, 3, H, W)`` network input, per the metadata."""
    p = meta["preprocess"]
    x = np.asarray(rgb, np.float32)
    if p["channel_order"] == "BGR":
        x = x[..., ::-1]
    x = (x * p["scale"] - np.asarray(p["mean"], np.float32)) / np.asarray(p["std"], np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None])).to(DEVICE)


def features(weights, x: torch.Tensor, wanted: Sequence[str], pooling: str = "avg") -> dict:
    """Named activations of NCHW ``x``, stopping after the deepest layer wanted."""
    out: dict[str, torch.Tensor] = {}
    want = set(wanted)
    for b, depth in enumerate(BLOCKS, start=1):
        for i in range(1, depth + 1):
            w, bias = weights[f"conv{b}_{i}"]
            x = F.conv2d(x, w, bias, padding=1)
            if f"conv{b}_{i}" in want:
                out[f"conv{b}_{i}"] = x
            x = F.relu(x)
            if f"relu{b}_{i}" in want:
                out[f"relu{b}_{i}"] = x
            if len(out) == len(want):
                return out
        x = F.avg_pool2d(x, 2, 2) if pooling == "avg" else F.max_pool2d(x, 2, 2)
    return out


def gram(f: torch.Tensor) -> torch.Tensor:
    flat = f.reshape(f.shape[1], -1)
    return flat @ flat.T


@dataclass
class Objective:
    """``L = alpha L_content + beta sum_l w_l E_l`` (Eqs. 1, 4, 5, 7) of NCHW input.

    ``weighting="authors"`` is the authors' own code's (Gatys' PyTorch notebook): content
    as the mean squared error ``(F - P)^2`` over its ``N M`` entries, and each style
    layer as ``1e3 / N^2`` times the mean squared error of ``G / M`` and ``A / M``, with
    the same ``w_l`` and ``alpha, beta``. ``scale`` multiplies ``L``: the minimiser is
    the same, but torch's L-BFGS has absolute thresholds (it keeps a step pair only if
    ``y's > 1e-10``), so at an ``O(0.1)`` loss on 0-255 pixels it never builds a memory.
    """

    weights: dict
    content: torch.Tensor
    style: torch.Tensor
    alpha: float = 1e-3
    beta: float = 1.0
    weighting: str = "paper"
    scale: float = 1.0
    content_layers: tuple[str, ...] = ("relu4_2",)
    style_layers: tuple[str, ...] = tuple(f"relu{b}_1" for b in range(1, 6))
    targets: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.weighting not in ("paper", "authors"):
            raise ValueError(f"weighting must be 'paper' or 'authors', not {self.weighting!r}")
        with torch.no_grad():
            fc = features(self.weights, self.content, self.content_layers)
            fs = features(self.weights, self.style, self.style_layers)
        self.targets = {
            "content": {k: fc[k] for k in self.content_layers},
            "style": {k: gram(fs[k]) for k in self.style_layers},
        }

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        f = features(self.weights, x, self.content_layers + self.style_layers)
        authors = self.weighting == "authors"
        content = 0.0
        for k in self.content_layers:
            d = (f[k] - self.targets["content"][k]) ** 2
            term = d.mean() if authors else 0.5 * d.sum()
            content = content + term / len(self.content_layers)
        style = 0.0
        for k in self.style_layers:
            n, m = f[k].shape[1], f[k].shape[2] * f[k].shape[3]
            g, a = gram(f[k]), self.targets["style"][k]
            if authors:
                e = 1e3 / n**2 * ((g / m - a / m) ** 2).mean()
            else:
                e = ((g - a) ** 2).sum() / (4.0 * n**2 * m**2)
            style = style + e / len(self.style_layers)
        return self.scale * (self.alpha * content + self.beta * style)


def value_and_grad(objective: Objective, x: np.ndarray) -> tuple[float, np.ndarray]:
    """The loss and its gradient at ``(1, 3, H, W)`` network input ``x``."""
    t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(DEVICE).requires_grad_(True)
    loss = objective(t)
    loss.backward()
    return loss.item(), t.grad.detach().cpu().numpy()


@dataclass
class Trace:
    """Per-evaluation wall time (s from the start) and loss of a torch L-BFGS run."""

    times: list[float]
    losses: list[float]
    iterations: int
    seconds: float
    final_loss: float

    @property
    def evaluations_per_iteration(self) -> float:
        return len(self.losses) / max(self.iterations, 1)


def run_lbfgs(
    objective: Objective,
    x0: np.ndarray,
    iterations: int,
    line_search_fn: str | None = None,
    history_size: int = 100,
) -> Trace:
    """``iterations`` L-BFGS iterations from ``x0`` (network input, NCHW)."""
    x = torch.from_numpy(np.ascontiguousarray(x0, np.float32)).to(DEVICE).requires_grad_(True)
    opt = torch.optim.LBFGS(
        [x],
        lr=1,
        max_iter=iterations,
        max_eval=None if line_search_fn else iterations + 1,
        history_size=history_size,
        tolerance_grad=-1,
        tolerance_change=-1,
        line_search_fn=line_search_fn,
    )
    times: list[float] = []
    losses: list[float] = []
    start = time.perf_counter()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective(x)
        loss.backward()
        times.append(time.perf_counter() - start)
        losses.append(loss.item() / objective.scale)
        return loss

    opt.step(closure)
    seconds = time.perf_counter() - start
    done = opt.state[opt._params[0]]["n_iter"]
    # Without a line search torch never evaluates the last iterate; do it, untimed.
    with torch.no_grad():
        final = objective(x).item() / objective.scale
    return Trace(times, losses, int(done), seconds, final)
