"""Named scenarios: how many workloads, over how much simulated history, and what follows."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    # Workloads created before the scenario start (they exist at simulated "now").
    history_workloads: int
    history_days: float = 7.0
    # After the start, workloads keep arriving at the same rate for this long.
    future_days: float = 1.0


SCENARIOS: dict[str, ScenarioSpec] = {
    # Lively: a week of history and a month of arrivals ahead for --speed > 0.
    "demo": ScenarioSpec("demo", history_workloads=600, future_days=30.0),
    # The exporter's first-cycle benchmark: 10,000 workloads, well over 1,000 of them Failed.
    "large": ScenarioSpec("large", history_workloads=10_000, future_days=1.0),
    "empty": ScenarioSpec("empty", history_workloads=0, future_days=0.0),
}


def get_scenario(name: str, scale: int | None = None) -> ScenarioSpec:
    """The named scenario; `scale` overrides its workload count. Raises KeyError when unknown."""
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; choose one of {', '.join(sorted(SCENARIOS))}")
    spec = SCENARIOS[name]
    if scale is not None:
        if scale < 0:
            raise ValueError("--scale must be >= 0")
        spec = replace(spec, history_workloads=scale)
    return spec
