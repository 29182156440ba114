"""Which workloads are new failure episodes or new finished runs: pure functions of one listing.

An episode is a workload in Failed, Degraded, or Pending past a threshold; its identity is the
workload, its kind and the time it entered that phase, within history.identity's tolerance
(the listing's phaseUpdatedAt and the timeline's creationTimestamp of one phase change are not
equal), so the same episode seen on every cycle, in the timeline, or after a restart, is
recorded once, and a resubmitted workload that fails again is a new one. Its id is
"<workload id>@<the first stamp it was seen with>". A run is a workload that reached Completed
or Failed: the denominator of rates; its identity is the same, by phase.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from exporter.detect.identity import KnownEntries
from exporter.detect.stamps import parse_time as parse_time  # the detectors' one reader
from exporter.model import Workload
from history.identity import same_entry

TERMINAL_PHASES = ("Completed", "Failed")
EPISODE_KINDS = {"Failed": "failed", "Degraded": "degraded", "Pending": "pending"}


def make_id(workload_id: str, when: datetime) -> str:
    return f"{workload_id}@{when.isoformat()}"


@dataclass(frozen=True)
class Episode:
    episode_id: str
    kind: str  # "failed" | "degraded" | "pending"
    timestamp: datetime  # when the workload entered the phase (UTC)
    workload: Workload = field(compare=False, repr=False)  # as it was then
    current: bool = True  # False: the workload has moved on (found in its timeline)
    # The workload's phase timeline when it was read this cycle (exporter.detect.attempts tells this
    # episode's attempt from it); None: not read, the evidence gatherer reads it if it can.
    timeline: tuple[dict[str, Any], ...] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class FinishedRun:
    run_id: str
    phase: str  # "Completed" | "Failed"
    finished_at: datetime
    workload: Workload = field(compare=False, repr=False)


@dataclass
class Detection:
    episodes: list[Episode] = field(default_factory=list)
    runs: list[FinishedRun] = field(default_factory=list)
    phases: Counter[tuple[str, str]] = field(default_factory=Counter)  # (project, phase) -> n
    unparsable: int = 0  # workloads in a relevant phase without a usable timestamp


def episode_of(
    workload: Workload, now: datetime, pending_threshold: timedelta
) -> Episode | None:
    kind = EPISODE_KINDS.get(workload.phase)
    if kind is None:
        return None
    since, wid = workload.phase_updated_at, workload.id
    if since is None or not wid:
        return None
    if kind == "pending" and now - since <= pending_threshold:
        return None
    return Episode(make_id(wid, since), kind, since, workload)


def run_of(workload: Workload) -> FinishedRun | None:
    phase, wid = workload.phase, workload.id
    if phase not in TERMINAL_PHASES or not wid:
        return None
    finished = workload.completed_at or workload.phase_updated_at
    if finished is None:
        return None
    return FinishedRun(make_id(wid, finished), phase, finished, workload)


def detect(
    workloads: Iterable[Workload],
    *,
    now: datetime,
    pending_threshold: timedelta,
    known_episodes: KnownEntries | Set[str],
    known_runs: KnownEntries | Set[str],
) -> Detection:
    """New episodes and runs in one listing, plus the per-(project, phase) counts."""
    result = Detection()
    episodes: list[Episode] = []
    runs: list[FinishedRun] = []
    for workload in workloads:
        phase = workload.phase or "Unknown"
        result.phases[(workload.project, phase)] += 1
        relevant = phase in EPISODE_KINDS or phase in TERMINAL_PHASES
        episode = episode_of(workload, now, pending_threshold)
        run = run_of(workload)
        if relevant and episode is None and run is None and phase != "Pending":
            result.unparsable += 1
        if episode is not None:
            episodes.append(episode)
        if run is not None:
            runs.append(run)
    result.episodes = KnownEntries.of(known_episodes).new(episodes, episode_key)
    result.runs = KnownEntries.of(known_runs).new(runs, run_key)
    return result


def episode_key(episode: Episode) -> tuple[str, str, datetime]:
    return episode.workload.id, episode.kind, episode.timestamp


def run_key(run: FinishedRun) -> tuple[str, str, datetime]:
    return run.workload.id, run.phase, run.finished_at


def from_history(
    workload: Workload,
    records: Iterable[dict[str, Any]],
    *,
    now: datetime,
    pending_threshold: timedelta,
) -> tuple[list[Episode], list[FinishedRun]]:
    """Every episode and run in a workload's phase timeline (GET .../history), so phases it
    passed through between two polls, or before the monitor started, are not lost."""
    wid = workload.id
    if not wid:
        return [], []
    timeline = tuple(records)
    updates: list[tuple[datetime, str, str]] = []
    for record in timeline:
        meta = record.get("meta") or {}
        update = (record.get("spec") or {}).get("phaseUpdate") or {}
        at = parse_time(meta.get("creationTimestamp"))
        if meta.get("type") == "PhaseUpdate" and at is not None and update.get("phase"):
            updates.append((at, str(update["phase"]), str(update.get("phaseMessage") or "")))
    updates.sort(key=lambda u: u[0])
    episodes: list[Episode] = []
    runs: list[FinishedRun] = []
    for i, (at, phase, message) in enumerate(updates):
        as_then = past_state(workload, phase, message, at, latest=i == len(updates) - 1)
        kind = EPISODE_KINDS.get(phase)
        if kind == "pending":
            until = updates[i + 1][0] if i + 1 < len(updates) else now
            if until - at <= pending_threshold:
                kind = None
        if kind is not None:
            episodes.append(Episode(
                make_id(wid, at), kind, at, as_then, as_then is workload, timeline
            ))
        if phase in TERMINAL_PHASES:
            runs.append(FinishedRun(make_id(wid, at), phase, at, as_then))
    return episodes, runs


def past_state(
    workload: Workload, phase: str, message: str, at: datetime, *, latest: bool = True
) -> Workload:
    """The workload as it was when it entered `phase` (the listing shows only its present):
    the listing itself when this is its latest phase update and names the same entry."""
    listed = workload.phase_updated_at
    if latest and workload.phase == phase and listed is not None and same_entry(listed, at):
        return workload
    then = {k: v for k, v in workload.raw.items() if k not in ("phaseReason", "conditions")}
    stamp = at.isoformat().replace("+00:00", "Z")
    then.update(phase=phase, phaseMessage=message, phaseUpdatedAt=stamp)
    then["completedAt"] = stamp if phase in TERMINAL_PHASES else None
    return Workload.from_api(then)
