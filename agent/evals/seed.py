"""Seeded histories: a small declarative spec of rows -> a real DuckDB history file.

Used by the eval cases and by the tests' history fixture.

The rows go through the sidecar's own writer (history.store.HistoryStore), so the file has
the real schema (history.schema.MIGRATIONS) and the agent reads exactly what the sidecar writes.

A spec is JSON-shaped:
    {"failures": [{"workload_name": "train-llama-7b", "project": "team-a",
                   "category": "gpu_oom", "at": "-2d", "node": "node-1", "count": 3,
                   "every": "1h"}, ...],
     "runs": [{"project": "team-a", "phase": "Completed", "at": "-1d", "count": 10}, ...]}
`at` is ISO-8601 or an offset from `now` like "-2d", "-3h", "-1d6h30m". A failure of kind
"failed" also records its Failed run (the sidecar records both), unless "run": false.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common.errors import StoreError
from history.records import FailureRecord, RunRecord
from history.store import HistoryStore

# Plausible evidence per category, so seeded rows read like real ones.
EXAMPLE_EVIDENCE: dict[str, tuple[str, str]] = {
    "gpu_hardware": ("event", "NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus."),
    "node_failure": ("event", "Kubelet stopped posting node status."),
    "preempted": ("event", "Preempted by pod runai-team-b/infer-0 on node"),
    "evicted": ("pod_status", "The node was low on resource: memory."),
    "unschedulable": ("event", "0/8 nodes are available: 8 Insufficient nvidia.com/gpu."),
    "storage": ("event", 'MountVolume.SetUp failed: persistentvolumeclaim "data" not found'),
    "image_pull": ("pod_status", "ErrImagePull: manifest unknown"),
    "config_error": ("pod_status", 'CreateContainerConfigError: secret "hf-token" not found'),
    "cuda_driver": (
        "log",
        "CUDA driver version is insufficient for CUDA runtime version",
    ),
    "oom_killed": ("pod_status", "OOMKilled (exit code 137)"),
    "gpu_oom": ("log", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"),
    "cuda_error": ("log", "RuntimeError: CUDA error: an illegal memory access was encountered"),
    "nccl": ("log", "Watchdog caught collective operation timeout: WorkNCCL(SeqNum=42)"),
    "timeout": ("pod_status", "DeadlineExceeded: Job was active longer than specified deadline"),
    "app_error": ("log", "KeyError: 'labels'"),
    "unknown": ("none", ""),
}

HISTORIES_DIR = Path(__file__).resolve().parent / "histories"

_OFFSET = re.compile(r"-(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")


def parse_at(value: str, now: datetime) -> datetime:
    """ISO-8601 (tz-aware) or an offset from now such as "-2d", "-3h", "-1d6h30m"."""
    found = _OFFSET.fullmatch(value.strip())
    if found and any(found.groups()):
        days, hours, minutes = (int(g or 0) for g in found.groups())
        return now - timedelta(days=days, hours=hours, minutes=minutes)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no timezone; use UTC, e.g. {value}Z")
    return moment.astimezone(UTC)


def parse_every(value: str) -> timedelta:
    found = _OFFSET.fullmatch("-" + value.strip())
    if not found or not any(found.groups()):
        raise ValueError(f"bad interval {value!r}; use e.g. 1h, 2d, 30m")
    days, hours, minutes = (int(g or 0) for g in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


@dataclass(frozen=True)
class SeededRows:
    failures: tuple[FailureRecord, ...]
    runs: tuple[RunRecord, ...]


def _times(item: Mapping[str, Any], now: datetime) -> list[datetime]:
    first = parse_at(str(item.get("at", "-1h")), now)
    step = parse_every(str(item.get("every", "1h")))
    return [first - i * step for i in range(int(item.get("count", 1)))]


def _failure(item: Mapping[str, Any], at: datetime, index: int) -> FailureRecord:
    category = str(item.get("category", "app_error"))
    source, example = EXAMPLE_EVIDENCE.get(category, ("log", ""))
    name = str(item.get("workload_name", f"job-{category}-{index}"))
    workload_id = str(item.get("workload_id", f"wl-{name}"))
    bundle = item.get("bundle") or {
        "workload": {"name": name, "phase": "Failed", "projectName": item.get("project")},
        "events": [],
        "logs": str(item.get("evidence", example)),
    }
    return FailureRecord(
        episode_id=f"{workload_id}@{at.isoformat()}",
        timestamp=at,
        workload_id=workload_id,
        workload_name=name,
        project=str(item.get("project", "team-a")),
        department=item.get("department"),
        workload_type=str(item.get("workload_type", "training")),
        kind=str(item.get("kind", "failed")),
        category=category,
        confidence=float(item.get("confidence", 0.9)),
        summary=str(item.get("summary", f"{name} failed: {category.replace('_', ' ')}.")),
        evidence=str(item.get("evidence", example)),
        evidence_source=str(item.get("evidence_source", source)),
        recommendation=str(item.get("recommendation", f"Fix the {category} cause.")),
        node=item.get("node"),
        pod=item.get("pod", f"{name}-0-0"),
        image=item.get("image"),
        gpus_requested=item.get("gpus_requested", 1.0),
        exit_code=item.get("exit_code"),
        details=dict(item.get("details", {})),
        logs_available=bool(item.get("logs_available", True)),
        bundle=bundle,
        cluster_id=item.get("cluster_id"),
    )


def _run(item: Mapping[str, Any], at: datetime, phase: str, index: int) -> RunRecord:
    name = str(item.get("workload_name", f"job-{index}"))
    workload_id = str(item.get("workload_id", f"wl-{name}"))
    if "workload_name" not in item:
        workload_id = f"{workload_id}-{at.timestamp():.0f}"
    return RunRecord(
        run_id=f"{workload_id}@{at.isoformat()}",
        workload_id=workload_id,
        workload_name=name,
        project=str(item.get("project", "team-a")),
        department=item.get("department"),
        workload_type=str(item.get("workload_type", "training")),
        phase=phase,
        finished_at=at,
        created_at=at - timedelta(hours=1),
        node=item.get("node"),
        image=item.get("image"),
        gpus_requested=item.get("gpus_requested", 1.0),
    )


def rows_from_spec(spec: Mapping[str, Any], now: datetime) -> SeededRows:
    failures: list[FailureRecord] = []
    runs: list[RunRecord] = []
    for index, item in enumerate(spec.get("failures", ())):
        for at in _times(item, now):
            record = _failure(item, at, index)
            failures.append(record)
            if record.kind == "failed" and item.get("run", True):
                runs.append(_run(item, at, "Failed", index))
    for index, item in enumerate(spec.get("runs", ())):
        for at in _times(item, now):
            runs.append(_run(item, at, str(item.get("phase", "Completed")), 10_000 + index))
    return SeededRows(tuple(failures), tuple(runs))


def create_schema(path: str | Path) -> None:
    """An empty history file, created the way the sidecar creates it."""
    HistoryStore(path).open()


def write_history(
    path: str | Path,
    failures: Iterable[FailureRecord],
    runs: Iterable[RunRecord] = (),
) -> None:
    """Write the rows with the sidecar's own writer (history.store.HistoryStore), which creates
    the file through history.schema.MIGRATIONS when it is new."""
    store = HistoryStore(path)
    store.open()
    store.enqueue(failures, runs)
    result = store.flush()
    if result.error:
        raise StoreError(result.error)


def seed_history(path: str | Path, spec: Mapping[str, Any], now: datetime) -> SeededRows:
    rows = rows_from_spec(spec, now)
    write_history(path, rows.failures, rows.runs)
    return rows


def load_history_spec(name: str) -> dict[str, Any]:
    """A named history spec from agent/evals/histories/<name>.json."""
    path = HISTORIES_DIR / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in HISTORIES_DIR.glob("*.json")))
        raise ValueError(f"no seeded history named {name!r}; known: {known}")
    spec: dict[str, Any] = json.loads(path.read_text())
    return spec
