"""The summary and recommendation sentences: the row's text, made specific by the details.

Only values that passed the strict patterns of details.py are inserted, and only into prose.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Hint = Callable[[Mapping[str, Any]], str | None]


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} bytes"


def _exit(d: Mapping[str, Any]) -> str | None:
    if "exit_code" not in d:
        return None
    signal = f" ({d['signal']})" if "signal" in d else ""
    return f"The container exited with code {d['exit_code']}{signal}."


# Per category, sentences added after the row's recommendation when their details exist.
HINTS: dict[str, tuple[Hint, ...]] = {
    "gpu_hardware": (
        lambda d: f"Xid {d['xid']} is a hardware-class error." if "xid" in d else None,
        lambda d: f"Start with node {d['node']}." if "node" in d else None,
    ),
    "node_failure": (lambda d: f"The node was {d['node']}." if "node" in d else None,),
    "preempted": (),
    "evicted": (lambda d: f"The pod ran on node {d['node']}." if "node" in d else None,),
    "unschedulable": (),
    "storage": (),
    "image_pull": (lambda d: f"The image was {d['image']}." if "image" in d else None,),
    "config_error": (
        lambda d: (
            f"Create secret {d['secret']} in the workload's namespace, or fix the name "
            "that refers to it."
            if "secret" in d
            else None
        ),
        lambda d: (
            f"Create config map {d['configmap']} in the workload's namespace, or fix the "
            "name that refers to it."
            if "configmap" in d
            else None
        ),
        lambda d: (
            "Exit 127 means the command was not found in the image."
            if d.get("exit_code") == 127
            else None
        ),
        lambda d: (
            "Exit 126 means the command exists but cannot be executed."
            if d.get("exit_code") == 126
            else None
        ),
    ),
    "cuda_driver": (lambda d: f"The node was {d['node']}." if "node" in d else None,),
    "oom_killed": (),
    "gpu_oom": (
        lambda d: (
            f"The failing allocation asked for {_bytes(d['oom_requested_bytes'])}."
            if "oom_requested_bytes" in d
            else None
        ),
    ),
    "cuda_error": (
        lambda d: f"Xid {d['xid']} is an application-class error." if "xid" in d else None,
    ),
    "nccl": (
        lambda d: f"Rank {d['rank']} is the first rank seen failing." if "rank" in d else None,
    ),
    "timeout": (),
    "app_error": (_exit,),
    "unknown": (_exit,),
}

UNKNOWN_SUMMARY = "No rule matched the evidence well enough to name a cause."
UNKNOWN_RECOMMENDATION = (
    "Read the kept evidence, the workload's events and the container log; if the cause is "
    "recognisable, it is worth adding a rule for it."
)


def recommend(category: str, base: str, details: Mapping[str, Any]) -> str:
    extra = [s for hint in HINTS.get(category, ()) if (s := hint(details))]
    return " ".join([base, *extra])
