"""Kubernetes reads shared by one batch of episodes: a pod listing and an event listing per
namespace, instead of one of each per episode.

A first start gathers evidence for hundreds of episodes at once, many in one namespace (a
project's). Each asked for its workload's pods (labelSelector workloadName=<name>) and for
its failing pod's events (fieldSelector involvedObject.name=<pod>): a request each. Here the
batch's workloads of one namespace are asked for with one set-based selector (workloadName in
(a,b,...), at most NAMES_PER_LIST names a request), and the events of its pods with one
listing (fieldSelector involvedObject.kind=Pod), the first time an episode needs them; each
episode takes its own from those. A namespace with one episode of the batch is asked as before
(a listing would cost the same request and carry more). A batched listing that fails leaves
each episode to its own read, as before: a fault costs requests, never evidence.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from common.errors import UpstreamError
from exporter.kube.client import KubeClient

NAMES_PER_LIST = 50  # workload names in one selector: a URL of a few kB
# A label value the selector can carry as is (Kubernetes' own rule for label values).
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
Items = list[dict[str, Any]]


class KubeReads(Protocol):
    """What evidence gathering reads from Kubernetes (KubeClient, or a KubeBatch over it)."""

    def pods(self, namespace: str, workload_name: str,
             deadline: float | None = None) -> Items: ...
    def pod(self, namespace: str, name: str,
            deadline: float | None = None) -> dict[str, Any] | None: ...
    def events(self, namespace: str, involved_name: str,
               deadline: float | None = None) -> Items: ...
    def log(self, namespace: str, pod: str, container: str, *, tail_lines: int,
            previous: bool = False, deadline: float | None = None) -> str | None: ...


class KubeBatch:
    def __init__(self, kube: KubeClient, wanted: Iterable[tuple[str, str]]) -> None:
        """`wanted`: (namespace, workload name) of each episode of the batch."""
        self._kube = kube
        self._names: dict[str, list[str]] = {}  # namespace -> the batch's workload names
        for namespace, name in dict.fromkeys(wanted):
            self._names.setdefault(namespace, []).append(name)
        self._lock = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._listed: dict[tuple[str, str], dict[str, Items] | None] = {}

    def pods(self, namespace: str, workload_name: str, deadline: float | None = None) -> Items:
        names = [n for n in self._names.get(namespace, ()) if _LABEL_VALUE.match(n)]
        if len(names) < 2 or workload_name not in names:
            return self._kube.pods(namespace, workload_name, deadline)
        listed = self._once(("pods", namespace), lambda: _by(
            _label, (p for i in range(0, len(names), NAMES_PER_LIST)
                     for p in self._kube.pods_of(
                         namespace, names[i:i + NAMES_PER_LIST], deadline))))
        if listed is None:
            return self._kube.pods(namespace, workload_name, deadline)
        return listed.get(workload_name, [])

    def events(self, namespace: str, involved_name: str,
               deadline: float | None = None) -> Items:
        if len(self._names.get(namespace, ())) < 2:
            return self._kube.events(namespace, involved_name, deadline)
        listed = self._once(("events", namespace), lambda: _by(
            _involved, self._kube.pod_events(namespace, deadline)))
        if listed is None:
            return self._kube.events(namespace, involved_name, deadline)
        return listed.get(involved_name, [])

    def pod(self, namespace: str, name: str,
            deadline: float | None = None) -> dict[str, Any] | None:
        return self._kube.pod(namespace, name, deadline)

    def log(self, namespace: str, pod: str, container: str, *, tail_lines: int,
            previous: bool = False, deadline: float | None = None) -> str | None:
        return self._kube.log(namespace, pod, container, tail_lines=tail_lines,
                              previous=previous, deadline=deadline)

    def _once(
        self, key: tuple[str, str], fetch: Callable[[], dict[str, Items]]
    ) -> dict[str, Items] | None:
        """fetch() the first time `key` is asked (the others wait for it); None when it
        failed: each episode then reads its own."""
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._listed:
                try:
                    self._listed[key] = fetch()
                except UpstreamError:
                    self._listed[key] = None
            return self._listed[key]


def _by(key: Callable[[dict[str, Any]], Any], items: Iterable[dict[str, Any]]
        ) -> dict[str, Items]:
    grouped: dict[str, Items] = {}
    for item in items:
        name = key(item)
        if isinstance(name, str):
            grouped.setdefault(name, []).append(item)
    return grouped


def _label(pod: dict[str, Any]) -> Any:
    labels = (pod.get("metadata") or {}).get("labels")
    return labels.get("workloadName") if isinstance(labels, dict) else None


def _involved(event: dict[str, Any]) -> Any:
    involved = event.get("involvedObject")
    return involved.get("name") if isinstance(involved, dict) else None
