"""What really happened, for checking the monitor: failure episodes and finished runs."""

from __future__ import annotations

from typing import Any

from simulator.clock import iso
from simulator.generator import STUCK_PENDING_S
from simulator.world import World


def truth(world: World) -> dict[str, Any]:
    """Episodes and runs up to the simulated now (see README/fixture docs for the shape)."""
    now = world.now
    episodes: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    for spec in world.specs:
        if world.current[spec.index] < 0:
            continue
        for ep in spec.episodes:
            if ep.at > now:
                break
            if ep.kind == "pending" and now - ep.at <= STUCK_PENDING_S:
                continue
            episodes.append({
                "workload_id": spec.id, "workload_name": spec.name,
                "project": spec.project.name, "workload_type": spec.type, "kind": ep.kind,
                "category": ep.category, "timestamp": iso(ep.at), "variant": ep.variant})
        for step in spec.steps:
            if step.at > now:
                break
            if step.phase in ("Completed", "Failed"):
                runs.append({"workload_id": spec.id, "phase": step.phase,
                             "finished_at": iso(step.at)})
    episodes.sort(key=lambda e: (e["timestamp"], e["workload_id"]))
    runs.sort(key=lambda r: (r["finished_at"], r["workload_id"]))
    return {"now": iso(now), "episodes": episodes, "runs": runs}
