"""Every Run:ai response validates against the published OpenAPI schemas (with $refs and
`nullable` resolved), and uses no field the schema does not define."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures_simulator import assert_valid, openapi, schema_validator


@pytest.fixture
def api(simulator):
    with httpx.Client(base_url=simulator.url, headers=simulator.auth_headers()) as client:
        yield client


def _properties(name: str) -> set[str]:
    return set(openapi()["components"]["schemas"][name]["properties"])


def _sample_ids(api: httpx.Client) -> dict[str, str]:
    """One workload id per phase (and failing ones with distributed pods)."""
    out: dict[str, str] = {}
    for phase in ("Pending", "Running", "Completed", "Failed", "Degraded", "Stopped"):
        r = api.get("/api/v1/workloads", params={"filterBy": f"phase=={phase}", "limit": 1})
        out[phase] = r.json()["workloads"][0]["id"]
    r = api.get("/api/v1/workloads", params={"filterBy": ["phase==Failed", "type==Distributed"],
                                             "limit": 1})
    out["FailedDistributed"] = r.json()["workloads"][0]["id"]
    return out


def test_workload_list_and_count_validate(api):
    body = assert_valid("/api/v1/workloads", "get", api.get("/api/v1/workloads",
                                                             params={"limit": 500}))
    allowed = _properties("Workload")
    for workload in body["workloads"]:
        assert set(workload) <= allowed, set(workload) - allowed
    assert_valid("/api/v1/workloads/count", "get", api.get("/api/v1/workloads/count"))


def test_workload_detail_events_history_pods_validate(api):
    detail_fields = _properties("Workload") | {"pendingSchedulingMessages"}
    for phase, wid in _sample_ids(api).items():
        r = api.get(f"/api/v1/workloads/{wid}")
        assert r.status_code == 200, phase
        body = assert_valid("/api/v1/workloads/{workloadId}", "get", r)
        assert set(body) <= detail_fields
        for suffix in ("events", "history", "pods"):
            r = api.get(f"/api/v1/workloads/{wid}/{suffix}")
            assert r.status_code == 200, (phase, suffix)
            assert_valid(f"/api/v1/workloads/{{workloadId}}/{suffix}", "get", r)


def test_pending_scheduling_messages_on_stuck_workloads(api):
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
    validator = schema_validator("PendingSchedulingMessage")
    for message in messages:
        validator.validate(message)


def test_all_pods_validate_and_full_verbosity_names_the_workload(api):
    r = api.get("/api/v1/workloads/pods", params={"limit": 200, "verbosity": "full"})
    body = assert_valid("/api/v1/workloads/pods", "get", r)
    assert body["pods"] and all("workloadName" in p for p in body["pods"])
    r = api.get("/api/v1/workloads/pods", params={"limit": 5})
    assert all("workloadName" not in p for p in r.json()["pods"])


def test_unknown_workload_is_404_error(api):
    for suffix in ("", "/events", "/history", "/pods"):
        r = api.get(f"/api/v1/workloads/00000000-0000-4000-8000-000000000000{suffix}")
        assert r.status_code == 404
        assert_valid(f"/api/v1/workloads/{{workloadId}}{suffix}", "get", r)


def test_unknown_api_path_is_json_error(api):
    r = api.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["code"] == 404


def test_the_validator_is_not_vacuous(api):
    """Breaking a real body must fail validation, or the tests above prove nothing."""
    from jsonschema import ValidationError

    from tests.fixtures_simulator import response_validator

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
