"""A past episode's root cause from what the control plane keeps once its log is gone: the
attempt's own Run:ai event records, its pods' last termination (whose message holds the log's
tail under terminationMessagePolicy FallbackToLogsOnError) and the phase message.

Issue 12: a driver line saying the GPU's recovery action is "GPU Reset Required" is a hardware
fault whatever the application printed after it, for a past episode too.
"""

from __future__ import annotations

import json
import time
from typing import Any

from exporter.classifier import classify
from exporter.detect.episodes import Episode, parse_time
from exporter.evidence import gather
from exporter.model import Workload
from tests import test_evidence
from tests.fixtures_exporter import Answer, ScriptedServer
from tests.test_evidence import SCHEDULED, WORKLOAD, _at, _pod, status
from tests.test_evidence import TIMELINE as ATTEMPTS

clients = test_evidence.clients  # the fixture: a Run:ai and a Kubernetes client

RESET_LINE = ("NVRM: Xid (PCI:0000:3b:00): 154, GPU recovery action changed from 0x0 (None) "
              "to 0x1 (GPU Reset Required)")
TRACEBACK_AFTER = ("Traceback (most recent call last):\n  File \"/workspace/train.py\", line 9, "
                   "in <module>\nValueError: loss is nan")


def _script(scripted: ScriptedServer, events: list[dict[str, Any]],
            pods: list[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """TIMELINE's workload whose log cannot be read any more (403: no pods/log permission,
    or rotated away), with these Run:ai events in its history and these pods; its history."""
    records = (*ATTEMPTS, *SCHEDULED, *(
        {"meta": {"creationTimestamp": e["createdAt"], "type": "Event"}, "spec": {"event": e}}
        for e in events))
    scripted.script("/api/v1/workloads/w1/events", Answer(200, json.dumps({"events": []})))
    scripted.script("/api/v1/workloads/w1/pods", Answer(200, json.dumps({"pods": []})))
    scripted.script("/api/v1/namespaces/runai-team-a/pods",
                    Answer(200, json.dumps({"items": pods})))
    scripted.script("/api/v1/namespaces/runai-team-a/pods/train-1-0/log", Answer(403, json.dumps(
        {"kind": "Status", "code": 403, "message": "pods \"train-1-0\" is forbidden"})))
    scripted.script("/api/v1/namespaces/runai-team-a/events",
                    Answer(200, json.dumps({"items": []})))
    return records


def episode(minute: int, kind: str, records: tuple[dict[str, Any], ...]) -> Episode:
    """The past episode that entered its phase at `minute`, its timeline read."""
    at = parse_time(_at(minute))
    assert at is not None
    return Episode(f"w1@{at.isoformat()}", kind, at, Workload.from_api(WORKLOAD), False,
                   records)


def test_a_reset_required_line_in_a_past_attempts_run_ai_event_is_hardware(
    scripted: ScriptedServer, clients: Any
) -> None:
    runai, kube = clients
    records = _script(scripted, [
        {"type": "Warning", "reason": "XidError", "message": RESET_LINE, "source": "nvidia-dcgm",
         "createdAt": _at(2), "clusterId": "c"},
        {"type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed "
         "container main in pod train-1-0_runai-team-a", "source": "kubelet",
         "createdAt": _at(3), "clusterId": "c"},
    ], [])
    evidence = gather(episode(3, "failed", records), runai, kube,
                      deadline=time.monotonic() + 10)
    assert evidence.bundle["logs"] == "" and not evidence.logs_available
    verdict = classify(evidence.bundle)
    assert verdict.category == "gpu_hardware" and "GPU Reset Required" in verdict.evidence


def test_a_reset_required_line_in_a_past_termination_message_is_hardware(
    scripted: ScriptedServer, clients: Any
) -> None:
    """The degraded spell of attempt 2 left its crash in the recovered pod's lastState; its
    message is the log's tail (FallbackToLogsOnError): the driver line, then the traceback."""
    runai, kube = clients
    crashed = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": _at(12),
                              "message": f"{RESET_LINE}\n{TRACEBACK_AFTER}\n"}}
    recovered = _pod("train-1-0", 6, status(state={"running": {"startedAt": _at(13)}},
                                            last=crashed, restarts=4))
    records = _script(scripted, [], [recovered])
    evidence = gather(episode(10, "degraded", records[:8]), runai, kube,
                      deadline=time.monotonic() + 10)
    assert evidence.bundle["logs"] == ""
    [pod] = evidence.bundle["pods"]
    [cs] = pod["status"]["containerStatuses"]
    assert "GPU Reset Required" in cs["lastState"]["terminated"]["message"]
    verdict = classify(evidence.bundle)
    assert verdict.category == "gpu_hardware" and "GPU Reset Required" in verdict.evidence


def test_a_termination_message_is_the_log_when_the_log_is_gone() -> None:
    """FallbackToLogsOnError: the kubelet keeps the log's last lines as the message."""
    message = ("Traceback (most recent call last):\n  File \"/workspace/train.py\", line 9\n"
               "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 "
               "has a total capacity of 79.15 GiB of which 1.19 MiB is free.\n")
    bundle = {"workload": {"phase": "Failed", "phaseMessage": "Container exited with code 1"},
              "pods": [{"name": "p", "status": {"containerStatuses": [{
                  "name": "main", "state": {}, "lastState": {"terminated": {
                      "exitCode": 1, "reason": "Error", "message": message}}}]}}],
              "events": [], "logs": ""}
    assert classify(bundle).category == "gpu_oom"


def test_a_past_segfault_from_its_phase_message() -> None:
    """Exit 139 (SIGSEGV) without a GPU cause is the application's (failure-signals.md), also
    when only the history's phase message still says so; a bare exit 1 still says nothing."""
    def past(message: str) -> dict[str, Any]:
        return {"workload": {"phase": "Failed", "phaseMessage": message}, "pods": [],
                "events": [], "logs": ""}

    assert classify(past("Container exited with code 139")).category == "app_error"
    assert classify(past("Container exited with code 1")).category == "unknown"
    assert classify(past("Worker failed with exit code 134")).category == "unknown"
    with_xid = past("Container exited with code 139")
    with_xid["events"] = [{"type": "Warning", "reason": "XidError", "message": RESET_LINE}]
    assert classify(with_xid).category == "gpu_hardware"
