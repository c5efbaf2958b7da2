"""Interrupts that stop a run between compiled calls instead of killing it.

While an :class:`Interrupts` block is active in the main thread, the signals it names
(SIGINT by default: Ctrl-C, a notebook's stop button) only set :attr:`received`; the
run loop reads it after each compiled call and stops there, keeping its result. A
second signal of the same kind acts at once (SIGINT raises ``KeyboardInterrupt``, any
other takes its default action), so a stuck run can still be stopped. Off the main
thread, where Python cannot install handlers, the block changes nothing.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence
from types import FrameType, TracebackType
from typing import Any


class Interrupts:
    """Defers ``signals`` inside a ``with`` block; the handlers before it are restored after.

    Attributes:
        received: the first signal number caught, or ``None``.

    Example:
        >>> with Interrupts((signal.SIGINT,)) as caught:
        ...     signal.raise_signal(signal.SIGINT)  # deferred: no KeyboardInterrupt
        >>> signal.Signals(caught.received).name
        'SIGINT'
    """

    def __init__(self, signals: Sequence[int] = (signal.SIGINT,)) -> None:
        self.signals = tuple(signals)
        self.received: int | None = None
        self._before: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for s in self.signals:
                self._before[s] = signal.signal(s, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._restore()

    def _restore(self) -> None:
        for s, before in self._before.items():
            signal.signal(s, before)
        self._before = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            return
        self._restore()  # the second one: act now
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    @property
    def name(self) -> str | None:
        """``"SIGINT"``, ``"SIGTERM"``, ... of :attr:`received`."""
        return None if self.received is None else signal.Signals(self.received).name
