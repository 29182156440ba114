"""Injected faults: latency, 5xx, 429 with Retry-After, truncated or malformed bodies."""

from __future__ import annotations

import random
import re
from dataclasses import asdict, fields
from typing import Any

from simulator.config import FaultSettings

# Realistic latency grows with the page: a full page of 500 items costs 3.5x an empty one
# (serialising and shipping the items dominates on a real control plane).
ITEMS_PER_EXTRA_DRAW = 200

_LATENCY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?))?\s*(ms)?\s*$")


def parse_latency(text: str) -> tuple[float, float]:
    """"50-300ms" (or "50-300", or "100ms" for a fixed value) -> (50.0, 300.0) milliseconds."""
    match = _LATENCY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a latency range like 50-300ms")
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) is not None else low
    if low > high:
        raise ValueError(f"{text!r}: the minimum exceeds the maximum")
    return low, high


_INT_FIELDS = {"error_status", "fail_next", "rate_limit_next", "retry_after_s", "truncate_next",
               "malformed_next"}


class FaultState:
    def __init__(self, settings: FaultSettings, seed: int) -> None:
        self.settings = FaultSettings(**asdict(settings))
        self._initial = FaultSettings(**asdict(settings))
        self._rng = random.Random(f"faults:{seed}")
        self._latency_rng = random.Random(f"latency:{seed}")
        self.seed = seed

    def reset(self) -> None:
        self.settings = FaultSettings(**asdict(self._initial))
        self._rng = random.Random(f"faults:{self.seed}")
        self._latency_rng = random.Random(f"latency:{self.seed}")

    def latency_on(self) -> bool:
        return self.settings.latency_max_ms > 0

    def draw_latency(self, items: int) -> float:
        """Seconds to hold one answer carrying `items` items: a seeded draw in the range,
        times (1 + items / 200)."""
        s = self.settings
        base = self._latency_rng.uniform(s.latency_min_ms, s.latency_max_ms)
        return base * (1 + items / ITEMS_PER_EXTRA_DRAW) / 1000

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a JSON patch of FaultSettings fields; ValueError names the bad key."""
        known = {f.name: f for f in fields(FaultSettings)}
        staged = asdict(self.settings)
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(sorted(known))}")
            staged[key] = _coerce(key, value, staged[key])
        if not 0.0 <= staged["error_rate"] <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if staged["latency_min_ms"] > staged["latency_max_ms"]:
            raise ValueError("latency_min_ms must not exceed latency_max_ms")
        if not 400 <= staged["error_status"] <= 599:
            raise ValueError("error_status must be an HTTP error status")
        self.settings = FaultSettings(**staged)

    def applies(self, path: str) -> bool:
        return path.startswith(self.settings.path_prefix)

    def take_error(self) -> int | None:
        """The status to fail this request with, consuming counters; None to serve it."""
        s = self.settings
        if s.fail_next > 0:
            s.fail_next -= 1
            return s.error_status
        if s.error_rate > 0 and self._rng.random() < s.error_rate:
            return s.error_status
        return None

    def take_rate_limit(self) -> bool:
        if self.settings.rate_limit_next > 0:
            self.settings.rate_limit_next -= 1
            return True
        return False

    def corrupt(self, body: bytes) -> bytes:
        s = self.settings
        if s.truncate_next > 0:
            s.truncate_next -= 1
            return body[: max(1, len(body) // 2)]
        if s.malformed_next > 0:
            s.malformed_next -= 1
            return b'{"workloads": [{"id": "' + body[:16].replace(b'"', b"'") + b"<<garbage>>,]"
        return body

    def as_dict(self) -> dict[str, Any]:
        return asdict(self.settings)


def _coerce(key: str, value: Any, current: Any) -> Any:
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"fault {key!r} takes true or false")
        return value
    if key in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"fault {key!r} takes a non-negative integer")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"fault {key!r} takes a non-negative number")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"fault {key!r} takes a string")
    return value
