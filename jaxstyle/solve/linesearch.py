"""Line searches for :mod:`jaxstyle.solve.lbfgs`, as host-side generators of trial steps.

Each search yields a trial step ``t``, is sent ``(f(t), f'(t))`` back, and returns the
accepted step (``0.0``: none lowers the loss). Decisions are plain Python floats on the
host; the caller evaluates every trial with one compiled program.
"""

from __future__ import annotations

import math
from collections.abc import Generator

#: Sent ``(f(t), f'(t))`` after each trial step it yields; returns the accepted step.
Search = Generator[float, tuple[float, float], float]


def _cubic_min(
    p1: tuple[float, float, float], p2: tuple[float, float, float], lo: float, hi: float
) -> float:
    """Minimiser in ``[lo, hi]`` of the cubic through two ``(step, value, slope)``
    points (N&W eq. 3.59).

    Falls back to the midpoint when the cubic has no minimiser or an input is not finite.
    """
    (t1, f1, g1), (t2, f2, g2) = p1, p2
    mid = 0.5 * (lo + hi)
    if t1 == t2 or not all(map(math.isfinite, (f1, g1, f2, g2))):
        return mid
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (t1 - t2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return mid
    d2 = math.copysign(math.sqrt(disc), t2 - t1)
    denom = g2 - g1 + 2.0 * d2
    if denom == 0:
        return mid
    t = t2 - (t2 - t1) * (g2 + d2 - d1) / denom
    return min(max(t, lo), hi) if math.isfinite(t) else mid


def strong_wolfe(
    f0: float,
    g0: float,
    t: float,
    *,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_evals: int = 25,
    min_width: float = 0.0,
    eps: float = 1e-6,
) -> Search:
    """Line search for the strong Wolfe conditions (N&W Alg. 3.5 and 3.6).

    In the sufficient-decrease test, and in the bracketing's comparison with the previous
    trial, a loss within ``eps * |f0|`` counts as no increase (Hager & Zhang's
    approximate Wolfe conditions, their epsilon); the zoom compares with its lowest point
    strictly, so that it stays the lowest point found. So a trial whose loss differs from
    ``f0`` only by float32 rounding is judged by its slope: while the slope is still
    steep, the search grows the step instead of shrinking it.

    Args:
        f0: the loss at ``t = 0``.
        g0: its slope along the direction (negative).
        t: the first trial step.
        min_width: the zoom stops once the bracket is narrower (in units of ``t``).
        eps: the rounding allowance, relative to ``|f0|`` (float32's resolution of a
            sum is a few 1e-7).

    Yields trial steps and is sent ``(f(t), f'(t))`` for each. Returns the accepted
    step: one meeting both conditions, else the lowest point meeting sufficient
    decrease, else 0 (nothing lowered the loss).

    Example:
        >>> search = strong_wolfe(1.0, -2.0, 1.0)  # f(t) = (t - 1)^2 from t = 0
        >>> t = next(search)
        >>> try:
        ...     search.send(((t - 1) ** 2, 2 * (t - 1)))
        ... except StopIteration as done:
        ...     print(done.value)
        1.0
    """
    t_prev, f_prev, g_prev = 0.0, f0, g0
    tol = eps * abs(f0)
    evals = 0
    while True:  # bracketing: grow t until the bracket [lo, hi] holds a Wolfe point
        f, g = yield t
        evals += 1
        if not math.isfinite(f) or f > f0 + c1 * t * g0 + tol or (evals > 1 and f > f_prev + tol):
            lo, hi = (t_prev, f_prev, g_prev), (t, f, g)
            break
        if abs(g) <= -c2 * g0:
            return t
        if g >= 0:
            lo, hi = (t, f, g), (t_prev, f_prev, g_prev)
            break
        if evals >= max_evals:
            return t
        # Extrapolate to where the slope, secant through the last two, reaches zero,
        # capped at 10 t: from the slopes alone, as the losses of two nearby trials
        # may differ by rounding only (a cubic through them, torch's choice, crept by
        # 1 % per evaluation there, and moved by 0.2 % per ulp of a loss).
        flatter = g - g_prev
        t_next = 10.0 * t if flatter <= 0 else t - g * (t - t_prev) / flatter
        t_next = min(max(t_next, t + 0.01 * (t - t_prev)), 10.0 * t)
        t_prev, f_prev, g_prev, t = t, f, g, t_next
    while evals < max_evals:  # zoom: lo is always the lowest point with sufficient decrease
        a, b = sorted((lo[0], hi[0]))
        width = b - a
        if width <= min_width:
            break
        t = _cubic_min(lo, hi, a, b)
        t = min(max(t, a + 0.1 * width), b - 0.1 * width)  # keep shrinking the bracket
        f, g = yield t
        evals += 1
        if not math.isfinite(f) or f > f0 + c1 * t * g0 + tol or f >= lo[1]:
            hi = (t, f, g)
            continue
        if abs(g) <= -c2 * g0:
            return t
        if g * (hi[0] - lo[0]) >= 0:
            hi = lo
        lo = (t, f, g)
    return lo[0]


def fixed_step(t: float, *, max_evals: int = 25) -> Search:
    """Takes step ``t`` whatever the loss does, halving it only while the loss is non-finite."""
    for _ in range(max_evals):
        f, _ = yield t
        if math.isfinite(f):
            return t
        t *= 0.5
    return 0.0
