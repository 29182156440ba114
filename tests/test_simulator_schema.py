"""Every Run:ai response validates against the published schema of the version served (with
$refs and `nullable` resolved), and uses no field that version does not define. Parametrised
over all seven control-plane versions, 2.18 to 2.24."""

from __future__ import annotations

import httpx
import pytest

from simulator.config import SimulatorConfig
from simulator.versions import VERSIONS
from tests.fixtures_simulator import (
    assert_valid,
    openapi,
    response_validator,
    schema_validator,
    start_simulator,
    undocumented_fields,
)


@pytest.fixture(scope="module", params=VERSIONS)
def served_sim(request):
    """One simulator per version for the module (none of these tests changes its state)."""
    sim = start_simulator(SimulatorConfig(speed=0.0, api_version=request.param))
    yield request.param, sim
    sim.stop()


@pytest.fixture
def served(served_sim):
    version, sim = served_sim
    with httpx.Client(base_url=sim.url, headers=sim.auth_headers()) as client:
        yield version, client


def _sample_ids(api: httpx.Client) -> dict[str, str]:
    """One workload id per phase (and failing ones with distributed pods)."""
    out: dict[str, str] = {}
    for phase in ("Pending", "Running", "Completed", "Failed", "Degraded", "Stopped"):
        r = api.get("/api/v1/workloads", params={"filterBy": f"phase=={phase}", "limit": 1})
        out[phase] = r.json()["workloads"][0]["id"]
    r = api.get("/api/v1/workloads", params={"filterBy": "phase==Failed,type==Distributed",
                                             "limit": 1})
    out["FailedDistributed"] = r.json()["workloads"][0]["id"]
    return out


def test_workload_list_and_count_validate(served):
    version, api = served
    for deleted in ("false", "true"):
        r = api.get("/api/v1/workloads", params={"limit": 500, "deleted": deleted})
        body = assert_valid("/api/v1/workloads", "get", r, version)
        assert body["workloads"]
        r = api.get("/api/v1/workloads/count", params={"deleted": deleted})
        assert_valid("/api/v1/workloads/count", "get", r, version)


def test_workload_fields_follow_the_version(served):
    """Fields a version added appear from it on, never before (schema diffs of the specs)."""
    version, api = served
    workload = api.get("/api/v1/workloads", params={"limit": 1}).json()["workloads"][0]
    defined = set(openapi(version)["components"]["schemas"]["Workload"]["properties"])
    assert set(workload) <= defined
    assert ("phaseReason" in defined) == (version >= "2.19")
    assert ("category" in workload) == (version >= "2.22")
    assert ("totalRunningTimeSeconds" in workload) == (version >= "2.23")


def test_workload_detail_events_history_pods_validate(served):
    version, api = served
    for phase, wid in _sample_ids(api).items():
        r = api.get(f"/api/v1/workloads/{wid}")
        assert r.status_code == 200, phase
        body = assert_valid("/api/v1/workloads/{workloadId}", "get", r, version)
        assert ("pendingSchedulingMessages" in body) == (version >= "2.19")
        for suffix in ("events", "history", "pods"):
            r = api.get(f"/api/v1/workloads/{wid}/{suffix}")
            assert r.status_code == 200, (phase, suffix)
            assert_valid(f"/api/v1/workloads/{{workloadId}}/{suffix}", "get", r, version)
        r = api.get(f"/api/v1/workloads/{wid}/pods", params={"deleted": "true"})
        assert_valid("/api/v1/workloads/{workloadId}/pods", "get", r, version)


def test_token_answers_validate(served_sim):
    version, sim = served_sim
    grant = ({"grantType": "client_credentials", "clientID": sim.client_id,
              "clientSecret": sim.client_secret} if version >= "2.20" else
             {"grantType": "app_token", "appID": sim.client_id, "appSecret": sim.client_secret})
    r = httpx.post(f"{sim.url}/api/v1/token", json=grant)
    body = assert_valid("/api/v1/token", "post", r, version)
    assert body["accessToken"] and ("expiresIn" in body) == (version == "2.24")
    r = httpx.post(f"{sim.url}/api/v1/token", json={**grant, "grantType": "password"})
    assert r.status_code == 400
    assert_valid("/api/v1/token", "post", r, version)


def test_pending_scheduling_messages_on_stuck_workloads(served):
    version, api = served
    if version < "2.19":
        return  # pendingSchedulingMessages arrived in 2.19 (checked above)
    r = api.get("/api/v1/workloads", params={
        "filterBy": "phaseMessage==x"})  # not a filter field
    assert r.status_code == 400
    r = api.get("/api/v1/workloads", params={"filterBy": "phase==Pending", "limit": 500})
    stuck = [w for w in r.json()["workloads"]
             if w["phaseMessage"] == "Not enough resources in the requested nodepool"]
    assert stuck
    body = api.get(f"/api/v1/workloads/{stuck[0]['id']}").json()
    messages = body["pendingSchedulingMessages"]
    assert messages and messages[0]["nodePool"] == body["requestedNodePools"][0]
    validator = schema_validator("PendingSchedulingMessage", version)
    for message in messages:
        validator.validate(message)


def test_all_pods_validate_and_full_verbosity_names_the_workload(served):
    version, api = served
    r = api.get("/api/v1/workloads/pods", params={"limit": 200, "verbosity": "full"})
    body = assert_valid("/api/v1/workloads/pods", "get", r, version)
    assert body["pods"] and all("workloadName" in p for p in body["pods"])
    r = api.get("/api/v1/workloads/pods", params={"limit": 5})
    assert all("workloadName" not in p for p in r.json()["pods"])
    r = api.get("/api/v1/workloads/pods", params={"limit": 500, "deleted": "true"})
    body = assert_valid("/api/v1/workloads/pods", "get", r, version)
    assert body["pods"] and all(p["deletedAt"] for p in body["pods"])


def test_clusters_validate(served):
    version, api = served
    for verbosity in ("full", "metadata"):
        r = api.get("/api/v1/clusters", params={"verbosity": verbosity})
        body = assert_valid("/api/v1/clusters", "get", r, version)
        assert len(body) == 1


def test_projects_validate_page_and_filter(served):
    version, api = served
    body = assert_valid("/api/v1/org-unit/projects", "get", api.get("/api/v1/org-unit/projects"),
                        version)
    assert len(body["projects"]) == 10 and "next" not in body
    first = api.get("/api/v1/org-unit/projects", params={"limit": 4, "sortBy": "name"}).json()
    assert first["next"] == 4
    assert [p["name"] for p in first["projects"]] == sorted(p["name"] for p in body["projects"])[:4]
    r = api.get("/api/v1/org-unit/projects", params={"filterBy": "name==speech"})
    assert [p["name"] for p in assert_valid("/api/v1/org-unit/projects", "get", r,
                                            version)["projects"]] == ["speech"]
    r = api.get("/api/v1/org-unit/projects", params={"filterBy": "phase==Ready"})
    assert r.status_code == (200 if version >= "2.19" else 400)


def test_unknown_workload_is_404_error(served):
    version, api = served
    for suffix in ("", "/events", "/history", "/pods"):
        r = api.get(f"/api/v1/workloads/00000000-0000-4000-8000-000000000000{suffix}")
        assert r.status_code == 404
        assert_valid(f"/api/v1/workloads/{{workloadId}}{suffix}", "get", r, version)


def test_unknown_api_path_is_json_error(make_simulator):
    r = httpx.get(f"{make_simulator().url}/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["code"] == 404


def test_the_validator_is_not_vacuous(served):
    """Breaking a real body must fail validation, or the tests above prove nothing."""
    from jsonschema import ValidationError

    version, api = served
    if version != "2.24":
        return
    validator = response_validator("/api/v1/workloads", "get", 200)
    body = api.get("/api/v1/workloads", params={"limit": 1}).json()
    validator.validate(body)
    for broken in ({**body["workloads"][0], "phase": "OOMKilled"},
                   {k: v for k, v in body["workloads"][0].items() if k != "projectName"},
                   {**body["workloads"][0], "deletedAt": 3}):
        with pytest.raises(ValidationError):
            validator.validate({"workloads": [broken]})
    with pytest.raises(ValidationError):
        validator.validate({"workloads": [], "next": "50"})
    # A field of a newer version is undocumented on an older one.
    schema = openapi("2.18")["paths"]["/api/v1/workloads"]["get"]["responses"]["200"]
    schema = schema["content"]["application/json"]["schema"]
    extra = undocumented_fields(body, schema, "2.18")
    assert {"$.workloads[0].category", "$.workloads[0].totalRunningTimeSeconds"} <= set(extra)
