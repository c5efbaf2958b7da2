"""The fuzz suite's shared pieces: profiles, the byte mutator and the case counter.

Profiles (``JAXSTYLE_FUZZ``): ``quick`` (the README's test command: derandomised, so
every run tries the same cases) and ``long`` (``.ci/run`` after it: 4x the cases,
random unless pytest's ``--hypothesis-seed`` fixes them, as ``.ci/run`` does). Both keep
no example database and give each case a deadline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE = os.environ.get("JAXSTYLE_FUZZ", "quick")
SCALE = {"quick": 1, "long": 4}[PROFILE]


def fuzz_settings(examples: int, deadline_ms: int | None = 1000) -> settings:
    """``examples`` cases (times the profile's scale), a per-case deadline, no database."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None if deadline_ms is None else timedelta(milliseconds=deadline_ms),
        database=None,
        derandomize=PROFILE == "quick",
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few bytes set, flipped, inserted or deleted, often in its header,
    and sometimes cut short."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        n = len(data)
        if n == 0:
            break
        at = draw(st.one_of(st.integers(0, min(n, 96) - 1), st.integers(0, n - 1)))
        how = draw(st.sampled_from(["set", "flip", "insert", "delete", "max"]))
        if how == "set":
            data[at] = draw(st.integers(0, 255))
        elif how == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif how == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:  # a length or size field at its largest
            data[at : at + 4] = b"\xff\xff\xff\x7f"
    if draw(st.integers(0, 4)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


class Counter:
    """Counts a fuzz test's cases and its time; :meth:`record` puts them in the report."""

    def __init__(self) -> None:
        self.cases, self.start = 0, time.perf_counter()

    def tick(self) -> None:
        self.cases += 1

    def record(self, record_property: Callable[[str, object], None]) -> None:
        record_property("fuzz", (self.cases, round(time.perf_counter() - self.start, 1)))
