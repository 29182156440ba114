"""What really happened, for checking the monitor: failure episodes and finished runs.

`timestamp` is the moment the episode's phase change became visible (whole seconds). The API
never shows that instant itself: the listing's `phaseUpdatedAt` (`phase_updated_at`), the
history record's `meta.creationTimestamp` (`history_at`) and, for terminal phases,
`completedAt` (`completed_at`) each trail it by milliseconds to seconds (see stamps.py). A
monitor is scored right when it finds the episode, whichever of these it keys on.
"""

from __future__ import annotations

from typing import Any

from simulator.clock import iso
from simulator.generator import STUCK_PENDING_S
from simulator.payloads import TERMINAL
from simulator.stamps import iso_ms
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
            stamps = world.stamps(spec.index, ep.step)
            # Stuck as a monitor judges it: from the phaseUpdatedAt the API shows.
            if ep.kind == "pending" and now - stamps.phase_updated <= STUCK_PENDING_S:
                continue
            terminal = spec.steps[ep.step].phase in TERMINAL
            episodes.append({
                "workload_id": spec.id, "workload_name": spec.name,
                "project": spec.project.name, "workload_type": spec.type, "kind": ep.kind,
                "category": ep.category, "timestamp": iso(ep.at), "variant": ep.variant,
                "cluster_id": world.cluster_of(spec.index),
                "phase_updated_at": iso_ms(stamps.phase_updated),
                "history_at": iso_ms(stamps.history),
                "completed_at": iso_ms(stamps.completed) if terminal else None,
                "deleted": spec.deleted_at is not None and spec.deleted_at <= now,
                "attempt": ep.attempt})
        for i, step in enumerate(spec.steps):
            if step.at > now:
                break
            if step.phase in ("Completed", "Failed"):
                runs.append({"workload_id": spec.id, "phase": step.phase,
                             "finished_at": iso(step.at),
                             "completed_at": iso_ms(world.stamps(spec.index, i).completed)})
    episodes.sort(key=lambda e: (e["timestamp"], e["workload_id"]))
    runs.sort(key=lambda r: (r["finished_at"], r["workload_id"]))
    return {"now": iso(now), "episodes": episodes, "runs": runs}
