"""Common real-world error lines, one per row, and the category each must land in."""

from __future__ import annotations

import pytest

from exporter.classifier import classify

LOG_LINES = [
    ("RuntimeError: CUDA error: out of memory", "gpu_oom"),
    ("torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.50 GiB", "gpu_oom"),
    (
        "ncclUnhandledCudaError: Call to CUDA function failed.\nCuda failure 'out of memory'",
        "gpu_oom",
    ),
    ("RuntimeError: NCCL communicator was aborted on rank 3.", "nccl"),
    ("torch.distributed.elastic.rendezvous.api.RendezvousTimeoutError", "nccl"),
    (
        "RuntimeError: Timed out initializing process group in store based barrier on rank: 3",
        "nccl",
    ),
    (
        "RuntimeError: The NVIDIA driver on your system is too old (found version 11040).",
        "cuda_driver",
    ),
    (
        "ImportError: libcudnn.so.8: cannot open shared object file: No such file or directory",
        "cuda_driver",
    ),
    ("RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable", "cuda_driver"),
    ("AssertionError: Torch not compiled with CUDA enabled", "cuda_driver"),
    ("RuntimeError: No CUDA GPUs are available", "cuda_driver"),
    ("OSError: [Errno 30] Read-only file system: '/model/cache'", "storage"),
    ("Bus error (core dumped)", "storage"),
    (
        "RuntimeError: unable to write to file </torch_2136_17>: No space left on device (28)",
        "storage",
    ),
    ("PermissionError: [Errno 13] Permission denied: '/data/out'", "app_error"),
    ("ModuleNotFoundError: No module named 'transformers'", "app_error"),
    ("ValueError: Expected input batch_size (32) to match target batch_size (16).", "app_error"),
    ("java.lang.OutOfMemoryError: Java heap space", "app_error"),
    ("/bin/sh: 1: torchrun: not found", "config_error"),
    ("exec /usr/local/bin/entrypoint.sh: no such file or directory", "config_error"),
    ("RuntimeError: CUDA error: device-side assert triggered", "cuda_error"),
    ("RuntimeError: CUDA error: misaligned address", "cuda_error"),
    ("Killed", "unknown"),
    ("(EngineCore_DP0 pid=17374) KeyError: 'model.layers.0.mlp'", "app_error"),
]

EVENTS = [
    (
        "FailedCreatePodSandBox",
        "Failed to create pod sandbox: rpc error: failed to setup network",
        "unknown",
    ),
    (
        "Unschedulable",
        "1/2 tasks in gang unschedulable: pod group is not ready, 2 Pending, 2 minAvailable",
        "unschedulable",
    ),
    (
        "FailedScheduling",
        '0/3 nodes are available: persistentvolumeclaim "data" not found.',
        "storage",
    ),
    ("Failed", "Error: couldn't find key HF_TOKEN in Secret team-a/hf", "config_error"),
    (
        "FailedCreate",
        'Error creating: pods "job-abc" is forbidden: failed quota: gpu-quota: must specify '
        "limits.nvidia.com/gpu",
        "config_error",
    ),
    (
        "Failed",
        "Error: failed to create containerd task: OCI runtime create failed: error running hook: "
        "nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.4, please "
        "update your driver to a newer version",
        "cuda_driver",
    ),
    ("Preempting", "Preempted in order to admit critical pod", "preempted"),
    ("Evicted", 'Container trainer exceeded its local ephemeral storage limit "5Gi". ', "evicted"),
    ("Unhealthy", "Liveness probe failed: connect: connection refused", "unknown"),
]


@pytest.mark.parametrize(
    ("line", "expected"), LOG_LINES, ids=[e + ":" + text[:30] for text, e in LOG_LINES]
)
def test_log_line(line: str, expected: str) -> None:
    assert classify({"logs": line}).category == expected


@pytest.mark.parametrize(("reason", "message", "expected"), EVENTS, ids=[r for r, _, _ in EVENTS])
def test_event(reason: str, message: str, expected: str) -> None:
    verdict = classify({"events": [{"type": "Warning", "reason": reason, "message": message}]})
    assert verdict.category == expected
