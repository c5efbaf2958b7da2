"""Checkpoints: a resumed run equals the uninterrupted one; another run's file is refused."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ZIP_UNSUPPORTED, smooth_image, zip_unsupported

from jaxstyle.config import Config
from jaxstyle.errors import CheckpointError
from jaxstyle.model.preprocess import TORCHVISION
from jaxstyle.run import checkpoint
from jaxstyle.run.stylize import stylize
from jaxstyle.solve import solvers, transfer


def rosenbrock(x, shared, item):
    """A curved valley per item, scaled by ``item``: the memory and line search matter."""
    a, b = x[:-1], x[1:]
    value = item[0] * jnp.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)
    return value, {"first": x[0]}


SOLVERS = {
    "lbfgs": (solvers.Solver("lbfgs"), True),
    "optax": (solvers.Solver("optax"), True),
    "jaxopt": (solvers.Solver("jaxopt"), True),
    "jaxopt-device": (solvers.Solver("jaxopt"), False),  # the fori_loop chunks of a GPU
    "adam": (solvers.Solver("adam", learning_rate=0.05), True),
}


def _run(solver, host, iterations, resume=None, done=0):
    x0 = jnp.stack([jnp.full(6, -1.0), jnp.linspace(-1.0, 1.0, 6)])
    items = jnp.asarray([[1.0], [0.5]], jnp.float32)
    kw = {"chunk": 3, "host": host, "resume": resume, "done": done}
    steps = list(solvers.iterate(rosenbrock, x0, None, items, solver, iterations, **kw))
    like = solvers.carry_like(rosenbrock, x0, None, items, solver)
    return steps, like


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_a_resumed_run_is_the_uninterrupted_run(tmp_path, name):
    solver, host = SOLVERS[name]
    whole, _ = _run(solver, host, 12)
    first, (carry_like, records_like) = _run(solver, host, 6)
    saved = first[-1].carry
    leaves = [np.array(a) for a in jax.tree.leaves(transfer.host(saved))]  # before any reuse
    where = checkpoint.Checkpoint(tmp_path / "c.npz")
    records = jax.tree.map(lambda *r: np.concatenate(r), *[p.records for p in first])
    checkpoint.save(where, {"problem": "x"}, saved, records, 6)
    carry, got_records, done = checkpoint.load(
        where, {"problem": "x"}, carry_like, records_like, 12
    )
    assert done == 6
    # Every array of the state (the L-BFGS memory among them) comes back bit for bit.
    for got, want in zip(jax.tree.leaves(carry), leaves, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(jax.tree.leaves(got_records), jax.tree.leaves(records), strict=True):
        np.testing.assert_array_equal(got, want)
    rest, _ = _run(solver, host, 12, resume=carry, done=6)
    assert [len(p.records["value"]) for p in rest] == [3, 3]  # chunks still end at 9 and 12
    np.testing.assert_array_equal(rest[-1].best, whole[-1].best)
    tail = np.concatenate([p.records["value"] for p in whole])[6:]
    np.testing.assert_array_equal(np.concatenate([p.records["value"] for p in rest]), tail)


def _stylize(params, content, config, path, resume=False, every=None, **kw):
    where = checkpoint.Checkpoint(path, every=every, resume=resume)
    return stylize(content, content[::-1], params, TORCHVISION, config, checkpoint=where, **kw)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_stylize_resumes_where_it_stopped(slim_params, rng, tmp_path, optimizer):
    content = jnp.asarray(smooth_image(rng, 24, 32))
    config = Config(iterations=10, chunk_size=2, optimizer=optimizer)
    key = jax.random.key(3)
    whole = stylize(content, content[::-1], slim_params, TORCHVISION, config, key=key)
    path = tmp_path / "c.npz"
    part = _stylize(
        slim_params, content, dataclasses.replace(config, iterations=6), path, every=3, key=key
    )
    assert len(part.history.total) == 6 and path.is_file()
    out = _stylize(slim_params, content, config, path, resume=True, key=key)
    np.testing.assert_allclose(out.image, whole.image, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out.history.total, whole.history.total, rtol=1e-6)
    # A resumed run rewrites its checkpoint at its end: it can grow again.
    again = _stylize(
        slim_params, content, dataclasses.replace(config, iterations=10), path, resume=True, key=key
    )
    np.testing.assert_array_equal(again.image, out.image)


CHANGES = {
    "ratio": ({"config": {"ratio": 0.5}}, "changed: ratio"),
    "content": ({"content": True}, "changed: content"),
    "seed": ({"key": jax.random.key(4)}, "changed: seed"),
    "history": ({"config": {"history_size": 3}}, "history size"),
    "fewer iterations": ({"config": {"iterations": 2}}, "more than the 2 asked"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_another_runs_checkpoint_is_refused(slim_params, rng, tmp_path, change):
    content = jnp.asarray(smooth_image(rng, 24, 32))
    config = Config(iterations=4, chunk_size=2, convolution="direct")
    path = tmp_path / "c.npz"
    _stylize(slim_params, content, config, path, every=4, key=jax.random.key(3))
    what, words = CHANGES[change]
    config = dataclasses.replace(config, **what.get("config", {}))
    if what.get("content"):
        content = content.at[0, 0].set(0.0)
    key = what.get("key", jax.random.key(3))
    with pytest.raises(CheckpointError, match=words) as e:
        _stylize(slim_params, content, config, path, resume=True, key=key)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


@pytest.mark.parametrize(
    "damage", ["missing", "flipped byte", "not a zip", "truncated", *ZIP_UNSUPPORTED]
)
def test_a_damaged_checkpoint_is_refused(tmp_path, damage):
    where = checkpoint.Checkpoint(tmp_path / "c.npz", resume=True)
    like = (np.zeros(64, np.float32), np.zeros(2, bool))
    checkpoint.save(where, {"p": "1"}, like, {"value": np.zeros((3, 1))}, 3)
    data = bytearray(where.path.read_bytes())
    if damage == "missing":
        where.path.unlink()
    elif damage == "flipped byte":
        start = data.index(b"\x93NUMPY")  # inside the first array's data
        data[start + 200] ^= 0x01
        where.path.write_bytes(bytes(data))
    elif damage == "not a zip":
        where.path.write_bytes(b"\x00" * 300)
    elif damage in ZIP_UNSUPPORTED:
        where.path.write_bytes(zip_unsupported(bytes(data), damage))
    else:
        where.path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(CheckpointError) as e:
        checkpoint.load(where, {"p": "1"}, like, {"value": 0}, 10)
    assert str(where.path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("every", [0, -3, True])
def test_checkpoint_every_must_be_a_positive_count(every):
    with pytest.raises(CheckpointError):
        checkpoint.Checkpoint("c.npz", every=every)
