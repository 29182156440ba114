"""Simulated time: scenario start + real elapsed * speed + whatever an admin call added."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def iso(ts: float) -> str:
    """Epoch seconds to the API's ISO-8601 UTC form (whole seconds, Z suffix)."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> float:
    """ISO-8601 to epoch seconds; naive values are taken as UTC. Raises ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class SimClock:
    """Simulated now in epoch seconds. `speed` 0 freezes it; `advance` always works."""

    def __init__(self, start: float, speed: float, real_clock: Callable[[], float]) -> None:
        self.start = float(int(start))
        self.speed = speed
        self._real = real_clock
        self._real_at_start = real_clock()
        self._advanced = 0.0

    def now(self) -> float:
        elapsed = max(0.0, self._real() - self._real_at_start)
        return self.start + elapsed * self.speed + self._advanced

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        self._advanced += seconds
        return self.now()
