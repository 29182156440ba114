"""Turning an episode, its evidence and its classification into the records the store keeps."""

from __future__ import annotations

from typing import Any

from common.redaction import redact_json, redact_secrets
from exporter.detect.episodes import Episode, FinishedRun, parse_time
from exporter.evidence import Evidence
from exporter.model import Classification
from history.categories import label_workload_type
from history.records import FailureRecord, RunRecord


def gpus_requested(workload: dict[str, Any]) -> float | None:
    resources = workload.get("workloadRequestedResources") or {}
    gpu = resources.get("gpu") if isinstance(resources, dict) else None
    value = gpu.get("request") if isinstance(gpu, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def first_image(workload: dict[str, Any]) -> str | None:
    images = workload.get("images")
    if isinstance(images, list):
        return next((str(i) for i in images if i), None)
    return None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def failure_record(
    episode: Episode, evidence: Evidence, verdict: Classification
) -> FailureRecord:
    workload = evidence.bundle.get("workload") or episode.workload
    details: dict[str, Any] = dict(verdict.details)
    if evidence.gaps:
        details["evidence_gaps"] = list(evidence.gaps)
    exit_code = details.get("exit_code")
    if not isinstance(exit_code, int) or isinstance(exit_code, bool):
        exit_code = evidence.exit_code
    node = _text(details.get("node")) or evidence.node
    return FailureRecord(
        episode_id=episode.episode_id,
        timestamp=episode.timestamp,
        workload_id=str(workload.get("id") or episode.workload.get("id")),
        workload_name=str(workload.get("name") or ""),
        project=str(workload.get("projectName") or ""),
        department=_text(workload.get("departmentName")),
        workload_type=label_workload_type(workload.get("type")),
        kind=episode.kind,
        category=verdict.category,
        confidence=verdict.confidence,
        # Quoted from logs: a password or token a program printed is dropped before it is stored.
        summary=redact_secrets(verdict.summary),
        evidence=redact_secrets(verdict.evidence),
        evidence_source=verdict.evidence_source,
        recommendation=verdict.recommendation,
        node=node,
        pod=evidence.pod,
        image=first_image(workload) or evidence.container_image,
        gpus_requested=gpus_requested(workload),
        exit_code=exit_code,
        details=details,
        logs_available=evidence.logs_available,
        bundle=redact_json(evidence.bundle),
        cluster_id=_text(workload.get("clusterId")),
    )


def run_record(run: FinishedRun, node: str | None) -> RunRecord:
    w = run.workload
    return RunRecord(
        run_id=run.run_id,
        workload_id=str(w.get("id")),
        workload_name=str(w.get("name") or ""),
        project=str(w.get("projectName") or ""),
        department=_text(w.get("departmentName")),
        workload_type=label_workload_type(w.get("type")),
        phase=run.phase,
        finished_at=run.finished_at,
        created_at=parse_time(w.get("createdAt")),
        node=node,
        image=first_image(w),
        gpus_requested=gpus_requested(w),
    )
