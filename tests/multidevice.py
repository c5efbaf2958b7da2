"""Checks that need several devices, run as ``python tests/multidevice.py CHECK`` in a child.

The child sees 8 simulated CPU devices (``XLA_FLAGS`` set by tests/scale/test_sharding.py
before JAX starts), so the rest of the suite keeps one device. Each check asserts,
prints one JSON line of what it measured, and exits 0.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxstyle import TORCHVISION, Config, init_params, stylize
from jaxstyle.loss.objective import Loss, make_targets, spec_of, weights_of
from jaxstyle.scale import sharding
from jaxstyle.solve.host import probe

WIDTHS = (8, 16, 16, 24, 24)


def _problem(h: int, w: int, widths: tuple[int, ...] = WIDTHS) -> tuple:
    rng = np.random.default_rng(0)
    params = init_params(jax.random.key(0), widths)
    content = jnp.asarray(rng.uniform(size=(h, w, 3)).astype(np.float32))
    spec = spec_of(Config())
    targets = make_targets(params, content, content[::-1, ::-1], spec, TORCHVISION)
    batch = lambda t: jax.tree.map(lambda a: a[None], t)  # noqa: E731
    x = TORCHVISION.apply(jnp.asarray(rng.uniform(size=(h, w, 3)).astype(np.float32)))[None]
    return params, batch(targets), batch(weights_of(Config(), spec)), spec, x


def _spatial(params, targets, weights, spec, x, count: int = 8) -> tuple:
    grid = sharding.mesh(jax.devices()[:count])
    sp = dataclasses.replace(spec, height=x.shape[1])  # as the plan makes it, row-split
    xp, tp = sharding.pad_rows(x, targets, sp, count)
    items = (tp._replace(content=sharding.split_rows(tp.content, grid)),)
    items = (*items, sharding.replicate(weights, grid))
    xs = sharding.split_rows(xp, grid)
    return xs, sharding.replicate((params, None), grid), items, sp


def _probe(x, shared, items, spec, compiled: bool = False):
    t = jnp.zeros((x.shape[0],), jnp.float32)
    args = (x, jnp.zeros_like(x), t, shared, items)
    fn = Loss(spec, TORCHVISION)
    if compiled:
        return probe.lower(*args, loss_fn=fn).compile()
    return probe(*args, loss_fn=fn)


def spatial_equal(h: int, w: int) -> dict:
    """Row-sharded loss and gradient equal the unsharded ones (rtol 1e-5)."""
    params, targets, weights, spec, x = _problem(h, w)
    _, value, grad, _, _ = _probe(x, (params, None), (targets, weights), spec)
    xs, shared, items, sp = _spatial(params, targets, weights, spec, x)
    _, v8, g8, _, _ = _probe(xs, shared, items, sp)
    g8 = np.asarray(g8)
    assert not np.any(g8[:, h:]), "the padded rows got a gradient"
    loss_err = abs(float(v8[0]) / float(value[0]) - 1)
    grad_err = float(np.max(np.abs(g8[:, :h] - grad)) / np.max(np.abs(grad)))
    assert loss_err < 1e-5 and grad_err < 1e-5, (loss_err, grad_err)
    return {"padded_rows": int(xs.shape[1]), "loss_rel_err": loss_err, "grad_rel_err": grad_err}


def spatial_partitioned() -> dict:
    """The 8-device program exchanges halos, gathers no activation, holds <= 0.3x the bytes."""
    params, targets, weights, spec, x = _problem(256, 256, (16, 32, 32, 48, 48))
    one = _probe(x, (params, None), (targets, weights), spec, compiled=True)
    many = _probe(*_spatial(params, targets, weights, spec, x), compiled=True)
    text = many.as_text()
    gathers = re.findall(r"= \w+\[([0-9,]*)\][^\n]*? all-gather\(", text)
    biggest = max((int(np.prod([int(n) for n in g.split(",") if n])) for g in gathers), default=0)
    ratio = many.memory_analysis().temp_size_in_bytes / one.memory_analysis().temp_size_in_bytes
    out = {"collective_permutes": text.count("collective-permute("), "largest_all_gather": biggest}
    out["temp_ratio"] = ratio
    assert out["collective_permutes"] > 0, "no halo exchange: the program is not partitioned"
    assert biggest < 256 * 256 // 8, f"an activation-sized all-gather: {biggest} elements"
    assert ratio <= 0.3, ratio
    return out


def _images(content, style, configs, **kw) -> list[np.ndarray]:
    params = init_params(jax.random.key(0), WIDTHS)
    key = jax.random.key(1)
    return [stylize(content, style, params, TORCHVISION, c, key=key, **kw).image for c in configs]


def stylize_spatial() -> dict:
    """stylize over 8 devices by rows equals stylize on one, image for image."""
    rng = np.random.default_rng(2)
    content, style = rng.uniform(size=(45, 40, 3)), rng.uniform(size=(32, 32, 3))
    base = {"iterations": 3, "shard": "spatial", "convolution": "direct"}
    one, many = _images(content, style, [Config(devices=d, **base) for d in (1, 8)])
    err = float(np.max(np.abs(one - many)))
    # float32 tolerance: the sums run in another order, and three line searches amplify it
    assert one.shape == many.shape == (45, 40, 3) and err < 2e-3, err
    return {"max_abs_diff": err}


def stylize_batch() -> dict:
    """A 5-item batch split over 4 devices (padded to 8 items) equals it on one device."""
    rng = np.random.default_rng(3)
    content, style = rng.uniform(size=(5, 24, 32, 3)), rng.uniform(size=(24, 24, 3))
    one, many = _images(content, style, [Config(iterations=4, devices=d) for d in (1, 4)])
    err = float(np.max(np.abs(one - many)))
    assert one.shape == many.shape == (5, 24, 32, 3) and err < 1e-5, err
    return {"max_abs_diff": err}


def batch_share() -> dict:
    """A 16-item batch over 8 devices: each device holds about 1/8 of the temporaries."""
    params, targets, weights, spec, x = _problem(64, 64)
    grow = lambda t: jax.tree.map(lambda a: jnp.repeat(a, 16, axis=0), t)  # noqa: E731
    targets, weights, x = grow(targets), grow(weights), grow(x)
    one = _probe(x, (params, None), (targets, weights), spec, compiled=True)
    grid = sharding.mesh(jax.devices())
    xs, items = sharding.split_items((x, (targets, weights)), grid)
    many = _probe(xs, sharding.replicate((params, None), grid), items, spec, compiled=True)
    ratio = many.memory_analysis().temp_size_in_bytes / one.memory_analysis().temp_size_in_bytes
    assert ratio <= 0.2, ratio
    return {"temp_ratio": ratio}


def resume_sharded() -> dict:
    """Sharded runs resume from their checkpoints as if never stopped (batch: lbfgs over
    4 devices; spatial: Adam over 8)."""
    import tempfile

    from jaxstyle.run.checkpoint import Checkpoint

    rng = np.random.default_rng(4)
    out = {}
    cases = {
        "batch": (rng.uniform(size=(5, 24, 32, 3)), {"devices": 4}),
        "spatial": (rng.uniform(size=(45, 40, 3)), {"shard": "spatial", "optimizer": "adam"}),
    }
    for name, (content, kw) in cases.items():
        style = rng.uniform(size=(24, 24, 3))
        config = Config(iterations=6, chunk_size=2, convolution="direct", **kw)
        (whole,) = _images(content, style, [config])
        with tempfile.TemporaryDirectory() as tmp:
            path = f"{tmp}/c.npz"
            part = dataclasses.replace(config, iterations=4)
            _images(content, style, [part], checkpoint=Checkpoint(path, every=2))
            (resumed,) = _images(content, style, [config], checkpoint=Checkpoint(path, resume=True))
        out[name] = float(np.max(np.abs(whole - resumed)))
        assert out[name] < 1e-5, (name, out[name])
    return out


def video_sharded() -> dict:
    """A clip's multi-pass over 4 devices (each half-pass split by frames) equals it on one."""
    from clips import pan

    from jaxstyle import Flows, Video, stylize_video

    clip = pan(6, size=24)
    params = init_params(jax.random.key(0), WIDTHS)
    flows = Flows(clip, cache=False)
    out = {}
    for devices in (1, 4):
        config = Config(iterations=3, temporal_weight=20.0, devices=devices)
        run = stylize_video(
            clip, clip[0][::-1], params, TORCHVISION, config, video=Video(passes=3), flows=flows
        )
        out[devices] = run.frames
    err = float(np.abs(out[1] - out[4]).max())
    assert err < 2e-5, err
    return {"max abs difference": err}


CHECKS = {
    "spatial_equal_even": lambda: spatial_equal(64, 48),
    "spatial_equal_uneven": lambda: spatial_equal(45, 37),
    "spatial_partitioned": spatial_partitioned,
    "stylize_spatial": stylize_spatial,
    "stylize_batch": stylize_batch,
    "batch_share": batch_share,
    "resume_sharded": resume_sharded,
    "video_sharded": video_sharded,
}


def main(names: list[str]) -> None:
    """Runs the named checks (all with no names); one JSON line: check -> result or error."""
    assert jax.device_count() == 8, jax.device_count()
    out = {}
    for name in names or sorted(CHECKS):
        try:
            out[name] = CHECKS[name]()
        except AssertionError as e:  # reported per check by the test
            out[name] = {"failed": repr(e)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
