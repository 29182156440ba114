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
    FieldSet,
    Filter,
    parse_filters,
    parse_sort,
    sort_items,
)
from simulator.guard import guarded, query_of
from simulator.payloads import TERMINAL, pending_messages
from simulator.query import Query
from simulator.responses import (
    JSON,
    json_response,
    oauth_error,
    page_body,
    raw_json,
    runai_error,
)
from simulator.stamps import iso_ms
from simulator.state import Sim
from simulator.world import World, dumps

SEARCH_FIELDS = ("name", "projectName", "submittedBy")
FORM = "application/x-www-form-urlencoded"


# ---- tokens -------------------------------------------------------------------------------
def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


@guarded("token", "/api/v2/token", "POST")
async def token_v2(request: Request, sim: Sim) -> Response:
    if sim.faults.settings.v1_token_only:
        return runai_error(404, "Not Found")
    if _media_type(request) != FORM:
        return oauth_error(400, "invalid_request",
                           f"the token request must be {FORM}, not {_media_type(request)!r}")
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


# grantType -> the TokenRequest fields carrying the client's id and secret.
_V1_CREDENTIALS = {"app_token": ("appID", "appSecret"),
                   "client_credentials": ("clientID", "clientSecret")}


@guarded("token", "/api/v1/token", "POST")
async def token_v1(request: Request, sim: Sim) -> Response:
    version = sim.version
    if _media_type(request) != JSON:
        return runai_error(400, f"the token request must be {JSON}, "
                                f"not {_media_type(request)!r}")
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return runai_error(400, "request body must be JSON")
    if not isinstance(body, dict):
        return runai_error(400, "request body must be a JSON object")
    # Field names match without regard to case, as on the real server (Run:ai's own SDK sends
    # "AppId"/"AppSecret" where the spec says appID/appSecret).
    fields = {str(k).lower(): v for k, v in body.items()}
    grant = fields.get("granttype")
    if grant not in version.token_grants:
        takes = ", ".join(sorted(version.token_grants))
        return runai_error(400, f"grantType {grant!r} is not supported on control plane "
                                f"{version.name}; it takes {takes}")
    if grant not in _V1_CREDENTIALS:
        return runai_error(400, f"grantType {grant!r} is not supported by this simulator")
    id_field, secret_field = _V1_CREDENTIALS[grant]
    client_id, secret = fields.get(id_field.lower()), fields.get(secret_field.lower())
    if not isinstance(client_id, str) or not isinstance(secret, str):
        return runai_error(400, f"{id_field} and {secret_field} are required for grantType "
                                f"{grant}")
    if not sim.tokens.credentials_ok(client_id, secret):
        return runai_error(401, "Invalid client credentials")
    token = sim.tokens.issue()
    answer = {"accessToken": token, "expiresIn": sim.tokens.ttl_s, "idToken": token,
              "refreshToken": ""}
    return json_response({k: v for k, v in answer.items()
                          if k in version.token_response_fields})


# ---- workloads ----------------------------------------------------------------------------
def _filters(q: Query, sim: Sim, kinds: FieldSet) -> tuple[list[Filter], FieldSet]:
    """The query's filters, over the fields this version's filterBy pattern lists."""
    param = q.operation.params.get("filterBy")
    allowed = kinds.restricted(param.filter_fields if param else frozenset(), sim.version.name)
    raw = q.get("filterBy")
    return (parse_filters([raw], allowed) if raw else []), allowed


def _selected(q: Query, sim: Sim) -> list[int]:
    """Workload indexes after deleted/filterBy/search/sort, in response order."""
    world = sim.world
    deleted = q.flag("deleted")
    filters, allowed = _filters(q, sim, WORKLOAD_FIELDS)
    sort_by, descending = parse_sort(q.get("sortBy"), q.get("sortOrder"), allowed)
    search = (q.get("search") or "").strip().lower()

    def compute() -> list[int]:
        items = world.visible(deleted)
        if filters or search:
            items = [i for i in items if _keep(world, i, filters, search)]
        if sort_by:
            items = sort_items(items, lambda i: world.fields(world.at(i))[sort_by], descending)
        return items

    key = ("workloads", deleted, q.get("filterBy"), sort_by, descending, search)
    return world.query(key, compute)


def _keep(world: World, index: int, filters: list[Filter], search: str) -> bool:
    fields = world.fields(world.at(index))
    if search and not any(search in str(fields[f]).lower() for f in SEARCH_FIELDS):
        return False
    return all(f.matches(fields) for f in filters)


def _page(items: list[Any], request: Request) -> tuple[list[Any], int | None]:
    """One page of `items`; `next` only while more remain (the last page omits it)."""
    q = query_of(request)
    page = items[q.offset: q.offset + q.limit]
    request.state.items = len(page)
    return page, (q.offset + q.limit if q.offset + q.limit < len(items) else None)


@guarded("runai", "/api/v1/workloads")
async def list_workloads(request: Request, sim: Sim) -> Response:
    world = sim.world
    q = query_of(request)
    # Page drift: a workload is created between two page requests, so offsets shift.
    if sim.faults.settings.page_drift and q.offset > 0:
        world.add_workload()
    items = _selected(q, sim)
    page, nxt = _page(items, request)
    return raw_json(page_body("workloads", [world.workload_json(world.at(i)) for i in page], nxt))


@guarded("runai", "/api/v1/workloads/count")
async def count_workloads(request: Request, sim: Sim) -> Response:
    return json_response({"count": len(_selected(query_of(request), sim))})


def _workload_or_404(request: Request, sim: Sim) -> int:
    cur = sim.world.find(request.path_params["workload_id"])
    if cur is None:
        raise NotFound(f"workload {request.path_params['workload_id']} not found")
    return cur.index


@guarded("runai", "/api/v1/workloads/{workloadId}")
async def get_workload(request: Request, sim: Sim) -> Response:
    world = sim.world
    cur = world.at(_workload_or_404(request, sim))
    body = world.workload_dict(cur)
    spec = world.specs[cur.index]
    if "pendingSchedulingMessages" in sim.version.detail_fields:  # 2.19 and later
        messages = pending_messages(spec, spec.steps[cur.step])
        for message in messages:
            for prop in ("orgType", "phaseReason"):
                if not sim.version.holds_text("PendingSchedulingMessage", prop):
                    message[prop] = None
        body["pendingSchedulingMessages"] = messages
    return json_response(body)


def _event_json(world: World, index: int, event_id: str, ev: EventOut) -> dict[str, Any]:
    spec = world.specs[index]
    return {"id": event_id, "clusterId": world.cluster_of(index), "createdAt": iso(ev.at),
            "type": ev.type, "reason": ev.reason, "message": ev.message, "source": ev.source,
            "involvedObject": {"kind": "Pod", "name": pod_names(spec)[ev.replica],
                               "namespace": spec.project.namespace,
                               "uid": pod_uid(spec, ev.replica, ev.attempt)}}


@guarded("runai", "/api/v1/workloads/{workloadId}/events")
async def workload_events(request: Request, sim: Sim) -> Response:
    world = sim.world
    index = _workload_or_404(request, sim)
    # Newest first; sortOrder (2.20 and later) may ask for oldest first.
    ascending = query_of(request).get("sortOrder") == "asc"
    now = world.now
    events = [(e, eid) for e, eid in world.events(index) if e.at <= now]
    if ascending:
        events.reverse()
    page, nxt = _page(events, request)
    items = [dumps(_event_json(world, index, eid, e)) for e, eid in page]
    return raw_json(page_body("events", items, nxt))


@guarded("runai", "/api/v1/workloads/{workloadId}/history")
async def workload_history(request: Request, sim: Sim) -> Response:
    """The phase-change and event records, newest first (no version takes a sort order)."""
    world = sim.world
    index = _workload_or_404(request, sim)
    spec, now = world.specs[index], world.now
    records: list[tuple[float, dict[str, Any]]] = []
    for i, step in enumerate(spec.steps):
        if step.at > now:
            break
        written = world.stamps(index, i).history
        records.append((written, {
            "meta": {"creationTimestamp": iso_ms(written), "type": "PhaseUpdate"},
            "spec": {"phaseUpdate": {"phase": step.phase, "phaseMessage": step.message}}}))
    for ev, eid in world.events(index):
        if ev.at <= now:
            records.append((ev.at, {
                "meta": {"creationTimestamp": iso(ev.at), "type": "Event"},
                "spec": {"event": _event_json(world, index, eid, ev)}}))
    records.sort(key=lambda r: r[0], reverse=True)
    page, nxt = _page([r for _, r in records], request)
    return raw_json(page_body("records", [dumps(r) for r in page], nxt))


@guarded("runai", "/api/v1/workloads/{workloadId}/pods")
async def workload_pods(request: Request, sim: Sim) -> Response:
    world = sim.world
    q = query_of(request)
    cur = world.at(_workload_or_404(request, sim))
    pods = world.deleted_pods(cur, False) if q.flag("deleted") else world.pods_json(cur, False)
    search = (q.get("search") or "").strip().lower()
    if search:
        pods = [p for p in pods if search in p["name"].lower()]
    page, nxt = _page(pods, request)
    return raw_json(page_body("pods", [dumps(p) for p in page], nxt))


def _pod_fields(pod: dict[str, Any]) -> dict[str, Any]:
    def date(value: str | None) -> float | None:
        return parse_iso(value) if value else None

    return {"clusterId": pod["clusterId"], "workloadId": pod.get("workloadId"),
            "revisionId": None, "nodeName": pod["nodeName"],
            "currentNodepool": pod["currentNodePool"], "createdAt": date(pod["createdAt"]),
            "completedAt": date(pod["completedAt"]), "deletedAt": date(pod.get("deletedAt"))}


@guarded("runai", "/api/v1/workloads/pods")
async def all_pods(request: Request, sim: Sim) -> Response:
    world = sim.world
    q = query_of(request)
    filters, allowed = _filters(q, sim, POD_FIELDS)
    sort_by, descending = parse_sort(q.get("sortBy"), q.get("sortOrder"), allowed)
    completed = q.get("completed") or "all"
    if completed not in ("all", "true", "false"):
        raise BadRequest(f"completed must be true, false or all, got {completed!r}")
    full = q.get("verbosity") == "full"
    search = (q.get("search") or "").strip().lower()
    deleted = q.flag("deleted")

    def compute() -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = []
        for index in world.visible(False) + world.visible(True) if deleted else world.visible():
            cur = world.at(index)
            spec = world.specs[index]
            if completed != "all" and (spec.steps[cur.step].phase in TERMINAL) != (
                    completed == "true"):
                continue
            if search and search not in spec.name.lower():
                continue
            pods.extend(world.deleted_pods(cur, full) if deleted else world.pods_json(cur, full))
        if filters:
            pods = [p for p in pods if all(f.matches(_pod_fields(p)) for f in filters)]
        if sort_by:
            positions = list(range(len(pods)))
            keyed = [_pod_fields(p)[sort_by] for p in pods]
            pods = [pods[i] for i in sort_items(positions, lambda i: keyed[i], descending)]
        return pods

    key = ("pods", deleted, completed, full, search, q.get("filterBy"), sort_by, descending)
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
