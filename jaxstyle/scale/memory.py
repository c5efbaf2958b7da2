"""The memory estimate of a run: its peak bytes per device from the shapes alone.

:func:`estimate` computes a run's peak memory without compiling anything, from the
output size, the batch, the layers, the optimiser's memory, the strips and the
precision; :mod:`jaxstyle.scale.capacity` compares it with what the machine has and
pulls the levers that make a run fit.

The estimate, per device (a batch split over ``devices`` holds its share):

- ``activations``: :data:`ACTIVATION_FACTOR` times the float32 outputs of every
  convolution the layers reach, per image: XLA's temporary bytes of one
  loss+gradient evaluation over them (1.6-2.0 on XLA:CPU at full widths, by layer
  set and plug-in). bfloat16 and per-block rematerialisation leave it unchanged
  (XLA:CPU convolves bfloat16 in float32; block 1's backward pass is the peak).
- ``kernels``: the params of the convolutions reached, twice (the kernels, and
  their backward or Winograd forms).
- ``images``: the image-sized float32 arrays of an evaluation and of the optimiser's
  step (:data:`IMAGE_COPIES` per image) and the targets (content features, Grams).
- ``optimizer``: the L-BFGS memory, ``2 * history * H * W * 3`` float32 per image,
  or Adam's two moments.

Contract: within 25 % of XLA's ``memory_analysis()`` of the compiled program plus the
L-BFGS memory, over sizes, batches, layers and histories (tests/scale/test_memory.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from jaxstyle.loss import tiling
from jaxstyle.loss.spec import Spec
from jaxstyle.model.layers import VGG19_WIDTHS, block_of, convs_reached, pools_before

#: XLA's temporary bytes of one loss+gradient evaluation over the float32 outputs
#: of the convolutions it reaches (module docstring).
ACTIVATION_FACTOR = 1.75
#: Image-sized float32 arrays an evaluation and an optimiser step hold per image:
#: the iterate, the lowest-loss iterate, the direction, the trial point, the gradient,
#: the previous gradient and the step's temporaries.
IMAGE_COPIES = 9
#: A plan fits when its total is at most this share of the available bytes.
HEADROOM = 0.9


@dataclasses.dataclass(frozen=True)
class Plan:
    """The estimated peak bytes of a run, per device, and whether it fits.

    Attributes:
        hw: ``(H, W)`` of the output.
        batch: items in the run.
        devices: devices the batch is split over.
        optimizer: the resolved optimiser.
        history_size: L-BFGS pairs (0 for Adam).
        remat: whether the VGG blocks are rematerialised.
        tiles: strips the first blocks are computed in (0: none; :mod:`jaxstyle.loss.tiling`).
        parts: bytes by part: ``kernels``, ``activations``, ``images``,
            ``optimizer``.
        budget: bytes available, or ``None`` when unknown (then it fits).

    """

    hw: tuple[int, int]
    batch: int
    devices: int
    optimizer: str
    history_size: int
    remat: bool
    parts: dict[str, int]
    budget: int | None = None
    tiles: int = 0

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def fits(self) -> bool:
        return self.budget is None or self.total <= HEADROOM * self.budget

    def describe(self) -> str:
        """One line: size, settings, the estimate by part and the budget."""
        gib = 2.0**30
        parts = ", ".join(f"{k} {v / gib:.2f}" for k, v in self.parts.items())
        have = "unknown" if self.budget is None else f"{self.budget / gib:.1f} GiB"
        return (
            f"{self.hw[1]}x{self.hw[0]} px, batch {self.batch} on {self.devices} device(s), "
            f"{self.optimizer} history {self.history_size}, remat {'on' if self.remat else 'off'}, "
            f"tiles {self.tiles or 'off'}: "
            f"about {self.total / gib:.2f} GiB per device ({parts} GiB); available {have}"
        )


def _reached_bytes(
    layers: Sequence[str], widths: tuple[int, ...], winograd: Sequence[str] = ()
) -> tuple[int, int]:
    """Per-pixel float32 bytes of the reached convolutions' outputs, and their kernels'.

    Each kernel is counted with its second form: the backward kernel (or XLA's
    transposed copy), or for a Winograd layer the forward and backward transforms
    (4x4 points for 3x3 taps, each).
    """
    per_px, kernels, cin = 0.0, 0.0, 3
    for conv in convs_reached(layers):
        block = block_of(conv)
        width = widths[block - 1]
        per_px += 4.0 * width / 4 ** (block - 1)
        params = 4 * (9 * cin * width + width)
        kernels += params * (1 + (2 * 16 / 9 if conv in winograd else 1))
        cin = width
    return int(per_px), int(kernels)


def _layer_bytes(name: str, widths: tuple[int, ...]) -> float:
    """Float32 bytes per input pixel of one layer's activations (``relu4_2``, ``pool3``)."""
    return 4.0 * widths[block_of(name) - 1] / 4 ** pools_before(name)


def estimate(
    hw: tuple[int, int],
    spec: Spec,
    *,
    optimizer: str,
    history: int,
    batch: int = 1,
    devices: int = 1,
    widths: tuple[int, ...] = VGG19_WIDTHS,
    styles: int = 1,
    budget: int | None = None,
    spatial: bool = False,
) -> Plan:
    """The peak bytes per device of a run of ``spec`` at ``hw``, from shapes only.

    Args:
        hw: ``(H, W)`` of the output.
        spec: the objective's structure: its layers, ``tiles``, ``remat`` and
            convolution plug-in (``kernels``: Winograd layers hold more kernel bytes).
        optimizer: a resolved optimiser (``"lbfgs"``, ``"jaxopt"``, ``"optax"``, ``"adam"``).
        history: L-BFGS pairs (ignored for Adam, which holds two moments).
        batch: items in the run; ``devices`` split them, or with ``spatial`` every
            image's rows.
        widths: the network's block widths.
        styles: style targets per item.
        budget: bytes available, ``None`` for unknown (then it fits).

    With tiles, the activations are the larger of one strip's through the tiled
    blocks (:func:`jaxstyle.loss.tiling.strips`, with its halo) and the deep blocks'
    on the whole image (their backward passes do not overlap), and the images add the
    stitched ``pool3`` with its gradient and the padded image with its gradient.

    Example:
        >>> p = estimate((512, 512), Spec(), optimizer="lbfgs", history=10)
        >>> sorted(p.parts), round(p.total / 2**30, 2)
        (['activations', 'images', 'kernels', 'optimizer'], 0.69)
    """
    h, w = hw
    share = batch if spatial else -(-batch // devices)  # items per device
    rows = devices if spatial else 1  # each device holds 1/rows of every image
    winograd = spec.kernels.winograd if spec.kernels is not None else ()
    per_px, kernel_bytes = _reached_bytes(spec.layers, widths, winograd)
    pixels = -(-h // rows) * w
    activations = per_px * pixels
    stitched = 0
    if spec.tiles:
        head, tail = tiling.split_layers(spec.layers)
        pool = f"pool{tiling.TILED_BLOCKS}"
        own, _ = tiling.strips(h, spec.tiles)
        head_px = _reached_bytes((*head, pool) if tail else head, widths, winograd)[0]
        strip = (own + 2 * tiling.halo()) * w
        # The strips' backward pass runs after the deep blocks': the peak is the larger.
        activations = max((per_px - head_px) * pixels, head_px * strip)
        stitched = int((2 * _layer_bytes(pool, widths) if tail else 0) * pixels) + 2 * pixels * 12
    history = 0 if optimizer == "adam" else history
    image = pixels * 3 * 4
    grams = sum(4 * widths[block_of(k) - 1] ** 2 for k in spec.style_layers)
    content = sum(int(_layer_bytes(k, widths) * pixels) for k in spec.content_layers)
    moments = 2 * image if optimizer == "adam" else 2 * history * image
    parts = {
        "kernels": kernel_bytes,
        "activations": int(ACTIVATION_FACTOR * activations) * share,
        "images": (IMAGE_COPIES * image + content + stitched + styles * grams) * share,
        "optimizer": moments * share,
    }
    return Plan((h, w), batch, devices, optimizer, history, spec.remat, parts, budget, spec.tiles)
