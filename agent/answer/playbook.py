"""What to do about each root-cause category: the agent's remediation table, as data.

The classifier stores a recommendation per failure; this table gives the first action per
category when the agent ranks "what to do first" across many failures. Facts from
failure-signals.md; wording written here.
"""

from __future__ import annotations

# category -> (plain name, first action)
PLAYBOOK: dict[str, tuple[str, str]] = {
    "gpu_hardware": (
        "GPU hardware fault",
        "Cordon and drain the affected nodes, reset or replace the GPU, and resubmit elsewhere.",
    ),
    "node_failure": (
        "node failure",
        "Resubmit the workloads; have the node owner check why the node went NotReady.",
    ),
    "preempted": (
        "preemption",
        "Run critical jobs as non-preemptible or within quota, and checkpoint more often.",
    ),
    "evicted": (
        "eviction for node pressure",
        "Set memory requests equal to limits and use less local disk on the pressured nodes.",
    ),
    "unschedulable": (
        "unschedulable workload",
        "Request fewer GPUs, target another node pool, or raise the project's quota.",
    ),
    "storage": (
        "storage or volume problem",
        "Fix the PVC or mount, free disk space, or enlarge /dev/shm for data loaders.",
    ),
    "image_pull": (
        "image pull failure",
        "Fix the image name or tag, or add the registry's image pull secret.",
    ),
    "config_error": (
        "configuration error",
        "Fix the container command, or create the missing secret or config map.",
    ),
    "cuda_driver": (
        "CUDA driver or image mismatch",
        "Match the image's CUDA version to the node driver, and make sure a GPU is requested.",
    ),
    "oom_killed": (
        "host memory OOM kill",
        "Raise the memory limit, or use fewer data-loader workers and a smaller prefetch.",
    ),
    "gpu_oom": (
        "GPU out of memory",
        "Use a smaller batch, gradient checkpointing or mixed precision, or a larger GPU share.",
    ),
    "cuda_error": (
        "CUDA application error",
        "Debug the kernel with CUDA_LAUNCH_BLOCKING=1 and compute-sanitizer.",
    ),
    "nccl": (
        "NCCL / distributed communication failure",
        "Find the first rank that failed, check the IB/RoCE fabric, rerun with NCCL_DEBUG=INFO.",
    ),
    "timeout": (
        "time limit exceeded",
        "Raise the time limit, or checkpoint and resume.",
    ),
    "app_error": (
        "application error",
        "Read the traceback and fix the code or the data path.",
    ),
    "unknown": (
        "unknown cause",
        "Read the stored evidence; add a classifier rule if a pattern repeats.",
    ),
}


def plain_name(category: str) -> str:
    return PLAYBOOK.get(category, (category, ""))[0]


def first_action(category: str) -> str:
    return PLAYBOOK.get(category, ("", "Read the stored evidence."))[1]
