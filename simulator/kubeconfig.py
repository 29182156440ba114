"""A kubeconfig that points at the simulator's Kubernetes subset."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def kubeconfig(server: str, token: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "runai-simulator", "cluster": {"server": server}}],
        "users": [{"name": "runai-failure-monitor", "user": {"token": token}}],
        "contexts": [{"name": "runai-simulator",
                      "context": {"cluster": "runai-simulator", "user": "runai-failure-monitor",
                                  "namespace": "default"}}],
        "current-context": "runai-simulator",
    }


def write_kubeconfig(path: str | Path, server: str, token: str) -> Path:
    """Write it with mode 0600: it carries a bearer token."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(kubeconfig(server, token), fh, sort_keys=False)
    return target
