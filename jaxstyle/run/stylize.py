"""``stylize``: one image or a batch, written once for one image and vmapped.

A single image is a batch of one. The per-image pieces (targets, start, loss) are
written for one image; :mod:`jaxstyle.solve.solvers` vmaps the loss, and the targets are
vmapped here, so that a batch is the same program with a leading axis.
"""

from __future__ import annotations

import functools
import signal
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle.config import Config
from jaxstyle.controls.batching import gather, references
from jaxstyle.controls.inputs import Inputs, finish, prepare, start_in_colors
from jaxstyle.errors import ConfigError
from jaxstyle.images.arrays import initial_image
from jaxstyle.loss.objective import ExtraLoss, Loss
from jaxstyle.loss.spec import Spec, Weights, weights_of
from jaxstyle.loss.targets import Targets, make_targets
from jaxstyle.loss.temporal import Temporal
from jaxstyle.model.layers import check_depth, min_size
from jaxstyle.model.preprocess import Preprocess
from jaxstyle.model.vgg import Params, blocks_of, widths_of
from jaxstyle.run.checkpoint import Checkpoint, fingerprint
from jaxstyle.run.history import History, Result
from jaxstyle.run.interrupts import Interrupts
from jaxstyle.run.loop import Task, run
from jaxstyle.run.plan import Problem, RunPlan, plan_problem
from jaxstyle.scale import sharding
from jaxstyle.solve.common import Solver
from jaxstyle.solve.transfer import host

Array = jax.Array


@functools.partial(jax.jit, static_argnames=("spec", "preprocess"))
def _targets(
    params: Params, prepared: Any, inputs: Inputs, spec: Spec, preprocess: Preprocess
) -> Targets:
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
            prepared=prepared,
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
    plan: RunPlan | None = None,
    temporal: Temporal | None = None,
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
        plan: this run's :func:`jaxstyle.plan` (made here when not given; one made
            for another problem is refused).
        temporal: a video frame's references (Ruder et al. 2016;
            :class:`~jaxstyle.loss.temporal.Temporal`): ``(K, H, W, 3)`` earlier results
            warped onto it and ``(K, H, W)`` weights, or ``(B, K, ...)`` for a batch of
            frames; weighted by ``config.temporal_weight``. :func:`jaxstyle.stylize_video`
            makes them.

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
        styles, original = batch.styles, batch.content
        hw = original.shape[1:3]
        check_depth(
            [*(k for c in batch.configs for k in c.layers), *extra_layers], blocks_of(params)
        )
        regions = 0 if masks is None else len(styles)
        widths = widths_of(params)
        refs = None if temporal is None else references(temporal, len(batch.configs), hw)
        problem = Problem.of(
            hw,
            batch.configs,
            styles=len(styles),
            regions=regions,
            extra_layers=extra_layers,
            widths=widths,
            extra_loss=extra_loss is not None,
            temporal=0 if refs is None else refs.images.shape[1],
        )
        if plan is not None and plan.problem != problem:
            raise ConfigError("this plan was made for another run: make it with jaxstyle.plan")
        run_plan = plan or plan_problem(problem, widths)
        run_plan.checked()  # before anything is resized or compiled
        configs, spec = list(run_plan.configs), run_plan.spec
        first, b = configs[0], len(configs)
        inputs = prepare(original, styles, configs, spec, masks, style_masks)
        _check_sizes(inputs, spec)
        prepared = None if spec.kernels is None else spec.kernels.prepare(params)
        targets: Targets = _targets(params, prepared, inputs, spec, preprocess)
        if refs is not None:  # in each item's colour space, as its start (a grey luminance run)
            seen = jnp.stack(
                [start_in_colors(r, configs[i : i + 1] * len(r)) for i, r in enumerate(refs.images)]
            )
            targets = targets._replace(temporal=Temporal(seen, refs.weights))
        weights: Weights = jax.tree.map(
            lambda *w: jnp.stack(w), *[weights_of(c, spec) for c in configs]
        )
        x0 = _initial(inputs, batch, configs, preprocess)
        x0, shared, items = _place(run_plan, x0, (params, prepared), (targets, weights))
        loss = Loss(spec, preprocess, extra_loss)
        rate = tuple(first.learning_rate * preprocess.scale / sd for sd in preprocess.std)
        solver = Solver(
            first.optimizer,
            first.linesearch,
            run_plan.history_size,
            rate,
            first.precondition,
            (int(hw[0]), int(hw[1])),
        )

        def image(x: Array) -> np.ndarray:
            # A padded batch's copies and padded rows dropped; gathered from every process.
            rgb = preprocess.invert(jnp.asarray(host(x)[:b, : hw[0]]))
            return np.asarray(finish(rgb, original, configs), np.float32)

        def problem() -> dict[str, str]:  # what a checkpoint must match
            arrays = {"content": original, "style": styles, "masks": masks}
            arrays.update({"style masks": style_masks, "start": batch.start, "seed": batch.keys})
            arrays["temporal"] = refs
            extra = getattr(extra_loss, "__qualname__", type(extra_loss).__qualname__)
            settings = {"extra loss": extra, "extra layers": tuple(extra_layers)}
            settings.update({"preprocess": preprocess, "history size": run_plan.history_size})
            return fingerprint(configs, {**arrays, "weights": params}, settings)

        task = Task(loss, x0, shared, items, solver, first, batch.size, image, problem)
        return run(task, caught, callback=callback, progress=progress, checkpoint=checkpoint)


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


def _place(run_plan: RunPlan, x0: Array, shared: Any, items: Any) -> tuple[Array, Any, Any]:
    """The same program's arrays placed over the devices (:mod:`jaxstyle.scale.sharding`).

    ``batch``: the items split (the batch padded to a multiple of the devices);
    ``spatial``: every image's rows split (padded likewise; the plan's
    ``spec.height`` is the true height); one device: as they are.
    """
    if run_plan.split is None:
        return x0, shared, items
    devs = sharding.devices(run_plan.configs[0].devices)[: run_plan.devices]
    grid = sharding.mesh(devs)
    shared = sharding.replicate(shared, grid)
    if run_plan.split == "batch":
        size = sharding.padded(x0.shape[0], len(devs))
        x0, items = sharding.split_items(sharding.pad_items((x0, items), size), grid)
        return x0, shared, items
    targets, weights = items
    x0, targets = sharding.pad_rows(x0, targets, run_plan.spec, len(devs))
    content = sharding.split_rows(targets.content, grid)
    items = (targets._replace(content=content), sharding.replicate(weights, grid))
    return sharding.split_rows(x0, grid), shared, items
