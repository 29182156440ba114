"""The typed records of the history file: one failure episode, one finished run.

The writer (history.store) turns them into rows; history.reader answers from those rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FailureRecord:
    """One failure episode: a workload entering Failed / Degraded / long Pending.

    Identity: episode_id = f"{workload_id}@{timestamp.isoformat()}", where timestamp is when the
    workload entered that phase (UTC). Recording is idempotent on episode_id.
    """

    episode_id: str
    timestamp: datetime  # tz-aware UTC: when it entered the phase
    workload_id: str
    workload_name: str
    project: str
    department: str | None
    workload_type: str
    kind: str  # one of history.categories.KINDS
    category: str
    confidence: float
    summary: str
    evidence: str
    evidence_source: str
    recommendation: str
    node: str | None
    pod: str | None
    image: str | None
    gpus_requested: float | None
    exit_code: int | None
    details: Mapping[str, Any]
    logs_available: bool
    bundle: Mapping[str, Any]  # the raw evidence bundle (failure-signals.md format)
    cluster_id: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """One workload run that reached a terminal phase (Completed or Failed): the denominator of
    every failure rate. Identity: run_id = f"{workload_id}@{finished_at.isoformat()}"."""

    run_id: str
    workload_id: str
    workload_name: str
    project: str
    department: str | None
    workload_type: str
    phase: str  # "Completed" | "Failed"
    finished_at: datetime  # tz-aware UTC
    created_at: datetime | None
    node: str | None
    image: str | None
    gpus_requested: float | None
