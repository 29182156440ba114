"""Which stretch of a workload's life one episode's evidence may come from.

A workload is resubmitted, restarted and rescheduled under one id, and its events, pods and
logs pile up across those attempts: a later run's successful pods, or an earlier attempt's OOM
event, say nothing about this episode and mislead the classifier. The phase timeline
(GET /workloads/{id}/history) tells the attempts apart: an attempt starts with the first phase
update after the previous one ended (Failed, Completed, Stopped...) and this episode's evidence
lies between that start and shortly after the episode (for a Pending or Degraded episode: until
the workload left that phase, since it kept producing evidence all along).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from exporter.detect.episodes import EPISODE_KINDS, parse_time
from history.identity import same_entry

# Phases (of Run:ai's Phase enum) after which the next phase update starts a new attempt:
# a resubmission, a restart, a resume.
ENDING_PHASES = frozenset({"Failed", "Completed", "Stopped"})
# A failure's own evidence arrives within minutes (the kill, the backoff, the job controller).
AFTER_FAILURE = timedelta(minutes=10)
# Control plane and cluster clocks differ a little: a pod may be stamped just before the phase.
CLOCK_SLACK = timedelta(seconds=60)


@dataclass(frozen=True)
class AttemptWindow:
    """[start, end] of one episode's attempt, UTC; evidence dated outside belongs elsewhere."""

    start: datetime  # the attempt's first phase update
    end: datetime | None  # shortly after the episode, or when its phase ended; None: ongoing
    # No later attempt has begun: the attempt's pods may still exist (a later one replaces them)
    latest: bool = True

    def holds(self, when: datetime | None) -> bool:
        return when is not None and self.start <= when and (self.end is None or when <= self.end)

    def holds_pod(self, created: datetime | None) -> bool:
        """A pod created during this attempt, up to the episode: its status may tell."""
        if created is None or created < self.start - CLOCK_SLACK:
            return False
        return self.end is None or created <= self.end


def phase_updates(records: Iterable[dict[str, Any]]) -> list[tuple[datetime, str, str]]:
    """(at, phase, phaseMessage) of every PhaseUpdate record, oldest first."""
    updates: list[tuple[datetime, str, str]] = []
    for record in records:
        meta, spec = _part(record, "meta"), _part(record, "spec")
        update = _part(spec, "phaseUpdate")
        at = parse_time(meta.get("creationTimestamp"))
        if meta.get("type") == "PhaseUpdate" and at is not None and update.get("phase"):
            updates.append((at, str(update["phase"]), str(update.get("phaseMessage") or "")))
    updates.sort(key=lambda u: u[0])
    return updates


def timeline_events(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Event records of a timeline: Run:ai keeps them after Kubernetes dropped its own."""
    found: list[dict[str, Any]] = []
    for record in records:
        meta = _part(record, "meta")
        event = _part(_part(record, "spec"), "event")
        if meta.get("type") == "Event" and event:
            if not event.get("createdAt"):
                event = {**event, "createdAt": meta.get("creationTimestamp")}
            found.append(event)
    return found


def _part(value: Any, key: str) -> dict[str, Any]:
    """value[key] when both are JSON objects, else {}: timelines are untrusted input."""
    part = value.get(key) if isinstance(value, dict) else None
    return part if isinstance(part, dict) else {}


def window_of(
    updates: list[tuple[datetime, str, str]], at: datetime, kind: str
) -> AttemptWindow | None:
    """The window of the episode that entered its phase at `at`; None when the timeline does
    not show that phase update (then nothing can be told apart: the caller falls back).
    `at` may be the listing's phaseUpdatedAt: the update of the episode's phase nearest to it
    within the tolerance of one phase change's stamps is the one."""
    near = [
        (abs(u[0] - at), i) for i, u in enumerate(updates)
        if EPISODE_KINDS.get(u[1]) == kind and same_entry(u[0], at)
    ]
    if not near:
        return None
    index = min(near)[1]
    at = updates[index][0]
    first = 0
    for i in range(index - 1, -1, -1):
        if updates[i][1] in ENDING_PHASES:
            first = i + 1
            break
    following = updates[index + 1][0] if index + 1 < len(updates) else None
    end: datetime | None = following  # Pending or Degraded: evidence accrues while it lasts
    if kind == "failed":
        end = at + AFTER_FAILURE if following is None else min(at + AFTER_FAILURE, following)
    later = any(
        updates[i][1] in ENDING_PHASES for i in range(index, len(updates) - 1)
    )
    return AttemptWindow(updates[first][0], end, latest=not later)
