"""The tenant's organisation: GET /api/v1/clusters (one per --clusters, as DisplayedCluster)
and GET /api/v1/org-unit/projects (each project in the cluster it belongs to)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.clock import iso
from simulator.filters import PROJECT_FIELDS, parse_filters, parse_sort, sort_items
from simulator.generator import PROJECTS, TENANT_ID, cluster_name, project_cluster
from simulator.guard import guarded, query_of
from simulator.model import Project
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


# Each project's GPU quota per node pool it may use (deserved GPUs).
_QUOTA = {"default": 16.0, "h100": 8.0, "l40s": 4.0}


def _project(sim: Sim, project: Project) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the Project body in this version's fields, its typed filter/sort values)."""
    index = PROJECTS.index(project)
    cluster = project_cluster(project, len(sim.world.cluster_ids))
    created = int(sim.world.clock.start) - 300 * 86_400 + index * 3_600
    quota = sum(_QUOTA.values())
    body: dict[str, Any] = {
        "id": project.id,
        "name": project.name,
        "clusterId": sim.world.cluster_ids[cluster],
        "parentId": project.department_id,
        "description": f"{project.name} ({project.department_name})",
        "createdAt": iso(created),
        "updatedAt": iso(created),
        "createdBy": "admin@example.com",
        "updatedBy": "admin@example.com",
        "requestedNamespace": project.namespace,
        "enforceRunaiScheduler": True,
        "resources": [{"nodePool": {"id": str(100 + i), "name": pool},
                       "gpu": {"deserved": gpus, "limit": None, "overQuotaWeight": 2.0},
                       "cpu": {"deserved": None, "limit": None, "overQuotaWeight": None},
                       "memory": {"deserved": None, "limit": None, "overQuotaWeight": None,
                                  "units": "GB"}}
                      for i, (pool, gpus) in enumerate(_QUOTA.items())],
        "totalResources": {"gpuQuota": quota, "cpuQuota": None, "memoryQuota": None},
        "effective": {"defaultNodePools": list(_QUOTA)},
        "status": {"namespace": project.namespace, "phase": "Ready",
                   "phaseMessage": "Project is ready"},
        "phase": "Ready",
    }
    allowed = sim.version.item_fields("/api/v1/org-unit/projects", "projects")
    fields = {"name": project.name, "clusterId": body["clusterId"],
              "departmentId": project.department_id, "parentId": project.department_id,
              "parentName": project.department_name, "phase": "Ready",
              "createdAt": float(created), "totalGpuQuota": quota, "gpuAllocated": None}
    return {k: v for k, v in body.items() if k in allowed}, fields


@guarded("runai", "/api/v1/org-unit/projects")
async def list_projects(request: Request, sim: Sim) -> Response:
    q = query_of(request)
    param = q.operation.params["filterBy"]
    allowed = PROJECT_FIELDS.restricted(param.filter_fields, sim.version.name)
    filters = parse_filters([raw], allowed) if (raw := q.get("filterBy")) else []
    sort_by, descending = parse_sort(q.get("sortBy"), q.get("sortOrder"), allowed)
    search = (q.get("search") or "").strip().lower()
    rows = [_project(sim, p) for p in PROJECTS]
    rows = [(body, fields) for body, fields in rows
            if all(f.matches(fields) for f in filters)
            and (not search or search in body["name"].lower())]
    if sort_by:
        order = sort_items(list(range(len(rows))), lambda i: rows[i][1].get(sort_by),
                           descending)
        rows = [rows[i] for i in order]
    page = rows[q.offset: q.offset + q.limit]
    request.state.items = len(page)
    body: dict[str, Any] = {"projects": [b for b, _ in page]}
    if q.offset + q.limit < len(rows):
        body["next"] = q.offset + q.limit
    return json_response(body)


ROUTES = [Route("/api/v1/clusters", list_clusters, methods=["GET"]),
          Route("/api/v1/org-unit/projects", list_projects, methods=["GET"])]
