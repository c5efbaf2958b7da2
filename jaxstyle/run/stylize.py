"""``stylize``: one image or a batch, written once for one image and vmapped.

A single image is a batch of one. The per-image pieces (targets, start, loss) are
written for one image; :mod:`jaxstyle.solve.solvers` vmaps the loss, and the targets are
vmapped here, so that a batch is the same program with a leading axis.
"""

from __future__ import annotations

import dataclasses
import functools
import signal
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.config import Config, resolve
from jaxstyle.controls.batching import gather
from jaxstyle.controls.inputs import Inputs, finish, prepare, start_in_colors
from jaxstyle.cpu import plugin as cpu
from jaxstyle.errors import ConfigError
from jaxstyle.images.arrays import initial_image
from jaxstyle.loss.objective import ExtraLoss, Loss
from jaxstyle.loss.spec import Spec, Weights, batch_spec, weights_of
from jaxstyle.loss.targets import Targets, make_targets
from jaxstyle.model.layers import check_depth, min_size
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params, blocks_of, widths_of
from jaxstyle.run.checkpoint import Checkpoint, fingerprint
from jaxstyle.run.history import History, Result
from jaxstyle.run.interrupts import Interrupts
from jaxstyle.run.loop import run
from jaxstyle.scale import capacity, sharding
from jaxstyle.solve.solvers import Solver, history_size
from jaxstyle.solve.transfer import host

Array = jax.Array


@functools.partial(jax.jit, static_argnames=("spec", "preprocess"))
def _targets(params: Params, inputs: Inputs, spec: Spec, preprocess: Preprocess) -> Targets:
    def one(content: Array, styles: Any, blend: Array, cg: Any, sg: Any) -> Targets:
        return make_targets(
            params,
            content,
            styles,
            spec,
            preprocess,
            blend=blend,
            content_guides=cg,
            style_guides=sg,
        )

    return jax.vmap(one)(*inputs)


def stylize(
    content: Array | np.ndarray,
    style: Array | np.ndarray | Sequence[Array | np.ndarray],
    params: Params,
    preprocess: Preprocess,
    config: Config | Sequence[Config] | None = None,
    *,
    key: Array | None = None,
    init_image: Array | np.ndarray | None = None,
    masks: Any = None,
    style_masks: Any = None,
    extra_loss: ExtraLoss | None = None,
    extra_layers: Sequence[str] = (),
    callback: Callable[[int, np.ndarray, History], None] | None = None,
    progress: bool = False,
    interrupt: Sequence[int] = (signal.SIGINT,),
    checkpoint: Checkpoint | None = None,
) -> Result:
    """Paints ``content`` in the style of ``style`` (Gatys et al. 2016), one image or a batch.

    A batch is given by any of: a ``(B, H, W, 3)`` content, a ``(B, H', W', 3)`` style,
    a sequence of ``B`` configs, ``B`` stacked keys or a ``(B, H, W, 3)`` start;
    unbatched arguments are shared by every item. The batch runs as one compiled,
    vmapped program. Configs may differ per item in :data:`~jaxstyle.loss.spec.PER_ITEM_FIELDS`.

    Args:
        content: ``(H, W, 3)`` or ``(B, H, W, 3)`` RGB float in [0, 1]; the output has
            its size.
        style: ``(H', W', 3)`` or ``(B, H', W', 3)`` RGB in [0, 1], or a list of
            ``S`` such images (each its own size): blended by
            ``config.style_blend_weights``, or one per region with ``masks``. Each is
            resized per ``config.style_scale``.
        params: VGG19 params (:func:`jaxstyle.load_weights`).
        preprocess: the params' input convention (``meta.preprocess``).
        config: hyper-parameters, or one per item (default ``Config()``).
        key: PRNG key for ``init="noise"``: one (every item starts from the same
            noise) or ``B`` stacked keys.
        init_image: an RGB start in [0, 1] of the content's shape (``init="image"``;
            given, it is the start whatever ``init`` says).
        masks: one content mask per style, ``(H, W)`` or ``(B, H, W)`` in [0, 1] (an
            ``(S, H, W)`` array or a list), white where that style paints; resized to
            the content. Gatys et al. 2017's spatial control (:mod:`jaxstyle.loss.guides`).
        style_masks: one mask per style image, where its statistics are taken from.
        extra_loss: an :data:`~jaxstyle.loss.objective.ExtraLoss` added to Eq. 7, given
            the RGB image and the activations of the loss's layers and ``extra_layers``.
        callback: called every ``config.chunk_size`` iterations with ``(iterations
            done, image, history so far)``.
        progress: show a tqdm progress bar with the current loss.
        interrupt: signals that end the run early and keep its result (default
            SIGINT: Ctrl-C, a notebook's stop button); the one in flight finishes
            first (:class:`~jaxstyle.run.interrupts.Interrupts`), and the :class:`Result`
            says ``stopped``. A second such signal acts at once. The CLI adds SIGTERM.
        checkpoint: where to save the run's whole state (every ``checkpoint.every``
            iterations, when a signal stops it, at the end of a resumed run), and
            whether to resume from it (:class:`~jaxstyle.run.checkpoint.Checkpoint`). A
            resumed run must be the same problem (every argument and config field but
            ``iterations``, ``chunk_size`` and the memory and device levers); its
            result equals the uninterrupted run's to float32 round-off.

    Returns:
        :class:`Result` with the lowest-loss ``(H, W, 3)`` image clipped to [0, 1] and
        ``(T,)`` histories; for a batch, ``(B, H, W, 3)`` and ``(B, T)``.

    Example:
        >>> from jaxstyle.model.preprocess import TORCHVISION
        >>> from jaxstyle.model.vgg import init_params
        >>> params = init_params(jax.random.key(0), widths=(4, 8, 8, 8, 8))
        >>> img = jnp.full((16, 16, 3), 0.5)
        >>> out = stylize(img, img, params, TORCHVISION, Config(iterations=2), key=jax.random.key(1))
        >>> out.image.shape, out.history.total.shape
        ((16, 16, 3), (2,))
        >>> grid = [Config(iterations=2, ratio=r) for r in (1e-4, 1e-2)]
        >>> stylize(img, img, params, TORCHVISION, grid, key=jax.random.key(1)).image.shape
        (2, 16, 16, 3)
    """
    # Signals are deferred from here on, so one during setup (targets, compiles) stops
    # the run at its first iteration instead of ending the process.
    with Interrupts(interrupt) as caught:
        if checkpoint is not None and jax.process_count() > 1:
            raise ConfigError("checkpoints are written by single-process runs only")
        batch = gather(content, style, init_image, config, key)
        b, styles, original = len(batch.configs), batch.styles, batch.content
        backend = jax.default_backend()
        configs = [resolve(c, backend) for c in batch.configs]
        regions = 0 if masks is None else len(styles)
        spec = batch_spec(configs, tuple(extra_layers), regions)
        check_depth(spec.layers, blocks_of(params))
        first, hw = configs[0], original.shape[1:3]
        history = history_size(first.optimizer, first.history_size, b, hw)
        where = capacity.placed(  # before anything is resized or compiled
            hw, first, batch=b, styles=len(styles), widths=widths_of(params), tileable=not regions
        )
        plan = where.checked()
        if first.memory != "off":
            history, spec = plan.history_size, dataclasses.replace(spec, tiles=plan.tiles)
        if spec.tiles and (regions or where.split == "spatial"):
            raise ConfigError(
                "tiles compute the plain Gram loss strip by strip; they do not take masks "
                "or spatial sharding (use tiles=0)"
            )
        inputs = prepare(original, styles, configs, spec, masks, style_masks)
        _check_sizes(inputs, spec)
        targets: Targets = _targets(params, inputs, spec, preprocess)
        weights: Weights = jax.tree.map(
            lambda *w: jnp.stack(w), *[weights_of(c, spec) for c in configs]
        )
        x0 = _initial(inputs, batch, configs, preprocess)
        plugin = (
            None
            if where.split == "spatial"
            else cpu.choose(  # the partitioner's convolutions
                first.convolution,
                backend,
                spec.layers,
                hw,
                precision=first.precision,
                optimizer=first.optimizer,
            )
        )
        prepared = None if plugin is None else plugin.prepare(params)
        x0, shared, items, spec = _place(
            where, first, x0, (params, prepared), (targets, weights), spec, extra_loss
        )
        loss = Loss(dataclasses.replace(spec, kernels=plugin), preprocess, extra_loss)
        # Adam's rate in pixel units: d(net)/d(rgb) is scale / std, per network channel.
        rate = tuple(first.learning_rate * preprocess.scale / sd for sd in preprocess.std)
        solver = Solver(first.optimizer, first.linesearch, history, rate)

        def image(x: Array) -> np.ndarray:
            # A padded batch's copies and padded rows dropped; gathered from every process.
            rgb = preprocess.invert(jnp.asarray(host(x)[:b, : hw[0]]))
            return np.asarray(finish(rgb, original, configs), np.float32)

        def problem() -> dict[str, str]:  # what a checkpoint must match
            arrays = {"content": original, "style": styles, "masks": masks}
            arrays.update({"style masks": style_masks, "start": batch.start, "seed": batch.keys})
            extra = getattr(extra_loss, "__qualname__", type(extra_loss).__qualname__)
            settings = {"extra loss": extra, "extra layers": tuple(extra_layers)}
            settings.update({"preprocess": preprocess, "history size": history})
            return fingerprint(configs, {**arrays, "weights": params}, settings)

        return run(
            loss,
            x0,
            shared,
            items,
            solver,
            first,
            batch.size,
            image,
            callback,
            progress,
            caught,
            checkpoint,
            problem,
        )


def _check_sizes(inputs: Inputs, spec: Spec) -> None:
    """Refuses a content or style image too small for the deepest layer."""
    need = min_size(spec.layers)
    for name, img in (("content", inputs.content), *(("style", s) for s in inputs.styles)):
        if min(img.shape[1:3]) < need:
            raise ConfigError(
                f"the {name} image is {img.shape[2]}x{img.shape[1]} px; layer "
                f"{spec.layers[-1]} needs at least {need} px on each side"
            )


def _initial(
    inputs: Inputs, batch: Any, configs: Sequence[Config], preprocess: Preprocess
) -> Array:
    """The ``(B, H, W, 3)`` network-input start: the given start, or each item's ``init``."""
    if batch.start is not None:
        return preprocess.apply(start_in_colors(batch.start, configs))
    return jnp.stack(
        [
            initial_image(
                inputs.content[i], inputs.styles[0][i], c.init, preprocess, k, c.noise_std
            )
            for i, (c, k) in enumerate(zip(configs, batch.keys, strict=True))
        ]
    )


def _place(
    where: capacity.Placement,
    first: Config,
    x0: Array,
    shared: Any,
    items: Any,
    spec: Spec,
    extra_loss: ExtraLoss | None,
) -> tuple[Array, Any, Any, Spec]:
    """The same program's arrays placed over the devices (:mod:`jaxstyle.scale.sharding`).

    ``batch``: the items split (the batch padded to a multiple of the devices);
    ``spatial``: every image's rows split (padded likewise, ``spec.height`` the true
    height); one device: as they are.
    """
    if where.split is None:
        return x0, shared, items, spec
    devs = sharding.devices(first.devices)[: where.devices]
    grid = sharding.mesh(devs)
    shared = sharding.replicate(shared, grid)
    if where.split == "batch":
        size = sharding.padded(x0.shape[0], len(devs))
        x0, items = sharding.split_items(sharding.pad_items((x0, items), size), grid)
        return x0, shared, items, spec
    targets, weights = items
    x0, targets, spec = sharding.pad_rows(x0, targets, spec, len(devs), extra_loss)
    content = sharding.split_rows(targets.content, grid)
    items = (targets._replace(content=content), sharding.replicate(weights, grid))
    return sharding.split_rows(x0, grid), shared, items, spec
