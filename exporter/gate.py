"""A hard cap on the requests in flight to one API, inside a window that adapts to its answers.

Evidence is gathered by many threads at once (exporter.monitor), and one sidecar must never
hammer a shared control plane: every request to an API passes its gate, which lets at most
`window` through at a time and never more than `cap`. A 429 or 503 (the server asking us to
slow down) halves the window; each answer that is not one grows it by 1/window, back to the
cap (additive increase, multiplicative decrease, as TCP does). The retry's own wait
(Retry-After) happens outside the gate, so a waiting request holds no slot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

SLOW_DOWN = frozenset({429, 503})


class Gate:
    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError(f"a gate lets at least one request through, not {cap}")
        self.cap = cap
        self.window = float(cap)
        self.in_flight = 0
        self.max_in_flight = 0  # the most ever in flight at once: never above cap
        self.slowed = 0  # times the window was halved
        self._cond = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the window's slots for the length of one request."""
        with self._cond:
            while self.in_flight >= max(1, int(self.window)):
                self._cond.wait()
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify()

    def answered(self, status: int | None) -> None:
        """Adapt the window to one answer (None: no answer, a timeout or a dropped connection:
        the server may be overloaded, so it counts as a request to slow down)."""
        with self._cond:
            if status is None or status in SLOW_DOWN:
                self.window = max(1.0, self.window / 2)
                self.slowed += 1
            else:
                self.window = min(float(self.cap), self.window + 1 / self.window)
            self._cond.notify_all()
