"""The doctor's checks: each endpoint the sidecar uses, tried once, its answer held to the spec.

A check is ok, warn (the sidecar works, but something is off: an answer outside the spec, no
Kubernetes access) or fail (the sidecar will not work, or not fully). Nothing here keeps a
secret, a log line or (with hash_names) a name: facts are counts, statuses, versions and
hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from common.errors import AuthError, ConfigError, UpstreamError
from exporter.doctor.spec_check import versions_matching
from exporter.kube.client import KubeClient
from exporter.runai import versions as v
from exporter.runai.client import EVENTS_LIMIT, PAGE_LIMIT, RunaiClient

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


class Names:
    """Names as they are, or (hash_names) as a short SHA-256 that still tells two apart."""

    def __init__(self, hash_names: bool) -> None:
        self.hashed = hash_names

    def __call__(self, value: Any) -> str:
        text = str(value) if value is not None else "-"
        if not self.hashed or value is None:
            return text
        return "h:" + hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Doctor:
    runai: RunaiClient
    kube: KubeClient | None
    names: Names
    checks: list[Check] = field(default_factory=list)
    workload: dict[str, Any] | None = None

    def run(self) -> list[Check]:
        if self._token() and self._clusters():
            self._listing()
            self._per_workload()
            self._kubernetes()
        return self.checks

    def add(self, name: str, status: str, detail: str, **facts: Any) -> bool:
        self.checks.append(Check(name, status, detail, facts))
        return status != FAIL

    # -- Run:ai ---------------------------------------------------------------------------
    def _token(self) -> bool:
        try:
            self.runai.authenticate()
        except AuthError as exc:
            return self.add("Run:ai token", FAIL, str(exc))
        except UpstreamError as exc:
            return self.add("Run:ai token", FAIL, f"control plane unreachable: {exc}")
        return self.add(
            "Run:ai token", OK, f"{self.runai.token_form}; control plane "
            f"{self.runai.control_plane.label()}",
            token_form=self.runai.token_form,
        )

    def _candidates(self) -> tuple[str, ...]:
        plane = self.runai.control_plane
        return tuple(x for x in v.VERSIONS if plane.low <= x <= plane.high)

    def _held_to_spec(self, name: str, template: str, body: Any, **facts: Any) -> bool:
        fitting, findings = versions_matching(self._candidates(), "GET", template, body)
        if fitting:
            return self.add(name, OK, f"answer matches the spec of {', '.join(fitting)}",
                            spec_versions=fitting, **facts)
        return self.add(name, WARN, "answer departs from the spec of "
                        f"{self._candidates()[-1]}: {'; '.join(findings)}",
                        findings=findings, **facts)

    def _clusters(self) -> bool:
        name = f"GET {v.CLUSTERS}"
        found: list[dict[str, Any]] | None = None
        try:
            listed = self.runai.clusters()
        except UpstreamError as exc:
            self.add(name, WARN, f"{_own(exc, name)}: set RUNAI_CLUSTER_ID to scope the listing")
        else:
            found = listed
            self._held_to_spec(name, v.CLUSTERS, listed, clusters=len(listed))
        try:
            self.runai.settle_scope(found)
        except ConfigError as exc:
            text = str(exc)
            for known in found or ():  # the message lists the clusters: hash them on request
                for value in (known.get("uuid"), known.get("name")):
                    if isinstance(value, str) and value:
                        text = text.replace(value, self.names(value))
            return self.add("cluster scope", FAIL, text)
        return self.add(
            "cluster scope", OK if self.runai.cluster_id else WARN,
            f"{self.names(self.runai.cluster_id)} ({self.runai.cluster_note}); control plane "
            f"{self.runai.control_plane.label()}",
            cluster=self.names(self.runai.cluster_id),
            control_plane=self.runai.control_plane.label(),
        )

    def _try(self, name: str, template: str, call: Callable[[], Any], **facts: Any) -> Any:
        try:
            reply = call()
        except UpstreamError as exc:
            self.add(name, FAIL, _own(exc, name))
            return None
        if reply.status == 404:
            self.add(name, FAIL, "HTTP 404: the endpoint or the workload is missing")
            return None
        self._held_to_spec(name, template, reply.data, **facts)
        return reply.data

    def _listing(self) -> None:
        scope = self.runai.scope_filters()
        page = [("offset", "0"), ("limit", str(PAGE_LIMIT))]
        data = self._try(
            f"GET {v.WORKLOADS}", v.WORKLOADS,
            lambda: self.runai.probe(v.WORKLOADS, v.WORKLOADS, page, scope),
        )
        workloads = [w for w in (data or {}).get("workloads", []) if isinstance(w, dict)]
        if data is not None:
            self.checks[-1].facts["workloads_on_first_page"] = len(workloads)
        since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._try(
            f"GET {v.WORKLOADS} (deleted)", v.WORKLOADS,
            lambda: self.runai.probe(v.WORKLOADS, v.WORKLOADS, [("deleted", "true"), *page],
                                     [*scope, f"deletedAt>={since}"]),
        )
        self._try(
            f"GET {v.ALL_PODS}", v.ALL_PODS,
            lambda: self.runai.probe(v.ALL_PODS, v.ALL_PODS, page, scope),
        )
        # A failed one, when there is one: the per-workload answers are the ones that matter.
        failed = [w for w in workloads if w.get("phase") == "Failed"]
        candidates = failed or workloads
        self.workload = candidates[0] if candidates else None

    def _per_workload(self) -> None:
        w = self.workload
        if w is None or not isinstance(w.get("id"), str):
            self.add("per-workload endpoints", WARN,
                     "no workload listed to try them on; run doctor again once one exists")
            return
        wid = w["id"]
        base = f"/api/v1/workloads/{wid}"
        self.add("sample workload", OK, f"{self.names(w.get('name'))} in project "
                 f"{self.names(w.get('projectName'))}, phase {w.get('phase')}",
                 workload=self.names(w.get("name")), project=self.names(w.get("projectName")))
        for template, path, params in (
            (v.DETAIL, base, []),
            (v.EVENTS, f"{base}/events", [("limit", str(EVENTS_LIMIT)), ("sortOrder", "desc")]),
            (v.HISTORY, f"{base}/history", [("offset", "0"), ("limit", str(PAGE_LIMIT))]),
            (v.PODS, f"{base}/pods", [("limit", str(PAGE_LIMIT))]),
        ):
            self._try(f"GET {template}", template,
                      lambda path=path, template=template, params=params:  # type: ignore[misc]
                      self.runai.probe(path, template, params))

    # -- Kubernetes -------------------------------------------------------------------------
    def _kubernetes(self) -> None:
        w = self.workload
        if self.kube is None:
            self.add("Kubernetes access", WARN, "not configured: no KUBECONFIG and no "
                     "in-cluster service account; failures are classified from Run:ai "
                     "evidence only (no container exit codes or logs)")
            return
        if w is None:
            self.add("Kubernetes access", WARN, "no workload to try pods, logs and events on")
            return
        namespace = w.get("namespace") or f"runai-{w.get('projectName')}"
        name = str(w.get("name"))
        try:
            pods = self.kube.pods(namespace, name)
        except UpstreamError as exc:
            self.add("Kubernetes pods", FAIL, f"{exc} (RBAC: get/list on pods)")
            return
        self.add("Kubernetes pods", OK, f"{len(pods)} pod(s) of the sample workload",
                 pods=len(pods))
        pod = next((p for p in pods if (p.get("metadata") or {}).get("name")), None)
        target = (pod or {}).get("metadata", {}).get("name") or name
        try:
            events = self.kube.events(namespace, target)
        except UpstreamError as exc:
            self.add("Kubernetes events", FAIL, f"{exc} (RBAC: list on events)")
        else:
            self.add("Kubernetes events", OK, f"{len(events)} event(s)", events=len(events))
        if pod is None:
            self.add("Kubernetes logs", WARN, "no current pod to read a log from; tried "
                     "pods and events only")
            return
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        try:
            text = self.kube.log(namespace, target, str(containers[0].get("name", "")),
                                 tail_lines=1)
        except UpstreamError as exc:
            self.add("Kubernetes logs", FAIL, f"{exc} (RBAC: get on pods/log)")
            return
        # Only the size: log text never goes into the report.
        self.add("Kubernetes logs", OK, "log readable" if text is not None else
                 "no log kept for this container", log_bytes=len(text or ""))


def _own(exc: Exception, name: str) -> str:
    """The error without the endpoint the check's name already says."""
    return str(exc).removeprefix(f"{name}: ")
