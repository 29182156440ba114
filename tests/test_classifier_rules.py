"""One row per rule: a minimal bundle that must be decided by exactly that rule.

A rule added to the table without a row here fails `test_every_rule_has_a_row`.
"""

from __future__ import annotations

from typing import Any

import pytest

from exporter.classifier import RULES, classify
from exporter.classifier.engine import evaluate
from exporter.classifier.facts import LOG, read
from exporter.classifier.rules import TERMINAL_ERROR
from history.categories import CATEGORIES


def event(reason: str, message: str = "") -> dict[str, Any]:
    return {"type": "Warning", "reason": reason, "message": message, "source": "kubelet"}


def container(state: dict[str, Any], name: str = "main") -> dict[str, Any]:
    return {"name": name, "restartCount": 0, "state": state, "lastState": {}}


def terminated(code: int, reason: str = "Error") -> dict[str, Any]:
    return {"terminated": {"reason": reason, "exitCode": code}}


def pods(*statuses: dict[str, Any], reason: str = "", message: str = "") -> list[dict[str, Any]]:
    return [
        {
            "name": "job-0-0",
            "nodeName": "gpu-node-1",
            "status": {
                "phase": "Failed",
                "reason": reason,
                "message": message,
                "containerStatuses": list(statuses),
            },
        }
    ]


def workload(message: str = "", reason: str = "") -> dict[str, Any]:
    return {
        "name": "job",
        "phase": "Failed",
        "phaseMessage": message,
        "conditions": [{"type": "Failed", "status": "True", "reason": reason, "message": message}],
    }


# rule id -> (bundle, category it must yield)
ROWS: dict[str, tuple[dict[str, Any], str]] = {
    "hw.xid": (
        {
            "events": [
                event("XidError", "NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus")
            ]
        },
        "gpu_hardware",
    ),
    "hw.recovery_action": (
        {"logs": "NVRM: Xid (PCI:0008:01:00): 154, GPU recovery action changed from 0x0 (None) "
                 "to 0x1 (GPU Reset Required)"},
        "gpu_hardware",
    ),
    "hw.gpu_fault": (
        {"logs": "RuntimeError: CUDA error: uncorrectable ECC error encountered"},
        "gpu_hardware",
    ),
    "hw.unhealthy_event": (
        {"events": [event("GPUUnhealthy", "health check failed")]},
        "gpu_hardware",
    ),
    "node.status": ({"events": [event("NodeNotReady", "Node is not ready")]}, "node_failure"),
    "node.message": (
        {
            "pods": pods(
                reason="Terminated",
                message="Pod was terminated in response to imminent node shutdown.",
            )
        },
        "node_failure",
    ),
    "preempt.signal": (
        {"events": [event("Preempted", "Preempted by default/high-prio on node gpu-node-1")]},
        "preempted",
    ),
    "preempt.message": (
        {"events": [event("Evict", "Pod is evicted, because of preempt")]},
        "preempted",
    ),
    "evict.status": ({"pods": pods(reason="Evicted")}, "evicted"),
    "evict.pressure": (
        {"workload": workload("The node had condition: [DiskPressure].")},
        "evicted",
    ),
    "evict.threshold_kill": (
        {
            "events": [event("EvictionThresholdMet", "Attempting to reclaim memory")],
            "pods": pods(container(terminated(137))),
        },
        "evicted",
    ),
    "storage.volume_event": (
        {"events": [event("FailedMount", "mount failed: exit status 32")]},
        "storage",
    ),
    "storage.volume_message": (
        {
            "workload": workload(
                "0/2 nodes are available: 2 pod has unbound immediate PersistentVolumeClaims.",
                reason="Unschedulable",
            )
        },
        "storage",
    ),
    "sched.failed": (
        {"events": [event("FailedScheduling", "0/4 nodes are available: 4 Insufficient cpu.")]},
        "unschedulable",
    ),
    "sched.message": (
        {
            "events": [
                event(
                    "FailedCreate",
                    'Error creating: pods "x" is forbidden: exceeded quota: gpu-quota',
                )
            ]
        },
        "unschedulable",
    ),
    "storage.shm": (
        {"logs": "RuntimeError: DataLoader worker (pid 12) is killed by signal: Bus error."},
        "storage",
    ),
    "storage.disk": ({"logs": "OSError: [Errno 28] No space left on device"}, "storage"),
    "image.event": (
        {"events": [event("Failed", 'Failed to pull image "repo/x:1": manifest unknown')]},
        "image_pull",
    ),
    "image.state": (
        {"pods": pods(container({"waiting": {"reason": "ErrImagePull"}}))},
        "image_pull",
    ),
    "driver.toolkit": (
        {
            "events": [
                event(
                    "Failed",
                    "nvidia-container-cli: initialization error: nvml error: driver not loaded",
                )
            ]
        },
        "cuda_driver",
    ),
    "config.state": (
        {"pods": pods(container({"waiting": {"reason": "CreateContainerError"}}))},
        "config_error",
    ),
    "config.message": ({"logs": "exec /app/run.sh: exec format error"}, "config_error"),
    "config.exit_code": ({"pods": pods(container(terminated(127)))}, "config_error"),
    "config.exit_message": (
        {"workload": {"phase": "Failed", "phaseMessage": "Container exited with code 126"}},
        "config_error",
    ),
    "driver.mismatch": (
        {"logs": "RuntimeError: Found no NVIDIA driver on your system."},
        "cuda_driver",
    ),
    "oom.reason": ({"pods": pods(container(terminated(137, "OOMKilled")))}, "oom_killed"),
    "oom.event": ({"events": [event("OOMKilling", "Killed process 4242 (python3)")]}, "oom_killed"),
    "oom.message": (
        {"logs": "Memory cgroup out of memory: Killed process 4242 (python3)"},
        "oom_killed",
    ),
    "oom.dataloader_killed": (
        {"logs": "RuntimeError: DataLoader worker (pid 77) is killed by signal: Killed."},
        "oom_killed",
    ),
    "gpu_oom.message": (
        {"logs": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB"},
        "gpu_oom",
    ),
    "cuda.xid": (
        {
            "events": [
                event("XidError", "NVRM: Xid (PCI:0000:3b:00): 13, Graphics SM Warp Exception")
            ]
        },
        "cuda_error",
    ),
    "cuda.fault": (
        {"logs": "RuntimeError: CUDA error: an illegal memory access was encountered"},
        "cuda_error",
    ),
    "cuda.generic": ({"logs": "RuntimeError: CUDA error: operation not supported"}, "cuda_error"),
    "nccl.fabric": (
        {"logs": "torch.distributed.DistNetworkError: Connection reset by peer"},
        "nccl",
    ),
    "nccl.collective": (
        {
            "logs": "[Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1, "
            "OpType=ALLREDUCE) ran for 600000 milliseconds before timing out."
        },
        "nccl",
    ),
    "timeout.deadline": ({"workload": workload("", reason="DeadlineExceeded")}, "timeout"),
    "timeout.message": (
        {"workload": workload("Job was active longer than specified deadline")},
        "timeout",
    ),
    "app.traceback": (
        {"logs": "Traceback (most recent call last):\nValueError: bad input"},
        "app_error",
    ),
    "app.crash": ({"logs": "Segmentation fault (core dumped)"}, "app_error"),
    "app.crash_exit": ({"pods": pods(container(terminated(139)))}, "app_error"),
    "app.exit_code": ({"pods": pods(container(terminated(1)))}, "app_error"),
    "app.segfault_message": ({"workload": workload("Container exited with code 139")},
                             "app_error"),
    "app.exit_message": (
        {"workload": workload("Container exited with code 2"), "logs": "epoch 3/10 done"},
        "app_error",
    ),
    # the same without the log that would say why: not decided
    "ctx.exit_message": ({"workload": workload("Container exited with code 2")}, "unknown"),
    "ctx.backoff_limit": (
        {"events": [event("BackoffLimitExceeded", "Job has reached the specified backoff limit")]},
        "unknown",
    ),
    "ctx.retries_message": ({"workload": workload("Job failed: retry limit reached")}, "unknown"),
    "ctx.killed": ({"pods": pods(container(terminated(137)))}, "unknown"),
    "ctx.crashloop": (
        {"pods": pods(container({"waiting": {"reason": "CrashLoopBackOff"}}))},
        "unknown",
    ),
    "ctx.launcher": (
        {"logs": "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:"},
        "unknown",
    ),
}


def deciding_rule(bundle: dict[str, Any]) -> str | None:
    outcome = evaluate(read(bundle), RULES, TERMINAL_ERROR)
    if outcome.winner is not None:
        return outcome.winner.rule.id
    return outcome.context[0].rule.id if outcome.context else None


def test_every_rule_has_a_row() -> None:
    assert {rule.id for rule in RULES} == set(ROWS)


def test_rule_ids_are_unique() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_is_well_formed(rule: Any) -> None:
    assert rule.category in CATEGORIES
    assert 0.0 < rule.confidence <= 1.0
    assert (rule.category == "unknown") == (not rule.decisive)
    assert rule.summary.endswith(".") and rule.recommendation.endswith(".")


@pytest.mark.parametrize("rule_id", sorted(ROWS))
def test_minimal_bundle_is_decided_by_its_rule(rule_id: str) -> None:
    bundle, category = ROWS[rule_id]
    assert deciding_rule(bundle) == rule_id
    verdict = classify(bundle)
    assert verdict.category == category
    assert verdict.evidence, "the deciding line or field is quoted"
    if verdict.category != "unknown":
        assert verdict.details.get("rule") == rule_id


LOG_ONLY = sorted(
    rule.id for rule in RULES if LOG in rule.when.sources and set(ROWS[rule.id][0]) == {"logs"}
)


def test_most_log_rules_have_log_only_rows() -> None:
    assert len(LOG_ONLY) >= 15


@pytest.mark.parametrize("rule_id", LOG_ONLY)
def test_log_rows_quote_the_log_line_exactly(rule_id: str) -> None:
    bundle, _ = ROWS[rule_id]
    verdict = classify(bundle)
    assert verdict.evidence_source == "log"
    assert verdict.evidence in bundle["logs"].splitlines()
