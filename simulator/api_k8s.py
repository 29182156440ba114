"""The Kubernetes subset the monitor reads: pods, pod logs and events, in runai-<project>."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from simulator.clock import iso
from simulator.errors import BadRequest, NotFound
from simulator.evidence import EventOut, container_name, pod_names, pod_uid
from simulator.guard import guarded
from simulator.payloads import k8s_pod
from simulator.responses import json_response, k8s_status
from simulator.state import Sim
from simulator.world import World

HOUR = 3600


def _selector(raw: str | None, name: str) -> dict[str, str]:
    """Equality-based selector `a=b,c==d` -> {a: b, c: d}."""
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in raw.split(","):
        key, sep, value = part.partition("==") if "==" in part else part.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"unable to parse requirement: invalid {name}: {part!r}")
        out[key.strip()] = value.strip()
    return out


# A label selector's set-based requirement, as the API server takes it: `key in (a,b)`.
_SET_BASED = re.compile(r"\s*([\w./-]+)\s+(in|notin)\s+\(([^()]*)\)\s*")


def _label_selector(raw: str | None) -> list[tuple[str, str, frozenset[str]]]:
    """A label selector -> (key, "in" or "notin", values) requirements, ANDed: equality
    (`a=b`, `a==b`, `a!=b`) and set-based (`a in (b,c)`, `a notin (b,c)`) ones."""
    out: list[tuple[str, str, frozenset[str]]] = []
    rest = raw or ""
    while rest.strip():
        found = _SET_BASED.match(rest)
        if found:
            key, op, values = found.groups()
            out.append((key, op, frozenset(v.strip() for v in values.split(","))))
            rest = rest[found.end():]
        else:
            part, _, rest = rest.partition(",")
            negated = "!=" in part
            key, sep, value = part.partition("!=" if negated else "==" if "==" in part else "=")
            if not sep or not key.strip():
                raise BadRequest(f"unable to parse requirement: invalid label selector: "
                                 f"{part!r}")
            out.append((key.strip(), "notin" if negated else "in", frozenset([value.strip()])))
            continue
        if rest.strip() and not rest.startswith(","):
            raise BadRequest(f"unable to parse requirement: invalid label selector: {raw!r}")
        rest = rest[1:]
    return out


def _pods_in(world: World, namespace: str,
             labels: list[tuple[str, str, frozenset[str]]]) -> list[tuple[int, int]]:
    """(workload index, replica) of the existing pods in the namespace matching the labels."""
    named = [values for key, op, values in labels if key == "workloadName" and op == "in"]
    if named:
        indexes = (world.by_name.get(n) for n in frozenset.intersection(*named))
        candidates = sorted(i for i in indexes if i is not None)
    else:
        candidates = world.visible()
    out: list[tuple[int, int]] = []
    for index in candidates:
        spec = world.specs[index]
        if spec.project.namespace != namespace or world.current[index] < 0 or spec.cluster:
            continue
        pod_labels = {"workloadName": spec.name, "project": spec.project.name,
                      "runai/queue": spec.project.name, "release": spec.name}
        if any((pod_labels.get(k) in values) != (op == "in") for k, op, values in labels):
            continue
        if world.pod_states(world.at(index)) is None:
            continue
        out.extend((index, r) for r in range(spec.replicas))
    return out


def _pod_or_404(world: World, namespace: str, pod: str) -> tuple[int, int]:
    found = world.pods.get((namespace, pod))
    if found is None or world.current[found[0]] < 0 or world.pod_states(
            world.at(found[0])) is None:
        raise NotFound(f'pods "{pod}" not found')
    return found


@guarded("k8s")
async def list_pods(request: Request, sim: Sim) -> Response:
    world = sim.world
    ns = request.path_params["namespace"]
    labels = _label_selector(request.query_params.get("labelSelector"))
    items = []
    for index, replica in _pods_in(world, ns, labels):
        cur = world.at(index)
        states = world.pod_states(cur)
        assert states is not None
        items.append(k8s_pod(world.specs[index], cur.step, replica, states[replica]))
    return json_response({"kind": "PodList", "apiVersion": "v1",
                          "metadata": {"resourceVersion": str(int(world.now))}, "items": items})


@guarded("k8s")
async def get_pod(request: Request, sim: Sim) -> Response:
    world = sim.world
    try:
        index, replica = _pod_or_404(world, request.path_params["namespace"],
                                     request.path_params["pod"])
    except NotFound as exc:
        return _pod_not_found(request, exc)
    cur = world.at(index)
    states = world.pod_states(cur)
    assert states is not None
    return json_response(k8s_pod(world.specs[index], cur.step, replica, states[replica]))


def _pod_not_found(request: Request, exc: NotFound) -> Response:
    return k8s_status(404, exc.message, {"name": request.path_params["pod"], "kind": "pods"})


@guarded("k8s")
async def pod_log(request: Request, sim: Sim) -> Response:
    world = sim.world
    pod = request.path_params["pod"]
    try:
        index, replica = _pod_or_404(world, request.path_params["namespace"], pod)
    except NotFound as exc:
        return _pod_not_found(request, exc)
    spec = world.specs[index]
    q = request.query_params
    container = q.get("container") or container_name(spec)
    if container != container_name(spec):
        raise BadRequest(f"container {container} is not valid for pod {pod}")
    previous = (q.get("previous") or "false").lower() == "true"
    tail: int | None = None
    if q.get("tailLines"):
        try:
            tail = int(q["tailLines"])
        except ValueError as exc:
            raise BadRequest(f"tailLines must be an integer, got {q['tailLines']!r}") from exc
        if tail < 0:
            raise BadRequest("tailLines must be >= 0")
    cur = world.at(index)
    lines = world.pod_log(cur, replica, previous)
    if lines is None:
        if previous:
            raise BadRequest(f'previous terminated container "{container}" in pod "{pod}" '
                             "not found")
        states = world.pod_states(cur)
        waiting = (states[replica].state.get("waiting") or {}) if states else {}
        reason = waiting.get("reason", "ContainerCreating")
        raise BadRequest(f'container "{container}" in pod "{pod}" is waiting to start: {reason}')
    if tail is not None:
        lines = lines[-tail:] if tail else []
    text = "".join(f"{line}\n" for line in lines)
    return PlainTextResponse(text)


RECUR_S = 300  # a stuck pod's scheduling/mount event repeats about every five minutes


def _last_seen(world: World, index: int, ev: EventOut) -> tuple[int, int]:
    """(lastTimestamp, count): recurring events keep repeating while their episode lasts."""
    step = world.specs[index].steps[world.current[index]]
    if not ev.recurring or step.episode < 0 or ev.at < step.at or ev.at > world.now:
        return ev.at, 1
    repeats = int(world.now - ev.at) // RECUR_S
    return ev.at + repeats * RECUR_S, repeats + 1


def _stuck(world: World, index: int) -> bool:
    step = world.specs[index].steps[world.current[index]]
    return step.episode >= 0 and world.specs[index].episodes[step.episode].kind == "pending"


def _event_item(world: World, index: int, ev: EventOut, n: int) -> dict[str, Any]:
    spec = world.specs[index]
    last, count = _last_seen(world, index, ev)
    pod = pod_names(spec)[ev.replica]
    uid = str(uuid.uuid5(uuid.UUID(spec.id), f"k8s-event/{n}/{ev.at}/{ev.reason}"))
    return {
        "metadata": {"name": f"{pod}.{uid[:8]}{uid[9:13]}", "namespace": spec.project.namespace,
                     "uid": uid, "creationTimestamp": iso(ev.at)},
        "involvedObject": {"kind": "Pod", "namespace": spec.project.namespace, "name": pod,
                           "uid": pod_uid(spec, ev.replica, ev.attempt),
                           "apiVersion": "v1"},
        "reason": ev.reason, "message": ev.message,
        "source": {"component": ev.source, "host": spec.nodes[ev.replica]},
        "firstTimestamp": iso(ev.at), "lastTimestamp": iso(last), "count": count,
        "type": ev.type, "reportingComponent": ev.source,
        "reportingInstance": spec.nodes[ev.replica],
    }


@guarded("k8s")
async def list_events(request: Request, sim: Sim) -> Response:
    world = sim.world
    ns = request.path_params["namespace"]
    selector = _selector(request.query_params.get("fieldSelector"), "field selector")
    unknown = set(selector) - {"involvedObject.name", "involvedObject.kind",
                               "involvedObject.namespace", "type", "reason"}
    if unknown:
        raise BadRequest(f'"{sorted(unknown)[0]}" is not a known field selector')
    now, ttl = world.now, sim.config.k8s_event_ttl_s
    pod = selector.get("involvedObject.name")
    if pod is not None:
        found = world.pods.get((ns, pod))
        candidates = [] if found is None else [found[0]]
    else:
        # Only workloads that changed recently, or are stuck, can still have events.
        candidates = [i for i in world.visible()
                      if world.specs[i].project.namespace == ns and not world.specs[i].cluster
                      and (world.specs[i].steps[world.current[i]].at >= now - ttl - 2 * HOUR
                           or _stuck(world, i))]
    items = []
    for index in candidates:
        spec = world.specs[index]
        if world.current[index] < 0:
            continue
        names = pod_names(spec)
        for n, (ev, _) in enumerate(world.events(index)):
            if ev.at > now or _last_seen(world, index, ev)[0] <= now - ttl:
                continue
            item = _event_item(world, index, ev, n)
            if pod is not None and names[ev.replica] != pod:
                continue
            if any(_field(item, k) != v for k, v in selector.items()):
                continue
            items.append(item)
    items.sort(key=lambda e: e["lastTimestamp"])
    return json_response({"kind": "EventList", "apiVersion": "v1",
                          "metadata": {"resourceVersion": str(int(now))}, "items": items})


def _field(item: dict[str, Any], path: str) -> Any:
    value: Any = item
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


ROUTES = [
    Route("/api/v1/namespaces/{namespace}/pods", list_pods, methods=["GET"]),
    Route("/api/v1/namespaces/{namespace}/pods/{pod}", get_pod, methods=["GET"]),
    Route("/api/v1/namespaces/{namespace}/pods/{pod}/log", pod_log, methods=["GET"]),
    Route("/api/v1/namespaces/{namespace}/events", list_events, methods=["GET"]),
]
