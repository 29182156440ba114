"""Gathering one failure's evidence bundle (failure-signals.md format) within a time budget.

Run:ai gives the workload detail, its events and its pods (the only source of pod and node
names); Kubernetes, when reachable, gives pod statuses, container log tails (the previous
container's too, after a restart) and the pods' own events. Whatever cannot be fetched in time
or at all is noted in `gaps`, and the failure is still classified from what was gathered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from common.errors import UpstreamError
from exporter.detect.attempts import AttemptWindow, phase_updates, timeline_events, window_of
from exporter.detect.episodes import Episode, parse_time
from exporter.detect.placement import assignment
from exporter.kube.batch import KubeReads
from exporter.model import Workload
from exporter.runai.client import RunaiClient

LOG_TAIL_LINES = 300  # per container read, and the bound of the bundle's whole log text
MAX_LOG_PODS = 3  # distributed workloads: read the logs of at most this many failing pods
T = TypeVar("T")
_EVENT_KEYS = ("type", "reason", "message", "source", "createdAt")


@dataclass
class Evidence:
    bundle: dict[str, Any]
    logs_available: bool
    gaps: list[str] = field(default_factory=list)  # "what: why" for each piece not gathered
    pod: str | None = None  # the failing pod
    node: str | None = None
    container_image: str | None = None
    exit_code: int | None = None
    workload: Workload | None = None  # the bundle's workload, typed (listing + detail)


@dataclass(frozen=True)
class _Target:
    pod: str
    container: str
    restarted: bool
    exit_code: int | None
    score: int
    reads: tuple[bool, ...] = (False,)  # `previous` flags of the log reads, in order


def _left(deadline: float) -> bool:
    return time.monotonic() < deadline


def namespace_of(workload: Workload) -> str:
    return workload.namespace or f"runai-{workload.project}"


def from_listing(workload: Workload, reason: str) -> Evidence:
    """Evidence when nothing more could be fetched: the workload as listed."""
    return Evidence(
        bundle={"workload": dict(workload.raw), "events": [], "pods": [], "logs": ""},
        logs_available=False,
        gaps=[reason],
        workload=workload,
    )


def within_budget(
    episode: Episode,
    runai: RunaiClient,
    kube: KubeReads | None,
    *,
    cycle_deadline: float,
    per_failure_s: float,
) -> Evidence:
    """The episode's evidence within its own budget and what is left of the cycle's."""
    now = time.monotonic()
    if now >= cycle_deadline:
        return from_listing(episode.workload, "all evidence: cycle time budget spent")
    return gather(episode, runai, kube, deadline=min(now + per_failure_s, cycle_deadline))


def gather(
    episode: Episode,
    runai: RunaiClient,
    kube: KubeReads | None,
    *,
    deadline: float,
    tail_lines: int = LOG_TAIL_LINES,
) -> Evidence:
    """Everything about one episode that can be fetched before `deadline` (monotonic).

    Only that episode's own evidence is kept (exporter.detect.attempts): events dated within
    its attempt, pods created in it and, once the workload has moved on, only container
    terminations dated within the episode, with their logs. A past episode skips Kubernetes
    when a later attempt has replaced its pods, or when its timeline cannot tell.

    GET /workloads/{id} is read only for a current pending episode: the listing already carries
    every Workload field, and the detail adds only pendingSchedulingMessages (what a pending
    episode needs); a past episode never reads it (it describes the present). Run:ai's events
    come from the timeline, /events only when it holds none. Run:ai's pod list is read only
    when Kubernetes gave no pods: Kubernetes names pods and nodes too.
    """
    workload, current = episode.workload, episode.current
    wid = workload.id
    gaps: list[str] = []
    none: list[dict[str, Any]] = []
    records = episode.timeline
    if records is None:
        records = tuple(_fetch("history", lambda: runai.history(wid), none, deadline, gaps))
    window = window_of(phase_updates(records), episode.timestamp, episode.kind)
    if window is None:
        gaps.append("attempt: the timeline does not show this episode; evidence unfiltered")
    history_events = timeline_events(records)
    fetched = (
        _fetch("workload", lambda: runai.workload(wid, deadline), None, deadline, gaps)
        if episode.kind == "pending" and current
        else None
    )
    workload = workload.with_detail(fetched)
    # The timeline holds the workload's events ("history details, including events", every
    # spec 2.18-2.24), all of them where /events pages only the newest: reading that too
    # would fetch them twice. Asked only when the timeline gave none (unread, or a control
    # plane that keeps only phase updates there).
    runai_events = history_events or _fetch(
        "events", lambda: runai.events(wid, deadline), none, deadline, gaps
    )
    own_events = [
        e for e in runai_events
        if window is None or window.holds(parse_time(e.get("createdAt")))
    ]
    events = [_runai_event(e) for e in own_events]
    found = _Found()
    if not current and (window is None or not window.latest):
        gaps.append("logs: the workload has moved on; its pods show a later attempt")
    elif kube is None:
        gaps.append("logs: no Kubernetes access (Run:ai evidence only)")
    elif not _left(deadline):
        gaps.append("kubernetes: time budget spent")
    else:
        found = _from_kubernetes(kube, runai, workload, window, current, deadline, tail_lines,
                                 gaps)
        events.extend(e for e in found.events
                      if window is None or window.holds(parse_time(e.get("createdAt"))))
    pods, images, target = found.pods, found.images, found.target
    if not pods:  # no Kubernetes, or its pods are gone: Run:ai keeps pod and node names
        for p in found.runai_pods if found.runai_pods is not None else _fetch(
            "pods", lambda: runai.pods(wid, deadline), none, deadline, gaps
        ):
            if window is not None and not window.holds_pod(parse_time(p.get("createdAt"))):
                continue  # another attempt's pod: its node is not this episode's
            if p.get("name"):
                name = str(p["name"])
                pods[name] = {"name": name, "nodeName": p.get("nodeName"), "status": {}}
                images[name] = [c.get("image") for c in p.get("containers") or []]

    pod_list = list(pods.values())
    failing: str | None = target.pod if target else (str(pod_list[0]["name"]) if pod_list else None)
    node = next((p.get("nodeName") for p in pod_list if p["name"] == failing), None)
    if not pod_list and window is not None:  # its pods are gone: its own events place it
        failing, node = placement(own_events)
    image = next((i for i in images.get(str(failing), []) if i), None)
    bundle = {
        "workload": dict(workload.raw), "events": _merge_events(events), "pods": pod_list,
        "logs": found.logs,
    }
    return Evidence(
        bundle=bundle,
        logs_available=found.logs_available,
        gaps=gaps,
        pod=failing,
        node=str(node) if node else None,
        container_image=image,
        exit_code=target.exit_code if target else None,
        workload=workload,
    )


@dataclass
class _Found:
    """What Kubernetes told about one episode."""

    pods: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> bundle entry
    images: dict[str, list[Any]] = field(default_factory=dict)  # pod name -> its images
    events: list[dict[str, Any]] = field(default_factory=list)
    logs: str = ""
    logs_available: bool = False
    target: _Target | None = None  # the failing container
    runai_pods: list[dict[str, Any]] | None = None  # Run:ai's pod list, when it was read


def _from_kubernetes(
    kube: KubeReads,
    runai: RunaiClient,
    workload: Workload,
    window: AttemptWindow | None,
    current: bool,
    deadline: float,
    tail_lines: int,
    gaps: list[str],
) -> _Found:
    """The pods of the episode's attempt, the failing containers' log tails, its pod's events."""
    found = _Found()
    ns = namespace_of(workload)
    try:
        k8s_pods = kube.pods(ns, workload.name, deadline)
        if not k8s_pods and _left(deadline):
            k8s_pods = _pods_by_runai_name(kube, runai, workload, ns, deadline, found, gaps)
    except UpstreamError as exc:
        gaps.append(f"kubernetes pods: {exc}")
        return found
    if window is not None:
        k8s_pods = attempt_pods(k8s_pods, window, current=current)
        if not k8s_pods and not current:
            gaps.append("logs: the workload has moved on; no pod of this attempt shows the "
                        "episode any more")
            return found
    for kp in k8s_pods:
        entry = _k8s_pod(kp)
        found.pods[entry["name"]] = entry
        containers = (kp.get("spec") or {}).get("containers") or []
        found.images[entry["name"]] = [c.get("image") for c in containers if isinstance(c, dict)]
    targets = _targets(k8s_pods)
    found.target = targets[0] if targets else None
    found.logs, found.logs_available = _read_logs(
        kube, ns, targets, workload, deadline, tail_lines, gaps
    )
    if found.target is not None and _left(deadline):
        try:
            k8s_events = kube.events(ns, found.target.pod, deadline)
        except UpstreamError as exc:
            gaps.append(f"kubernetes events: {exc}")
        else:
            found.events = [_k8s_event(e) for e in k8s_events]
    return found


def _pods_by_runai_name(
    kube: KubeReads,
    runai: RunaiClient,
    workload: Workload,
    ns: str,
    deadline: float,
    found: _Found,
    gaps: list[str],
) -> list[dict[str, Any]]:
    """The workload's pods by the names Run:ai lists: not every workload's pods carry the
    workloadName label (workloads submitted as plain Kubernetes resources, some frameworks'
    workers), and Run:ai's pod list names them all."""
    none: list[dict[str, Any]] = []
    listed = _fetch("pods", lambda: runai.pods(workload.id, deadline), none, deadline, gaps)
    found.runai_pods = listed
    pods: list[dict[str, Any]] = []
    for name in dict.fromkeys(str(p["name"]) for p in listed if p.get("name")):
        if not _left(deadline):
            gaps.append("kubernetes pods: time budget spent")
            break
        pod = kube.pod(ns, name, deadline)
        if pod is not None:
            pods.append(pod)
    return pods


def _fetch(
    what: str, call: Callable[[], T], empty: T, deadline: float, gaps: list[str]
) -> T:
    if not _left(deadline):
        gaps.append(f"{what}: time budget spent")
        return empty
    try:
        return call()
    except UpstreamError as exc:
        gaps.append(f"{what}: {exc}")
        return empty


def placement(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(pod, node) from an attempt's own Scheduled events, in the kube-scheduler's or the KAI
    scheduler's words (exporter.detect.placement): what still names them once its pods are
    gone. With several pods, the one the latest Warning event is about; else a node only when
    every pod was on it."""
    ordered = sorted(events, key=lambda e: str(e.get("createdAt") or ""))
    assigned: dict[str, str] = {}
    for event in ordered:
        found = assignment(event.get("message"))
        if event.get("reason") == "Scheduled" and found:
            assigned[found.pod] = found.node
    warned = [
        name for e in ordered
        if e.get("type") == "Warning"
        and isinstance(involved := e.get("involvedObject"), dict)
        and (name := involved.get("name")) in assigned
    ]
    if warned:
        return warned[-1], assigned[warned[-1]]
    if len(assigned) == 1:
        [(pod, node)] = assigned.items()
        return pod, node
    nodes = set(assigned.values())
    return None, (nodes.pop() if len(nodes) == 1 else None)


def _runai_event(event: dict[str, Any]) -> dict[str, Any]:
    return {key: event.get(key) for key in _EVENT_KEYS}


def _k8s_event(event: dict[str, Any]) -> dict[str, Any]:
    source = event.get("source") or {}
    return {
        "type": event.get("type"),
        "reason": event.get("reason"),
        "message": event.get("message"),
        "source": (source.get("component") if isinstance(source, dict) else None)
        or event.get("reportingComponent"),
        "createdAt": event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp"),
    }


def _merge_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One copy of each (reason, message), oldest first: the last error before exit reads last."""
    unique: dict[tuple[Any, Any], dict[str, Any]] = {}
    for event in events:
        unique.setdefault((event.get("reason"), event.get("message")), event)
    return sorted(unique.values(), key=lambda e: str(e.get("createdAt") or ""))


def _k8s_pod(pod: dict[str, Any]) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    )
    return {
        "name": str(meta.get("name", "")),
        "nodeName": spec.get("nodeName"),
        "status": {
            "phase": status.get("phase"),
            "reason": status.get("reason"),
            "message": status.get("message"),
            "containerStatuses": [
                {
                    "name": cs.get("name"),
                    "restartCount": cs.get("restartCount", 0),
                    "state": cs.get("state") or {},
                    "lastState": cs.get("lastState") or {},
                }
                for cs in statuses
                if isinstance(cs, dict)
            ],
        },
    }


def attempt_pods(
    k8s_pods: list[dict[str, Any]], window: AttemptWindow, *, current: bool
) -> list[dict[str, Any]]:
    """The pods that belong to the episode's attempt (created within it). For a past episode
    the status shows the present, so a pod is kept only for its container terminations dated
    within the episode (state or lastState); running and waiting states are dropped."""
    kept: list[dict[str, Any]] = []
    for pod in k8s_pods:
        meta = pod.get("metadata") or {}
        if not window.holds_pod(parse_time(meta.get("creationTimestamp"))):
            continue
        if current:
            kept.append(pod)
            continue
        status = pod.get("status") or {}
        statuses: dict[str, list[dict[str, Any]]] = {}
        for key in ("initContainerStatuses", "containerStatuses"):
            statuses[key] = [
                trimmed for cs in status.get(key) or []
                if isinstance(cs, dict) and (trimmed := _ended_within(cs, window)) is not None
            ]
        if not any(statuses.values()):
            continue
        ended = status.get("phase") in ("Failed", "Succeeded")
        kept.append({**pod, "status": {
            "phase": status.get("phase") if ended else None,
            "reason": status.get("reason") if ended else None,
            "message": status.get("message") if ended else None,
            **statuses,
        }})
    return kept


def _ended_within(cs: dict[str, Any], window: AttemptWindow) -> dict[str, Any] | None:
    """The container status with only its terminations dated within `window`; None if none."""
    def ended(state: Any) -> dict[str, Any]:
        terminated = (state or {}).get("terminated") if isinstance(state, dict) else None
        if isinstance(terminated, dict) and window.holds(
            parse_time(terminated.get("finishedAt"))
        ):
            return {"terminated": terminated}
        return {}

    state, last = ended(cs.get("state")), ended(cs.get("lastState"))
    if not state and not last:
        return None
    return {**cs, "state": state, "lastState": last}


def _targets(k8s_pods: list[dict[str, Any]]) -> list[_Target]:
    """Containers worth reading, most telling first: crashed now, crashed before, waiting."""
    found: list[_Target] = []
    for pod in k8s_pods:
        name = str((pod.get("metadata") or {}).get("name", ""))
        status = pod.get("status") or {}
        statuses = list(status.get("initContainerStatuses") or []) + list(
            status.get("containerStatuses") or []
        )
        best: _Target | None = None
        for cs in statuses:
            if not isinstance(cs, dict):
                continue
            state = (cs.get("state") or {}).get("terminated") or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            waiting = (cs.get("state") or {}).get("waiting") or {}
            code = state.get("exitCode", last.get("exitCode"))
            score = (
                4 if state and state.get("exitCode") not in (0, None)
                else 3 if last and last.get("exitCode") not in (0, None)
                else 2 if waiting
                else 1 if state
                else 0
            )
            restarted = bool(cs.get("restartCount")) and bool(last)
            reads: tuple[bool, ...] = (True, False) if restarted else (False,)
            if last and not cs.get("state"):  # only its previous container is this episode's
                reads = (True,)
            elif waiting and not restarted:
                # Never started (image pull, mount, config): no log, and Kubernetes answers a
                # read with 400 "is waiting to start".
                reads = ()
            candidate = _Target(name, str(cs.get("name", "")), restarted, _int(code), score,
                                reads)
            if best is None or candidate.score > best.score:
                best = candidate
        if best is None:
            containers = (pod.get("spec") or {}).get("containers") or []
            first = containers[0].get("name") if containers else None
            if first:
                best = _Target(name, str(first), False, None, 0)
        if status.get("reason") and best is not None:
            best = replace(best, score=5)
        if best is not None:
            found.append(best)
    return sorted(found, key=lambda t: -t.score)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _read_logs(
    kube: KubeReads,
    ns: str,
    targets: list[_Target],
    workload: Workload,
    deadline: float,
    tail_lines: int,
    gaps: list[str],
) -> tuple[str, bool]:
    """The failing containers' tails (previous first, then current); bounded to tail_lines."""
    several = (workload.type or "").lower() == "distributed" or len(targets) > 1
    chosen = targets[:MAX_LOG_PODS] if several else targets[:1]
    per_read = max(20, tail_lines // max(1, len(chosen)))
    parts: list[str] = []
    ok = True
    for target in chosen:
        for previous in target.reads:
            if not _left(deadline):
                gaps.append("logs: time budget spent")
                return _join(parts, tail_lines), False
            try:
                text = kube.log(
                    ns, target.pod, target.container,
                    tail_lines=per_read, previous=previous, deadline=deadline,
                )
            except UpstreamError as exc:
                gaps.append(f"logs of {target.pod}: {exc}")
                ok = False
                continue
            if text and text.strip():
                if len(chosen) > 1 or target.restarted:
                    which = "previous" if previous else "current"
                    parts.append(f"==> {target.pod}/{target.container} ({which}) <==")
                parts.append(text.rstrip("\n"))
    return _join(parts, tail_lines), ok


def _join(parts: list[str], tail_lines: int) -> str:
    lines = "\n".join(parts).splitlines()
    return "\n".join(lines[-tail_lines:])
