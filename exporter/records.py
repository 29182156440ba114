"""Turning an episode, its evidence and its classification into the records the store keeps."""

from __future__ import annotations

from typing import Any

from common.redaction import redact_json, redact_secrets
from exporter.detect.episodes import Episode, FinishedRun
from exporter.evidence import Evidence
from exporter.model import Classification, Workload
from history.categories import label_workload_type
from history.records import FailureRecord, RunRecord


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def workload_fields(workload: Workload) -> dict[str, Any]:
    """The columns a failure and a run both take from their workload, mapped once."""
    return {
        "workload_id": workload.id,
        "workload_name": workload.name,
        "project": workload.project,
        "department": workload.department,
        "workload_type": label_workload_type(workload.type),
        "gpus_requested": workload.gpus_requested,
    }


def failure_record(
    episode: Episode, evidence: Evidence, verdict: Classification
) -> FailureRecord:
    workload = evidence.workload or episode.workload
    details: dict[str, Any] = dict(verdict.details)
    if evidence.gaps:
        details["evidence_gaps"] = list(evidence.gaps)
    exit_code = details.get("exit_code")
    if not isinstance(exit_code, int) or isinstance(exit_code, bool):
        exit_code = evidence.exit_code
    node = _text(details.get("node")) or evidence.node
    return FailureRecord(
        **workload_fields(workload),
        episode_id=episode.episode_id,
        timestamp=episode.timestamp,
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
        image=workload.image or evidence.container_image,
        exit_code=exit_code,
        details=details,
        logs_available=evidence.logs_available,
        bundle=redact_json(evidence.bundle),
        cluster_id=workload.cluster_id,
    )


def run_record(run: FinishedRun, node: str | None) -> RunRecord:
    return RunRecord(
        **workload_fields(run.workload),
        run_id=run.run_id,
        phase=run.phase,
        finished_at=run.finished_at,
        created_at=run.workload.created_at,
        node=node,
        image=run.workload.image,
    )
