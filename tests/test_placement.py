"""Placement from the scheduler's own Scheduled event, in kube-scheduler's and KAI's words.

The KAI text is the KAI scheduler binder's format ("Successfully assigned pod %v/%v to node
%v at node-pool %v", reason Scheduled); the kube-scheduler's is Kubernetes' own.
"""

from __future__ import annotations

from typing import Any

import pytest

from exporter.detect.placement import Assignment, assignment
from exporter.evidence import placement


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Successfully assigned pod runai-team-a/train-1-0-0 to node dgx-a100-07 at node-pool "
         "default", Assignment("runai-team-a", "train-1-0-0", "dgx-a100-07", "default")),
        ("Successfully assigned pod runai-team-a/llm-ft-master-0 to node h100-12.cluster.local "
         "at node-pool h100", Assignment("runai-team-a", "llm-ft-master-0",
                                         "h100-12.cluster.local", "h100")),
        # a node in no pool: the binder prints an empty name
        ("Successfully assigned pod runai-b/x-0-0 to node n1 at node-pool ",
         Assignment("runai-b", "x-0-0", "n1", None)),
        ("Successfully assigned runai-team-a/train-1-0-0 to dgx-a100-07",
         Assignment("runai-team-a", "train-1-0-0", "dgx-a100-07", None)),
        ("Successfully assigned pod to node", None),
        ("0/8 nodes are available: 8 Insufficient nvidia.com/gpu.", None),
        (None, None),
    ],
)
def test_assignment_in_either_schedulers_words(message: Any, expected: Assignment | None) -> None:
    assert assignment(message) == expected


def _event(reason: str, message: str, pod: str, at: str) -> dict[str, Any]:
    return {"type": "Normal" if reason == "Scheduled" else "Warning", "reason": reason,
            "message": message, "createdAt": at, "involvedObject": {"kind": "Pod", "name": pod}}


def test_a_past_episode_on_a_run_ai_cluster_keeps_its_node() -> None:
    """Its pods are gone; the KAI scheduler's Scheduled events still place it."""
    events = [
        _event("Scheduled", "Successfully assigned pod runai-team-a/ft-master-0 to node "
               "dgx-03 at node-pool a100", "ft-master-0", "2026-11-26T10:00:00Z"),
        _event("Scheduled", "Successfully assigned pod runai-team-a/ft-worker-0 to node "
               "dgx-04 at node-pool a100", "ft-worker-0", "2026-11-26T10:00:01Z"),
        _event("Warning", "NCCL timeout", "ft-master-0", "2026-11-26T10:40:00Z"),
    ]
    assert placement(events) == ("ft-master-0", "dgx-03")
    assert placement(events[1:2]) == ("ft-worker-0", "dgx-04")


def test_the_classifier_names_the_node_from_the_kai_schedulers_event() -> None:
    from exporter.classifier import classify

    bundle = {
        "workload": {"name": "train-1", "phase": "Failed"},
        "events": [
            {"type": "Normal", "reason": "Scheduled", "createdAt": "2026-11-26T10:00:00Z",
             "message": "Successfully assigned pod runai-team-a/train-1-0-0 to node dgx-a100-07 "
                        "at node-pool default"},
            {"type": "Warning", "reason": "BackOff", "createdAt": "2026-11-26T10:20:00Z",
             "message": "Back-off restarting failed container train-1"},
        ],
        "pods": [],
        "logs": "",
    }
    details = classify(bundle).details
    assert details.get("node") == "dgx-a100-07" and details.get("pod") == "train-1-0-0"
