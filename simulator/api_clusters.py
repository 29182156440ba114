"""GET /api/v1/clusters: the tenant's clusters (one per --clusters), as DisplayedCluster."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.clock import iso
from simulator.generator import TENANT_ID, cluster_name
from simulator.guard import guarded, query_of
from simulator.responses import json_response
from simulator.state import Sim

# Clusters connected long before any workload of the scenario.
_CONNECTED_BEFORE_S = 400 * 86_400


def _cluster(sim: Sim, index: int, cluster_id: str, full: bool) -> dict[str, Any]:
    world = sim.world
    created = int(world.clock.start) - _CONNECTED_BEFORE_S + index * 86_400
    body: dict[str, Any] = {
        "uuid": cluster_id,
        "tenantId": TENANT_ID,
        "name": cluster_name(index),
        "createdAt": iso(created),
        "domain": f"https://{cluster_name(index)}.runai.example.com",
        "version": f"{sim.version.name}.3",
        "updatedAt": iso(created),
        "deletedAt": None,
        "deleteRequestedAt": None,
        "lastLiveness": iso(world.now - 7),
    }
    if full:
        body["status"] = {"state": "Connected", "conditions": [{
            "type": "Available", "status": "True", "reason": "Connected", "message": "",
            "lastTransitionTime": iso(created)}]}
    allowed = sim.version.cluster_fields
    return {k: v for k, v in body.items() if k in allowed}


@guarded("runai", "/api/v1/clusters")
async def list_clusters(request: Request, sim: Sim) -> Response:
    full = (query_of(request).get("verbosity") or "full") == "full"
    clusters = [_cluster(sim, i, cid, full) for i, cid in enumerate(sim.world.cluster_ids)]
    request.state.items = len(clusters)
    return json_response(clusters)


ROUTES = [Route("/api/v1/clusters", list_clusters, methods=["GET"])]
