"""The Run:ai control-plane endpoints: tokens, workloads, their events, history and pods."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.clock import iso, parse_iso
from simulator.errors import BadRequest, NotFound
from simulator.evidence import EventOut, pod_names, pod_uid
from simulator.filters import (
    POD_FIELDS,
    WORKLOAD_FIELDS,
    Filter,
    parse_bool,
    parse_filters,
    parse_page,
    parse_sort,
    sort_items,
)
from simulator.generator import CLUSTER_ID
from simulator.guard import guarded
from simulator.payloads import TERMINAL, pending_messages, runai_pods
from simulator.responses import (
    json_response,
    oauth_error,
    page_body,
    raw_json,
    runai_error,
)
from simulator.state import Sim
from simulator.world import World, dumps

SEARCH_FIELDS = ("name", "projectName", "submittedBy")


# ---- tokens -------------------------------------------------------------------------------
@guarded("token")
async def token_v2(request: Request, sim: Sim) -> Response:
    if sim.faults.settings.v1_token_only:
        return runai_error(404, "Not Found")
    # Parsed here: Starlette's request.form() needs python-multipart, which we do not ship.
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace"),
                                         keep_blank_values=True).items()}
    grant = form.get("grant_type")
    if grant is None:
        return oauth_error(400, "invalid_request", "grant_type is required")
    if grant != "client_credentials":
        return oauth_error(400, "unsupported_grant_type",
                           f"grant_type {grant!r} is not supported here")
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(secret, str):
        return oauth_error(400, "invalid_request", "client_id and client_secret are required")
    if not sim.tokens.credentials_ok(client_id, secret):
        return oauth_error(401, "invalid_client", "Client authentication failed")
    return json_response({"access_token": sim.tokens.issue(), "token_type": "Bearer",
                          "expires_in": sim.tokens.ttl_s})


@guarded("token")
async def token_v1(request: Request, sim: Sim) -> Response:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return runai_error(400, "request body must be JSON")
    if not isinstance(body, dict):
        return runai_error(400, "request body must be a JSON object")
    grant = body.get("grantType")
    if grant == "app_token":  # deprecated spelling of the same credentials
        client_id, secret = body.get("appID"), body.get("appSecret")
    elif grant == "client_credentials":
        client_id, secret = body.get("clientID"), body.get("clientSecret")
    else:
        return runai_error(400, f"grantType {grant!r} is not supported here")
    if not isinstance(client_id, str) or not isinstance(secret, str):
        return runai_error(400, "clientID and clientSecret are required")
    if not sim.tokens.credentials_ok(client_id, secret):
        return runai_error(401, "Invalid client credentials")
    token = sim.tokens.issue()
    return json_response({"accessToken": token, "expiresIn": sim.tokens.ttl_s,
                          "idToken": token, "refreshToken": ""})


# ---- workloads ----------------------------------------------------------------------------
def _selected(request: Request, world: World) -> list[int]:
    """Workload indexes after deleted/filterBy/search/sort, in response order."""
    q = request.query_params
    deleted = parse_bool("deleted", q.get("deleted")) or False
    filters = parse_filters(q.getlist("filterBy"), WORKLOAD_FIELDS)
    sort_by, descending = parse_sort(q.get("sortBy"), q.get("sortOrder"), WORKLOAD_FIELDS)
    search = (q.get("search") or "").strip().lower()

    def compute() -> list[int]:
        items = world.visible(deleted)
        if filters or search:
            items = [i for i in items if _keep(world, i, filters, search)]
        if sort_by:
            items = sort_items(items, lambda i: world.fields(world.at(i))[sort_by], descending)
        return items

    key = ("workloads", deleted, tuple(q.getlist("filterBy")), sort_by, descending, search)
    return world.query(key, compute)


def _keep(world: World, index: int, filters: list[Filter], search: str) -> bool:
    fields = world.fields(world.at(index))
    if search and not any(search in str(fields[f]).lower() for f in SEARCH_FIELDS):
        return False
    return all(f.matches(fields) for f in filters)


def _page(items: list[Any], request: Request) -> tuple[list[Any], int | None]:
    offset, limit = parse_page(request.query_params.get("offset"),
                               request.query_params.get("limit"))
    page = items[offset: offset + limit]
    return page, (offset + limit if offset + limit < len(items) else None)


@guarded("runai")
async def list_workloads(request: Request, sim: Sim) -> Response:
    world = sim.world
    # Page drift: a workload is created between two page requests, so offsets shift.
    if sim.faults.settings.page_drift and request.query_params.get("offset", "0") not in ("", "0"):
        world.add_workload()
    items = _selected(request, world)
    page, nxt = _page(items, request)
    return raw_json(page_body("workloads", [world.workload_json(world.at(i)) for i in page], nxt))


@guarded("runai")
async def count_workloads(request: Request, sim: Sim) -> Response:
    return json_response({"count": len(_selected(request, sim.world))})


def _workload_or_404(request: Request, sim: Sim) -> int:
    cur = sim.world.find(request.path_params["workload_id"])
    if cur is None:
        raise NotFound(f"workload {request.path_params['workload_id']} not found")
    return cur.index


@guarded("runai")
async def get_workload(request: Request, sim: Sim) -> Response:
    world = sim.world
    cur = world.at(_workload_or_404(request, sim))
    body = world.workload_dict(cur)
    spec = world.specs[cur.index]
    body["pendingSchedulingMessages"] = pending_messages(spec, spec.steps[cur.step])
    return json_response(body)


def _event_json(world: World, index: int, event_id: str, ev: EventOut) -> dict[str, Any]:
    spec = world.specs[index]
    return {"id": event_id, "clusterId": CLUSTER_ID, "createdAt": iso(ev.at), "type": ev.type,
            "reason": ev.reason, "message": ev.message, "source": ev.source,
            "involvedObject": {"kind": "Pod", "name": pod_names(spec)[ev.replica],
                               "namespace": spec.project.namespace,
                               "uid": pod_uid(spec, ev.replica, ev.attempt)}}


@guarded("runai")
async def workload_events(request: Request, sim: Sim) -> Response:
    world = sim.world
    index = _workload_or_404(request, sim)
    order = (request.query_params.get("sortOrder") or "desc").lower()
    if order not in ("asc", "desc"):
        raise BadRequest(f"sortOrder must be asc or desc, got {order!r}")
    now = world.now
    events = [(e, eid) for e, eid in world.events(index) if e.at <= now]
    if order == "asc":
        events.reverse()
    page, nxt = _page(events, request)
    items = [dumps(_event_json(world, index, eid, e)) for e, eid in page]
    return raw_json(page_body("events", items, nxt))


@guarded("runai")
async def workload_history(request: Request, sim: Sim) -> Response:
    world = sim.world
    index = _workload_or_404(request, sim)
    spec, now = world.specs[index], world.now
    records: list[tuple[int, dict[str, Any]]] = []
    for step in spec.steps:
        if step.at > now:
            break
        records.append((step.at, {
            "meta": {"creationTimestamp": iso(step.at), "type": "PhaseUpdate"},
            "spec": {"phaseUpdate": {"phase": step.phase, "phaseMessage": step.message}}}))
    for ev, eid in world.events(index):
        if ev.at <= now:
            records.append((ev.at, {
                "meta": {"creationTimestamp": iso(ev.at), "type": "Event"},
                "spec": {"event": _event_json(world, index, eid, ev)}}))
    records.sort(key=lambda r: r[0])
    page, nxt = _page([r for _, r in records], request)
    return raw_json(page_body("records", [dumps(r) for r in page], nxt))


@guarded("runai")
async def workload_pods(request: Request, sim: Sim) -> Response:
    world = sim.world
    cur = world.at(_workload_or_404(request, sim))
    states = world.pod_states(cur)
    spec = world.specs[cur.index]
    full = request.query_params.get("verbosity") == "full"
    pods = runai_pods(spec, cur.step, states, full) if states else []
    page, nxt = _page(pods, request)
    return raw_json(page_body("pods", [dumps(p) for p in page], nxt))


def _pod_fields(pod: dict[str, Any]) -> dict[str, Any]:
    def date(value: str | None) -> float | None:
        return parse_iso(value) if value else None

    return {"clusterId": pod["clusterId"], "workloadId": pod["workloadId"], "revisionId": None,
            "nodeName": pod["nodeName"], "currentNodepool": pod["currentNodePool"],
            "createdAt": date(pod["createdAt"]), "completedAt": date(pod["completedAt"]),
            "deletedAt": None}


@guarded("runai")
async def all_pods(request: Request, sim: Sim) -> Response:
    world = sim.world
    q = request.query_params
    filters = parse_filters(q.getlist("filterBy"), POD_FIELDS)
    sort_by, descending = parse_sort(q.get("sortBy"), q.get("sortOrder"), POD_FIELDS)
    completed = q.get("completed") or "all"
    if completed not in ("all", "true", "false"):
        raise BadRequest(f"completed must be true, false or all, got {completed!r}")
    full = q.get("verbosity") == "full"
    search = (q.get("search") or "").strip().lower()
    deleted = parse_bool("deleted", q.get("deleted")) or False

    def compute() -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = []
        for index in world.visible(deleted):
            cur = world.at(index)
            spec = world.specs[index]
            if completed != "all" and (spec.steps[cur.step].phase in TERMINAL) != (
                    completed == "true"):
                continue
            if search and search not in spec.name.lower():
                continue
            states = world.pod_states(cur)
            if states:
                pods.extend(runai_pods(spec, cur.step, states, full))
        if filters:
            pods = [p for p in pods if all(f.matches(_pod_fields(p)) for f in filters)]
        if sort_by:
            positions = list(range(len(pods)))
            keyed = [_pod_fields(p)[sort_by] for p in pods]
            pods = [pods[i] for i in sort_items(positions, lambda i: keyed[i], descending)]
        return pods

    key = ("pods", deleted, completed, full, search, tuple(q.getlist("filterBy")), sort_by,
           descending)
    pods = world.query(key, compute)
    page, nxt = _page(pods, request)
    return raw_json(page_body("pods", [dumps(p) for p in page], nxt))


ROUTES = [
    Route("/api/v2/token", token_v2, methods=["POST"]),
    Route("/api/v1/token", token_v1, methods=["POST"]),
    Route("/api/v1/workloads", list_workloads, methods=["GET"]),
    Route("/api/v1/workloads/count", count_workloads, methods=["GET"]),
    Route("/api/v1/workloads/pods", all_pods, methods=["GET"]),
    Route("/api/v1/workloads/{workload_id}", get_workload, methods=["GET"]),
    Route("/api/v1/workloads/{workload_id}/events", workload_events, methods=["GET"]),
    Route("/api/v1/workloads/{workload_id}/history", workload_history, methods=["GET"]),
    Route("/api/v1/workloads/{workload_id}/pods", workload_pods, methods=["GET"]),
]
