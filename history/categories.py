"""The root-cause categories: a contract shared by the database, metric labels,
dashboards, alerts and the agent. Order is the order of evidence (most decisive first)."""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "gpu_hardware",
    "node_failure",
    "preempted",
    "evicted",
    "unschedulable",
    "storage",
    "image_pull",
    "config_error",
    "cuda_driver",
    "oom_killed",
    "gpu_oom",
    "cuda_error",
    "nccl",
    "timeout",
    "app_error",
    "unknown",
)

# One failure episode is one of these kinds (failure_events.kind).
KINDS: tuple[str, ...] = ("failed", "degraded", "pending")

# Workload types used as a metric label. Anything else the API reports is exported as "other"
# so the label stays bounded.
WORKLOAD_TYPES: tuple[str, ...] = ("training", "workspace", "distributed", "inference", "other")


def label_workload_type(raw: str | None) -> str:
    value = (raw or "").strip().lower()
    return value if value in WORKLOAD_TYPES else "other"
