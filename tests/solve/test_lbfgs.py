"""jaxstyle.solve.lbfgs: the Python-stepped L-BFGS, checked against its textbook conditions
and, step for step, against torch.optim.LBFGS."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.solve import lbfgs
from jaxstyle.solve import linesearch as ls

C1, C2 = 1e-4, 0.9


def _run_search(search: ls.Search, phi) -> tuple[float, int]:
    t, evals = next(search), 0
    while True:
        evals += 1
        try:
            t = search.send(phi(t))
        except StopIteration as done:
            return done.value, evals


# 1-D functions phi(t) = (value, slope) along a descent direction from t = 0.
FUNCTIONS = {
    "quadratic, minimum at 3": lambda t: ((t - 3.0) ** 2, 2.0 * (t - 3.0)),
    "quadratic, minimum at 0.01": lambda t: ((t - 0.01) ** 2, 2.0 * (t - 0.01)),
    "quartic": lambda t: ((t - 2.0) ** 4 - 4 * t, 4 * (t - 2.0) ** 3 - 4.0),
    "exp": lambda t: (math.exp(-t) + 0.1 * t, 0.1 - math.exp(-t)),
    "non-finite past 0.5": lambda t: (
        ((t - 2.0) ** 2, 2.0 * (t - 2.0)) if t <= 0.5 else (math.inf, math.nan)
    ),
}


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("t0", [1.0, 1e-3, 20.0])
def test_strong_wolfe_meets_its_conditions(name, t0):
    phi = FUNCTIONS[name]
    f0, g0 = phi(0.0)
    t, evals = _run_search(ls.strong_wolfe(f0, g0, t0), phi)
    f, g = phi(t)
    assert t > 0 and evals <= 25
    assert f <= f0 + C1 * t * g0 + 1e-6 * abs(f0)  # sufficient decrease, up to rounding
    if name != "non-finite past 0.5":  # there the curvature point lies past the wall
        assert abs(g) <= -C2 * g0, (t, g, g0)


def test_strong_wolfe_returns_zero_when_nothing_decreases():
    phi = lambda t: (1.0 + t, -1.0)  # claims descent, yet rises  # noqa: E731
    t, evals = _run_search(ls.strong_wolfe(1.0, -1.0, 1.0, max_evals=10), phi)
    assert t == 0.0 and evals == 10


def test_strong_wolfe_grows_a_step_lost_in_rounding():
    # A float32 loss of 1e6 falling with slope -1: float32's spacing there is 0.0625, so
    # the first trials change nothing or round up. The slope is the evidence: grow.
    def phi(t):
        return float(np.float32(1e6) - np.float32(t)) + (0.0625 if t < 0.01 else 0.0), -1.0

    f0, g0 = 1e6, -1.0
    assert phi(1e-3)[0] > f0  # the first trial rounds up
    t, evals = _run_search(ls.strong_wolfe(f0, g0, 1e-3), phi)
    assert t > 1e-3 and phi(t)[0] < f0 and evals <= 25
    # Without the allowance it shrinks the step and gives up: the run would stop.
    assert _run_search(ls.strong_wolfe(f0, g0, 1e-3, eps=0.0), phi)[0] == 0.0


def test_strong_wolfe_extrapolates_where_the_loss_moves_by_rounding_only():
    # A float32 loss of 0.4 with slope -1e-9 and its minimum at t = 1e7: the first
    # trials from t = 1 change nothing but rounding. A cubic fitted to them has its
    # "minimum" behind the step, and taking its clamp (+1 % a trial) never left the
    # start in 25 evaluations; growing by the cap reaches the curvature in ~8.
    def phi(t):
        return float(np.float32(0.4 - 1e-9 * t + 0.5e-16 * t * t)), -1e-9 + 1e-16 * t

    f0, g0 = phi(0.0)
    assert phi(1.0)[0] == f0  # the first trial moves the float32 loss by nothing
    t, evals = _run_search(ls.strong_wolfe(f0, g0, 1.0), phi)
    assert abs(phi(t)[1]) <= -C2 * g0 and phi(t)[0] < f0, t
    assert evals <= 12


def test_fixed_step_halves_only_while_non_finite():
    assert _run_search(ls.fixed_step(1.0), lambda t: (5.0, 1.0)) == (1.0, 1)
    wall = lambda t: (1.0, 0.0) if t <= 0.3 else (math.nan, math.nan)  # noqa: E731
    assert _run_search(ls.fixed_step(1.0), wall) == (0.25, 3)


def _rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@jax.jit
def _probe(x, d, t):
    def one(x, d, t):
        xt = x + t * d
        f, g = jax.value_and_grad(_rosenbrock)(xt)
        return xt, f, g, jnp.vdot(g, d), {"f": f}

    return jax.vmap(one)(x, d, t)


STARTS = np.array([[-1.2, 1.0, -0.5, 0.3], [0.0, 0.0, 0.0, 0.0], [2.0, -1.0, 1.5, 0.5]])


@pytest.mark.parametrize("linesearch", lbfgs.LINESEARCHES)
@pytest.mark.parametrize("history", [3, 10])
def test_batch_items_run_independently(linesearch, history):
    # Lockstep probing must not couple the items: each equals its run alone. 20
    # iterations: still far from the minimum, where float32 noise would steer the
    # line searches of differently compiled programs apart.
    batch = list(
        lbfgs.steps(
            _probe,
            jnp.asarray(STARTS, jnp.float32),
            20,
            history_size=history,
            linesearch=linesearch,
        )
    )
    for i, start in enumerate(STARTS):
        alone = list(
            lbfgs.steps(
                _probe,
                jnp.asarray(start[None], jnp.float32),
                20,
                history_size=history,
                linesearch=linesearch,
            )
        )
        np.testing.assert_allclose(batch[-1].x[i], alone[-1].x[0], rtol=1e-5, atol=1e-6)
        assert [int(s.evaluations[i]) for s in batch] == [int(s.evaluations[0]) for s in alone]


def test_strong_wolfe_lbfgs_solves_rosenbrock():
    steps = list(lbfgs.steps(_probe, jnp.asarray(STARTS, jnp.float32), 100))
    np.testing.assert_allclose(steps[-1].x, np.ones_like(STARTS), atol=1e-3)
    values = np.stack([np.asarray(s.value) for s in steps])
    assert np.all(np.diff(values, axis=0) <= 1e-6 * np.abs(values[:-1]) + 1e-12)  # monotone
    np.testing.assert_array_equal(np.stack([np.asarray(s.aux["f"]) for s in steps]), values)


def test_nonfinite_region_is_stepped_around():
    # f is +inf outside |x| < 2 and the unit steps would jump there; the run stays finite.
    def f(x):
        return jnp.where(jnp.max(jnp.abs(x)) < 2.0, jnp.sum((x - 1.9) ** 2), jnp.inf)

    @jax.jit
    def probe(x, d, t):
        def one(x, d, t):
            xt = x + t * d
            v, g = jax.value_and_grad(f)(xt)
            return xt, v, g, jnp.vdot(g, d), None

        return jax.vmap(one)(x, d, t)

    for linesearch in lbfgs.LINESEARCHES:
        steps = list(lbfgs.steps(probe, jnp.full((1, 3), -1.9), 15, linesearch=linesearch))
        values = np.array([float(s.value[0]) for s in steps])
        assert np.all(np.isfinite(values)) and values[-1] < 1e-6 * 3 * 3.8**2, values


@pytest.mark.parametrize("history", [2, 5, 100])
def test_unit_steps_match_torch_lbfgs(history):
    # linesearch="none" is torch.optim.LBFGS(lr=1) without line_search_fn, step for step.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((12, 12))
    hessian = (a @ a.T / 12 + np.eye(12)).astype(np.float32)  # well conditioned SPD
    b = rng.standard_normal(12).astype(np.float32)
    x0 = (3 * rng.standard_normal(12)).astype(np.float32)

    def quartic(x, m, v):  # convex, not quadratic: the curvature pairs change
        return 0.5 * x @ m @ x - v @ x + 0.05 * (x**4).sum()

    h, bj = jnp.asarray(hessian), jnp.asarray(b)

    @jax.jit
    def probe(x, d, t):
        def one(x, d, t):
            xt = x + t * d
            v, g = jax.value_and_grad(lambda z: quartic(z, h, bj))(xt)
            return xt, v, g, jnp.vdot(g, d), None

        return jax.vmap(one)(x, d, t)

    iterations = 25
    ours = [
        float(s.value[0])
        for s in lbfgs.steps(
            probe, jnp.asarray(x0[None]), iterations, history_size=history, linesearch="none"
        )
    ]

    xt = torch.tensor(x0, requires_grad=True)
    ht, bt = torch.tensor(hessian), torch.tensor(b)
    opt = torch.optim.LBFGS(
        [xt],
        lr=1,
        max_iter=iterations,
        max_eval=10 * iterations,
        history_size=history,
        tolerance_grad=-1,
        tolerance_change=-1,
        line_search_fn=None,
    )
    theirs: list[float] = []

    def closure():
        opt.zero_grad()
        loss = quartic(xt, ht, bt)
        loss.backward()
        theirs.append(float(loss.detach()))
        return loss

    opt.step(closure)
    # torch reports the loss before each step and skips it after its last one.
    assert len(theirs) == iterations
    np.testing.assert_allclose(ours[:-1], theirs[1:], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("linesearch", ["strong-wolfe", "none"])
def test_iterates_do_not_depend_on_the_losss_scale(linesearch):
    # At scale 1e-6 |g|_1 < 1, where torch's first step min(1, 1/|g|_1) would be -g
    # itself: a step, and every later one through its curvature pair, a million times
    # shorter. With 1/|g|_1 both runs take the same steps.
    rng = np.random.default_rng(1)
    a = rng.standard_normal((12, 12))
    hessian = jnp.asarray(a @ a.T / 12 + np.eye(12), jnp.float32)
    x0 = jnp.asarray(3 * rng.standard_normal((1, 12)), jnp.float32)

    def run(scale):
        @jax.jit
        def probe(x, d, t):
            def one(x, d, t):
                xt = x + t * d
                f = lambda z: scale * (0.5 * z @ hessian @ z + 0.05 * (z**4).sum())  # noqa: E731
                v, g = jax.value_and_grad(f)(xt)
                return xt, v, g, jnp.vdot(g, d), None

            return jax.vmap(one)(x, d, t)

        steps = list(lbfgs.steps(probe, x0, 8, history_size=5, linesearch=linesearch))
        return np.asarray(steps[-1].x), float(steps[-1].value[0]) / scale

    (x_small, f_small), (x_one, f_one) = run(1e-6), run(1.0)
    assert f_one < 1e-2 * float(0.5 * x0[0] @ hessian @ x0[0])  # it got somewhere
    np.testing.assert_allclose(x_small, x_one, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(f_small, f_one, rtol=1e-3, atol=1e-6)
