"""The three L-BFGS solvers on any x -> (loss, aux), alone and batched."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.options import LINESEARCHES
from jaxstyle.solve import common, solvers

# An ill-conditioned quadratic with its minimum at 3: L-BFGS territory, compiles fast.
SCALES = jnp.asarray(np.geomspace(1.0, 50.0, 6), jnp.float32)


def quadratic(x):
    r = x - 3.0
    return jnp.sum(SCALES * r * r), {"first": r[0]}


@pytest.mark.parametrize(
    ("optimizer", "linesearch"),
    [(o, ls) for o, searches in LINESEARCHES.items() for ls in searches],
)
def test_every_solver_minimises_a_quadratic(optimizer, linesearch):
    rate = {"learning_rate": 0.3} if optimizer == "adam" else {}  # the default suits pixels
    solver = solvers.Solver(optimizer, linesearch, **rate)
    _, hist = solvers.minimize(quadratic, jnp.zeros(6), 30, solver)
    assert hist["value"].shape == hist["evaluations"].shape == hist["aux"]["first"].shape == (30,)
    assert np.all(hist["evaluations"] >= 1)
    if linesearch == "none":
        assert np.all(hist["evaluations"] == 1)  # torch-like: one evaluation each
    assert float(hist["value"][-1]) < 1e-2 * float(quadratic(jnp.zeros(6))[0]), hist["value"]


@pytest.mark.parametrize("optimizer", ["optax", "jaxopt"])
def test_host_and_device_loops_agree(optimizer):
    def fun(x, shared, item):
        return quadratic(x * item)

    x0, items = jnp.zeros((2, 6)), jnp.asarray([[1.0], [2.0]], jnp.float32)
    solver = solvers.Solver(optimizer, "backtracking" if optimizer == "jaxopt" else "zoom")
    runs = {}
    for host in (True, False):
        out = list(solvers.iterate(fun, x0, None, items, solver, 5, chunk=3, host=host))
        runs[host] = (out[-1].best, np.concatenate([p.records["value"] for p in out]))
    np.testing.assert_allclose(runs[True][0], runs[False][0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(runs[True][1], runs[False][1], rtol=1e-4, atol=1e-6)


def test_a_non_finite_loss_stops_its_item_where_it_was():
    def fun(x, shared, item):  # item 1's loss is NaN everywhere
        return jnp.sum((x - 3.0) ** 2) * item[0], {}

    x0, items = jnp.zeros((2, 2)), jnp.asarray([1.0, jnp.nan])[:, None]
    out = list(solvers.iterate(fun, x0, None, items, solvers.Solver("optax", "none"), 4))
    x, hist = out[-1].best, out[-1].records
    np.testing.assert_array_equal(np.asarray(x[1]), np.zeros(2))
    assert np.all(np.isnan(hist["value"][:, 1])) and np.all(hist["evaluations"][:, 1] == 0)
    assert float(hist["value"][-1, 0]) < float(hist["value"][0, 0])


@pytest.mark.parametrize(
    ("batch", "hw", "want"), [(1, (512, 512), 100), (20, (512, 512), 17), (1, (4096, 4096), 5)]
)
def test_history_fits_the_memory_rule(batch, hw, want):
    got = common.history_size("lbfgs", None, batch, hw)
    assert got == want
    assert 2 * got * batch * hw[0] * hw[1] * 3 * 4 <= common.HISTORY_BYTES
    assert common.history_size("jaxopt", None, batch, hw) == min(10, want)
    assert common.history_size("lbfgs", 42, batch, hw) == 42  # the user's choice wins
