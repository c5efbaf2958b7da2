"""A run planned once: its complete structure, plug-in, L-BFGS memory and placement.

:func:`plan` turns the user's configs, the output's shape and the machine into a
frozen :class:`RunPlan` before any image is resized or anything compiled: the
resolved configs, the complete :class:`~jaxstyle.loss.spec.Spec` (strips, true
height, convolution plug-in), the L-BFGS memory, where the run goes (one device, its
batch split, or its rows split) and its memory estimate there. :func:`jaxstyle.stylize`,
``jaxstyle stylize --dry-run`` and the memory refusal all read that plan; each rule
it applies (the plug-in, the history size, whether the run can be tiled) is called
here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax

from jaxstyle.config import Config, resolve
from jaxstyle.cpu import plugin as cpu
from jaxstyle.errors import ConfigError
from jaxstyle.loss import tiling
from jaxstyle.loss.spec import Spec, batch_spec
from jaxstyle.model.layers import VGG19_WIDTHS, block_of
from jaxstyle.scale import capacity, sharding
from jaxstyle.scale.memory import Plan
from jaxstyle.solve.common import history_size

#: ``budget="free"``: plan against what the backend has free now.
FREE = "free"


@dataclasses.dataclass(frozen=True)
class Problem:
    """What a plan is made for; a run may use a plan only for the same problem.

    Attributes:
        hw: ``(H, W)`` of the output.
        configs: the user's configs, one per item.
        styles: style images.
        regions: masked regions (0: no masks).
        extra_layers: layers computed for an extra loss term.
        widths: the widths of the network's blocks the layers reach.
        extra_loss: whether the run adds an extra loss term.
        temporal: references of a video frame's temporal loss (0: a still image).
    """

    hw: tuple[int, int]
    configs: tuple[Config, ...]
    styles: int = 1
    regions: int = 0
    extra_layers: tuple[str, ...] = ()
    widths: tuple[int, ...] = VGG19_WIDTHS
    extra_loss: bool = False
    temporal: int = 0

    @classmethod
    def of(
        cls,
        hw: tuple[int, int],
        configs: Sequence[Config],
        *,
        styles: int = 1,
        regions: int = 0,
        extra_layers: Sequence[str] = (),
        widths: tuple[int, ...] = VGG19_WIDTHS,
        extra_loss: bool = False,
        temporal: int = 0,
    ) -> Problem:
        """The problem, its ``widths`` cut to the blocks the layers reach."""
        layers = {k for c in configs for k in c.layers} | set(extra_layers)
        reached = max(block_of(k) for k in layers)
        return cls(
            (int(hw[0]), int(hw[1])),
            tuple(configs),
            styles,
            regions,
            tuple(extra_layers),
            tuple(widths[:reached]),
            extra_loss,
            temporal,
        )


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """Every decision of a run, taken once (:func:`plan`).

    Attributes:
        problem: what it was planned for.
        configs: the configs resolved for the backend.
        spec: the complete static structure of the objective: layers, strips
            (``tiles``), the true height of row-split images, the plug-in (``kernels``).
        history_size: L-BFGS pairs (0 for Adam).
        split: ``"batch"``, ``"spatial"`` or ``None`` (one device).
        devices: how many devices the run is split over (1: none).
        memory: the estimate of the run there (:class:`~jaxstyle.scale.memory.Plan`).
        request: what the estimate was asked (to name what would fit).
    """

    problem: Problem
    configs: tuple[Config, ...]
    spec: Spec
    history_size: int
    split: str | None
    devices: int
    memory: Plan
    request: capacity.Request

    @property
    def fits(self) -> bool:
        return self.memory.fits

    def checked(self) -> RunPlan:
        """The plan, unless it would not fit (and memory is not ``"off"``).

        Raises:
            MemoryPlanError: naming the largest size that fits and what would fit.
        """
        if self.configs[0].memory != "off":
            capacity.check(self.memory, self.request)
        return self

    def describe(self) -> str:
        """One line: the estimate, the split and whether it fits."""
        fits = "fits" if self.fits else "does not fit"
        return f"{self.memory.describe()}; split: {self.split or 'no'}; {fits}"


def plan(
    hw: tuple[int, int],
    config: Config | Sequence[Config] | None = None,
    *,
    batch: int = 1,
    styles: int = 1,
    regions: int = 0,
    extra_layers: Sequence[str] = (),
    widths: tuple[int, ...] = VGG19_WIDTHS,
    extra_loss: bool = False,
    temporal: int = 0,
    backend: str | None = None,
    budget: int | str | None = FREE,
) -> RunPlan:
    """The plan of a stylisation at ``hw``, before anything is resized or compiled.

    Args:
        hw: ``(H, W)`` of the output.
        config: the settings, one shared by ``batch`` items or one per item.
        batch: items, when one config is shared.
        styles: style images; ``regions``: masked regions (0: no masks).
        extra_layers: layers computed for an extra loss term; ``extra_loss``: whether
            there is one.
        temporal: references of each video frame's temporal loss (0: still images).
        widths: the network's block widths (:func:`jaxstyle.model.vgg.widths_of`).
        backend: JAX's backend (default: the default backend).
        budget: bytes the run may use: ``"free"`` (what the backend has free now),
            a number, or ``None`` (unknown: anything fits).

    Returns:
        A :class:`RunPlan`; :meth:`RunPlan.checked` refuses one that does not fit.

    Raises:
        ConfigError: settings that cannot run together (tiles with what is not
            tiled, spatial sharding with a term that reads the whole image).

    Example:
        >>> p = plan((2048, 2048), Config(optimizer="lbfgs"), budget=12 * 2**30)
        >>> p.fits, p.spec.tiles, p.history_size, p.split
        (True, 0, 21, None)
    """
    configs = [config or Config()] * batch if not isinstance(config, Sequence) else list(config)
    problem = Problem.of(
        hw,
        configs,
        styles=styles,
        regions=regions,
        extra_layers=extra_layers,
        widths=widths,
        extra_loss=extra_loss,
        temporal=temporal,
    )
    return plan_problem(problem, widths, backend=backend, budget=budget)


def plan_problem(
    problem: Problem,
    widths: tuple[int, ...] = VGG19_WIDTHS,
    *,
    backend: str | None = None,
    budget: int | str | None = FREE,
) -> RunPlan:
    """:func:`plan` of a :class:`Problem` (``widths``: the whole network's)."""
    backend = backend or jax.default_backend()
    configs = tuple(resolve(c, backend) for c in problem.configs)
    first, b, hw = configs[0], len(configs), problem.hw
    base = batch_spec(configs, problem.extra_layers, problem.regions, problem.temporal)
    refusals = {s: tiling.refusal(base.style_loss, problem.regions, s) for s in (False, True)}
    free = capacity.available(backend) if budget == FREE else budget

    def plugin(size: tuple[int, int], spatial: bool) -> cpu.CpuKernels | None:
        if spatial:  # the partitioner's convolutions
            return None
        return cpu.choose(
            first.convolution,
            backend,
            base.layers,
            size,
            precision=first.precision,
            optimizer=first.optimizer,
        )

    def request(devices: int, spatial: bool) -> capacity.Request:
        return capacity.Request(
            base,
            first.optimizer,
            history=lambda size: history_size(first.optimizer, first.history_size, b, size),
            plugin=lambda size: plugin(size, spatial),
            batch=b,
            styles=problem.styles,
            widths=widths,
            devices=devices,
            spatial=spatial,
            budget=free,  # type: ignore[arg-type]
            auto=first.memory == "auto",
            tileable=refusals[spatial] is None,
            free_tiles=first.tiles is None,
            free_history=first.history_size is None,
        )

    count = len(sharding.devices(first.devices))
    alone = request(1, False)
    one = capacity.fit(hw, alone)  # where it goes depends on whether one device holds it
    split = sharding.choose(first.shard, b, count, first.memory == "off" or one.fits)
    spatial = split == "spatial"
    if first.tiles and refusals[spatial]:
        raise ConfigError(refusals[spatial])
    if spatial:
        _check_rows_split(base, problem.extra_loss)
    asked = alone if split is None else request(count, spatial)
    memory = one if split is None else capacity.fit(hw, asked)
    spec = dataclasses.replace(
        base,
        tiles=memory.tiles,
        height=hw[0] if spatial else None,
        kernels=plugin(hw, spatial),
    )
    return RunPlan(problem, configs, spec, memory.history_size, split, asked.devices, memory, asked)


def _check_rows_split(spec: Spec, extra_loss: bool) -> None:
    """Refuses spatial sharding for the terms that read the whole image."""
    unsplit = [
        name
        for name, on in (
            ("masks", spec.regions),
            ("the Wasserstein loss", spec.style_loss == "wasserstein"),
            ("TV", spec.tv),
            ("photorealism", spec.photorealism),
            ("an extra loss", extra_loss),
            ("the temporal loss", spec.temporal),
        )
        if on
    ]
    if unsplit:
        raise ConfigError(
            "spatial sharding splits the Gram and content terms; it does not take "
            + ", ".join(unsplit)
            + " yet (use shard='batch' or one device)"
        )
