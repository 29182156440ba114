"""The root-cause categories and what the product knows about each: one table.

The category strings are a contract shared by the database, metric labels, dashboards, alerts
and the agent. Order is the order of evidence (most decisive first, failure-signals.md). Every
consumer reads this table: the classifier's advice, the agent's playbook and answers, the web
UI (served as JSON by the agent's API), and the generated dashboards and alerts; a test fails
when any of them misses a category.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Category:
    name: str  # the contract string
    label: str  # plain name for people
    summary: str  # one line: what it means
    advice: str  # what to do first (the agent ranks "what to fix first" by this)
    steps: tuple[str, ...]  # the playbook, in order
    colour: str  # the chart colour, the same in the web UI and the dashboards
    # A node can cause it: counted per node, and the node's alerts name the node.
    node_attributable: bool
    alert: str | None  # the alert group that reads it ("gpu_hardware", "oom"), None: no own alert

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


TABLE: tuple[Category, ...] = (
    Category(
        "gpu_hardware", "GPU hardware fault", "the GPU or its node is faulty",
        "Cordon and drain the affected nodes, reset or replace the GPU, and resubmit elsewhere.",
        ("Cordon the node so nothing new lands on it.",
         "Read the Xid in the evidence: a reset or reboot Xid means the GPU needs service.",
         "Reset the GPU or hand the node to its owner.", "Resubmit the workload elsewhere."),
        "#d62728", True, "gpu_hardware",
    ),
    Category(
        "node_failure", "node failure", "the node died or became unreachable",
        "Resubmit the workloads; have the node owner check why the node went NotReady.",
        ("Resubmit the workload.", "Check the node's conditions and kubelet logs.",
         "Cordon the node if it fails again."),
        "#8c1c13", True, None,
    ),
    Category(
        "preempted", "preemption", "reclaimed or preempted by the scheduler; not a job bug",
        "Run critical jobs as non-preemptible or within quota, and checkpoint more often.",
        ("Resubmit within the project's quota or as non-preemptible.",
         "Checkpoint often enough that a preemption costs little."),
        "#9467bd", False, None,
    ),
    Category(
        "evicted", "eviction for node pressure", "the kubelet evicted the pod for node pressure",
        "Set memory requests equal to limits and use less local disk on the pressured nodes.",
        ("Set memory requests equal to limits.", "Write less to local disk (ephemeral storage).",
         "Check which node is under pressure and why."),
        "#c5b0d5", True, None,
    ),
    Category(
        "unschedulable", "unschedulable workload", "the workload cannot be scheduled",
        "Request fewer GPUs, target another node pool, or raise the project's quota.",
        ("Read the scheduler's message: GPUs, taints, affinity or quota.",
         "Request fewer GPUs or another node pool.", "Ask for more quota if the project needs it."),
        "#7f7f7f", False, None,
    ),
    Category(
        "storage", "storage or volume problem", "a volume or disk problem",
        "Fix the PVC or mount, free disk space, or enlarge /dev/shm for data loaders.",
        ("Check the PVC is bound and not attached elsewhere (Multi-Attach).",
         "Free disk space on the volume.", "Enlarge /dev/shm for data loaders."),
        "#8c564b", True, None,
    ),
    Category(
        "image_pull", "image pull failure", "the image cannot be pulled",
        "Fix the image name or tag, or add the registry's image pull secret.",
        ("Check the image name and tag exist.", "Add the registry's image pull secret."),
        "#e377c2", False, None,
    ),
    Category(
        "config_error", "configuration error", "the pod spec or entrypoint is wrong",
        "Fix the container command, or create the missing secret or config map.",
        ("Create the missing secret or config map, or fix its name.",
         "Fix the command: exit 127 is 'not found', 126 'cannot execute'."),
        "#bcbd22", False, None,
    ),
    Category(
        "cuda_driver", "CUDA driver or image mismatch", "CUDA driver, runtime or image mismatch",
        "Match the image's CUDA version to the node driver, and make sure a GPU is requested.",
        ("Match the image's CUDA version to the node's driver.",
         "Make sure the workload requests a GPU.", "Check the node's NVIDIA container runtime."),
        "#ff7f0e", True, None,
    ),
    Category(
        "oom_killed", "host memory OOM kill", "the container exceeded its memory limit (host RAM)",
        "Raise the memory limit, or use fewer data-loader workers and a smaller prefetch.",
        ("Raise the memory limit.", "Use fewer data-loader workers and a smaller prefetch."),
        "#ffbb78", False, "oom",
    ),
    Category(
        "gpu_oom", "GPU out of memory", "GPU memory was exhausted",
        "Use a smaller batch, gradient checkpointing or mixed precision, or a larger GPU share.",
        ("Use a smaller batch.", "Turn on gradient checkpointing or mixed precision.",
         "Ask for a larger GPU or GPU fraction."),
        "#1f77b4", False, "oom",
    ),
    Category(
        "cuda_error", "CUDA application error",
        "an application-level CUDA fault on healthy hardware",
        "Debug the kernel with CUDA_LAUNCH_BLOCKING=1 and compute-sanitizer.",
        ("Rerun with CUDA_LAUNCH_BLOCKING=1 to find the failing kernel.",
         "Run compute-sanitizer on a small input."),
        "#aec7e8", False, None,
    ),
    Category(
        "nccl", "NCCL / distributed communication failure",
        "distributed communication failed, and it is the root cause",
        "Find the first rank that failed, check the IB/RoCE fabric, rerun with NCCL_DEBUG=INFO.",
        ("Find the first rank that failed.", "Check the IB/RoCE fabric of its node.",
         "Rerun with NCCL_DEBUG=INFO."),
        "#17becf", True, None,
    ),
    Category(
        "timeout", "time limit exceeded", "the workload ran past its time limit",
        "Raise the time limit, or checkpoint and resume.",
        ("Raise the time limit.", "Checkpoint and resume."),
        "#98df8a", False, None,
    ),
    Category(
        "app_error", "application error", "the user's own code failed",
        "Read the traceback and fix the code or the data path.",
        ("Read the traceback in the evidence.", "Fix the code or the data path."),
        "#2ca02c", False, None,
    ),
    Category(
        "unknown", "unknown cause", "no rule matched with enough evidence",
        "Read the stored evidence; add a classifier rule if a pattern repeats.",
        ("Read the stored evidence, the workload's events and the container log.",
         "Add a classifier rule if the pattern repeats."),
        "#c7c7c7", False, None,
    ),
)

BY_NAME: dict[str, Category] = {c.name: c for c in TABLE}
CATEGORIES: tuple[str, ...] = tuple(c.name for c in TABLE)
NODE_CATEGORIES: tuple[str, ...] = tuple(c.name for c in TABLE if c.node_attributable)


def alert_categories(alert: str) -> tuple[str, ...]:
    """The categories one alert group reads, in table order."""
    return tuple(c.name for c in TABLE if c.alert == alert)


def label(category: str) -> str:
    """The plain name of a category; an unknown string is shown as itself."""
    known = BY_NAME.get(category)
    return known.label if known else category


def advice(category: str) -> str:
    known = BY_NAME.get(category)
    return known.advice if known else "Read the stored evidence."


# One failure episode is one of these kinds (failure_events.kind).
KINDS: tuple[str, ...] = ("failed", "degraded", "pending")

# Workload types used as a metric label. Anything else the API reports is exported as "other"
# so the label stays bounded.
WORKLOAD_TYPES: tuple[str, ...] = ("training", "workspace", "distributed", "inference", "other")


def label_workload_type(raw: str | None) -> str:
    value = (raw or "").strip().lower()
    return value if value in WORKLOAD_TYPES else "other"
