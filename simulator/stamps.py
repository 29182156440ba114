"""The timestamps a real control plane writes for one phase change, which never quite agree.

A step's `at` (whole seconds) is when the change is visible through the API. Before it, in
this order: the pod finished (`completedAt`, terminal phases), the workload controller
recorded the phase (`phaseUpdatedAt`), and the history service wrote its record
(`meta.creationTimestamp`). They differ by milliseconds to seconds, drawn per (seed,
workload, step) from their own generator, so the scenario's other draws are unchanged and a
client that needs them equal is caught. Nothing is later than `at`, so nothing is in the future.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from simulator.model import WorkloadSpec

# Largest lag of each record behind the one after it (seconds), before scaling to the gap.
_COMPLETED_LAG = 2.0
_PHASE_LAG = 0.8
_HISTORY_LAG = 1.2
_TOTAL = _COMPLETED_LAG + _PHASE_LAG + _HISTORY_LAG


@dataclass(frozen=True, slots=True)
class StepStamps:
    phase_updated: float  # epoch seconds, millisecond precision
    completed: float
    history: float


def iso_ms(ts: float) -> str:
    """Epoch seconds to ISO-8601 UTC with milliseconds, as the control plane writes them."""
    millis = round(ts * 1000)
    whole, ms = divmod(millis, 1000)
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"


def _ms(ts: float) -> float:
    return round(ts * 1000) / 1000


def step_stamps(seed: int, spec: WorkloadSpec, index: int) -> StepStamps:
    step = spec.steps[index]
    if index == 0:  # the creation itself: one instant, equal to createdAt
        at = float(step.at)
        return StepStamps(at, at, at)
    gap = step.at - spec.steps[index - 1].at
    scale = min(1.0, 0.9 * gap / _TOTAL)
    rng = random.Random(f"stamps:{seed}:{spec.id}:{index}")
    history = _ms(step.at - rng.uniform(0.001, _HISTORY_LAG * scale))
    phase = _ms(history - rng.uniform(0.001, _PHASE_LAG * scale))
    completed = _ms(phase - rng.uniform(0.001, _COMPLETED_LAG * scale))
    return StepStamps(phase, completed, history)
