"""The traps of failure-signals.md, each as a bundle a keyword matcher gets wrong."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.classifier import classify


def event(reason: str, message: str = "", type_: str = "Warning") -> dict[str, Any]:
    return {"type": type_, "reason": reason, "message": message, "source": "kubelet"}


def pod(*states: dict[str, Any], node: str = "gpu-node-1", **status: Any) -> dict[str, Any]:
    containers = [
        {"name": f"c{i}", "restartCount": 0, "state": s, "lastState": {}}
        for i, s in enumerate(states)
    ]
    return {
        "name": "job-0-0",
        "nodeName": node,
        "status": {"phase": "Failed", "containerStatuses": containers, **status},
    }


def exited(code: int, reason: str = "Error") -> dict[str, Any]:
    return {"terminated": {"reason": reason, "exitCode": code}}


WATCHDOG = (
    "[rank1]:[E626 06:24:44.903881913 ProcessGroupNCCL.cpp:616] [Rank 1] Watchdog caught "
    "collective operation timeout: WorkNCCL(SeqNum=808, OpType=ALLREDUCE, NumelIn=9801523, "
    "NumelOut=9801523, Timeout(ms)=600000) ran for 600020 milliseconds before timing out."
)
OOM = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 128.00 MiB (GPU 0; 31.75 GiB "
    "total capacity; 31.03 GiB already allocated)"
)
BFC_WARNING = (
    "W external/xla/xla/tsl/framework/bfc_allocator.cc:310] Allocator (GPU_0_bfc) ran out of "
    "memory trying to allocate 3.37GiB with freed_by_count=0. The caller indicates that this is "
    "not a failure, but this may mean that there could be performance gains if more memory were "
    "available."
)

TRAPS: list[tuple[str, dict[str, Any], str]] = [
    ("exit 137 alone is not an OOM", {"pods": [pod(exited(137))]}, "unknown"),
    (
        "exit 137 with an OOM event is an OOM",
        {"pods": [pod(exited(137))], "events": [event("OOMKilling", "Killed process 42 (python)")]},
        "oom_killed",
    ),
    (
        "exit 137 with a preemption event is a preemption",
        {
            "pods": [pod(exited(137))],
            "events": [event("Preempted", "Preempted by team-a/urgent on node gpu-node-1")],
        },
        "preempted",
    ),
    (
        "exit 137 on an evicted pod is an eviction",
        {
            "pods": [
                pod(
                    exited(137),
                    reason="Evicted",
                    message="The node was low on resource: memory.",
                )
            ]
        },
        "evicted",
    ),
    (
        "an NCCL timeout after another rank's GPU OOM is the OOM",
        {"logs": "\n".join([OOM, WATCHDOG, WATCHDOG])},
        "gpu_oom",
    ),
    (
        "an NCCL timeout after a hardware Xid is the hardware",
        {
            "logs": WATCHDOG,
            "events": [
                event("XidError", "NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus")
            ],
        },
        "gpu_hardware",
    ),
    (
        "an NCCL timeout after another rank's traceback is the traceback",
        {"logs": "[rank3]: KeyError: 'labels'\n" + WATCHDOG},
        "app_error",
    ),
    ("an NCCL timeout alone is NCCL", {"logs": WATCHDOG}, "nccl"),
    (
        "BackoffLimitExceeded alone says only that retries ran out",
        {"events": [event("BackoffLimitExceeded", "Job has reached the specified backoff limit")]},
        "unknown",
    ),
    (
        "BackoffLimitExceeded over a missing secret is the missing secret",
        {
            "events": [
                event("BackoffLimitExceeded", "Job has reached the specified backoff limit"),
                event("Failed", 'Error: secret "hf-token" not found'),
            ]
        },
        "config_error",
    ),
    (
        "BackoffLimitExceeded over tracebacks is the application",
        {
            "events": [
                event("BackoffLimitExceeded", "Job has reached the specified backoff limit")
            ],
            "logs": "Traceback (most recent call last):\nValueError: lr must be positive",
        },
        "app_error",
    ),
    (
        "an out-of-memory warning does not outrank the traceback that ended the process",
        {"logs": "\n".join([BFC_WARNING, "Traceback (most recent call last):", "KeyError: 'O'"])},
        "app_error",
    ),
    (
        "a GPU OOM that is itself the last error stays a GPU OOM",
        {"logs": "Traceback (most recent call last):\n" + OOM},
        "gpu_oom",
    ),
    (
        "Xid 31 with an illegal address in user code is a CUDA error, not hardware",
        {
            "events": [
                event(
                    "XidError",
                    "NVRM: Xid (PCI:0000:65:00): 31, pid=991, Ch 00000008, "
                    "MMU Fault: ENGINE GRAPHICS",
                )
            ],
            "logs": "RuntimeError: CUDA error: an illegal memory access was encountered",
        },
        "cuda_error",
    ),
    (
        "Xid 79 is hardware whatever the log says after it",
        {
            "events": [
                event("XidError", "NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus")
            ],
            "logs": "RuntimeError: CUDA error: an illegal memory access was encountered\n"
            "Traceback (most recent call last):\nValueError: nothing to see",
        },
        "gpu_hardware",
    ),
    (
        "a scheduling failure that was resolved (the pod started) is not the cause",
        {
            "events": [
                event(
                    "FailedScheduling", "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
                ),
                event("Started", "Started container main", "Normal"),
            ],
            "pods": [pod(exited(1))],
            "logs": "Traceback (most recent call last):\nFileNotFoundError: /data/train.csv",
        },
        "app_error",
    ),
    (
        "the scheduler's 'preemption: ... not helpful' wording is not a preemption",
        {
            "events": [
                event(
                    "FailedScheduling",
                    "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 "
                    "nodes are available: 1 Preemption is not helpful for scheduling.",
                )
            ]
        },
        "unschedulable",
    ),
    (
        "a taint named not-ready in a scheduling message is not a node failure",
        {
            "events": [
                event(
                    "FailedScheduling",
                    "0/3 nodes are available: 3 node(s) had untolerated taint "
                    "{node.kubernetes.io/not-ready: }.",
                )
            ]
        },
        "unschedulable",
    ),
    (
        "'context deadline exceeded' from an image pull is not a workload timeout",
        {
            "events": [
                event(
                    "Failed",
                    'Failed to pull image "nvcr.io/nvidia/pytorch:24.05-py3": rpc error: code = '
                    "DeadlineExceeded desc = context deadline exceeded",
                )
            ]
        },
        "image_pull",
    ),
    (
        "the harmless projected-token FailedMount noise does not make a storage failure",
        {
            "events": [
                event(
                    "FailedMount",
                    'MountVolume.SetUp failed for volume "kube-api-access-x" : object '
                    '"team-a"/"kube-root-ca.crt" not registered',
                )
            ],
            "pods": [pod(exited(1))],
        },
        "app_error",
    ),
    (
        "healthy NCCL INFO chatter about NET/IB is not a network failure",
        {
            "logs": "node:1:1 [0] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB ; OOB eth0:10.0.0.1<0>\n"
            "Traceback (most recent call last):\nAssertionError: shapes differ",
        },
        "app_error",
    ),
    (
        "NCCL INFO plugin-probing chatter is neither NCCL nor a driver problem",
        {
            "logs": "n:1:1 [0] NCCL INFO NET/Plugin: Failed to find ncclNetPlugin_v8 symbol.\n"
            "n:1:1 [0] NCCL INFO NET/Plugin : Plugin load (libnccl-net.so) returned 2 : "
            "libnccl-net.so: cannot open shared object file: No such file or directory",
            "pods": [pod(exited(1))],
        },
        "app_error",
    ),
    (
        "a generic RunContainerError with a driver message is the driver",
        {
            "events": [
                event(
                    "Failed",
                    "Error: failed to start container: CUDA driver version is insufficient for "
                    "CUDA runtime version",
                )
            ],
            "pods": [pod({"waiting": {"reason": "RunContainerError"}})],
        },
        "cuda_driver",
    ),
    (
        "a liveness probe whose exec failed is not a broken command",
        {
            "events": [
                event(
                    "Unhealthy",
                    "Liveness probe errored: rpc error: code = Unknown desc = failed to exec in "
                    "container: OCI runtime exec failed: exec failed: unable to start container "
                    "process",
                )
            ]
        },
        "unknown",
    ),
    (
        "'Disk quota exceeded' is storage, not a scheduling quota",
        {"events": [event("Failed", "OSError: [Errno 122] Disk quota exceeded")]},
        "storage",
    ),
    (
        "a Java heap OutOfMemoryError is not a GPU OOM",
        {
            "logs": 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
            "pods": [pod(exited(1))],
        },
        "app_error",
    ),
]


@pytest.mark.parametrize(
    ("bundle", "expected"), [(b, e) for _, b, e in TRAPS], ids=[name for name, _, _ in TRAPS]
)
def test_trap(bundle: dict[str, Any], expected: str) -> None:
    verdict = classify(bundle)
    assert verdict.category == expected, (verdict.evidence_source, verdict.evidence)


def test_first_failing_rank_is_reported_for_nccl() -> None:
    logs = "\n".join(
        [
            "[rank5]:[E626 06:24:40 ProcessGroupNCCL.cpp:616] [Rank 5] Watchdog caught collective "
            "operation timeout: WorkNCCL(SeqNum=7) ran for 600001 milliseconds before timing out.",
            WATCHDOG,
        ]
    )
    verdict = classify({"logs": logs})
    assert verdict.category == "nccl"
    assert verdict.details["rank"] == 5
    assert "Rank 5 is the first rank seen failing" in verdict.recommendation


def test_recommendation_names_the_missing_secret_the_image_and_the_node() -> None:
    secret = classify({"events": [event("Failed", 'Error: secret "hf-token" not found')]})
    assert secret.details["secret"] == "hf-token"
    assert "Create secret hf-token" in secret.recommendation
    image = classify(
        {"events": [event("Failed", 'Failed to pull image "repo/trainer:v9": manifest unknown')]}
    )
    assert image.details["image"] == "repo/trainer:v9"
    assert "repo/trainer:v9" in image.recommendation
    xid = classify(
        {
            "events": [event("XidError", "NVRM: Xid (PCI:0000:3b:00): 48, DBE (double bit error)")],
            "pods": [pod(exited(1), node="dgx-07")],
        }
    )
    assert (xid.category, xid.details["xid"], xid.details["node"]) == ("gpu_hardware", 48, "dgx-07")
    assert "Xid 48" in xid.recommendation and "dgx-07" in xid.recommendation


def test_untrusted_names_that_fail_the_strict_pattern_never_reach_the_text() -> None:
    nasty = 'x"; rm -rf / #'
    verdict = classify(
        {
            "events": [event("Failed", f'Error: secret "{nasty}" not found')],
            "pods": [pod({"waiting": {"reason": "CreateContainerConfigError"}}, node="$(reboot)")],
        }
    )
    assert verdict.category == "config_error"
    assert "secret" not in verdict.details and "node" not in verdict.details
    assert "rm -rf" not in verdict.recommendation and "$(reboot)" not in verdict.recommendation


def test_gpu_oom_reports_the_requested_bytes() -> None:
    verdict = classify({"logs": OOM})
    assert verdict.details["oom_requested_bytes"] == 128 * 2**20
    assert "128.00 MiB" in verdict.recommendation


def test_signal_is_derived_from_the_exit_code() -> None:
    verdict = classify({"pods": [pod(exited(139))]})
    assert (verdict.category, verdict.details["signal"]) == ("app_error", "SIGSEGV")


def test_corroborating_rows_raise_confidence_a_little() -> None:
    single = classify({"pods": [pod(exited(137, "OOMKilled"))]})
    double = classify(
        {
            "pods": [pod(exited(137, "OOMKilled"))],
            "events": [event("OOMKilling", "Memory cgroup out of memory: Killed process 42")],
        }
    )
    assert single.category == double.category == "oom_killed"
    assert single.confidence < double.confidence <= 0.99
