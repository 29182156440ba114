"""Injected faults, each switched on through /admin/faults and observed over real HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.fixtures_simulator import assert_valid


@pytest.fixture
def api(simulator):
    with httpx.Client(base_url=simulator.url, headers=simulator.auth_headers()) as client:
        yield client


def test_latency_is_added(simulator, api):
    simulator.set_faults(latency_ms=250)
    started = time.perf_counter()
    assert api.get("/api/v1/workloads/count").status_code == 200
    assert time.perf_counter() - started >= 0.25


def test_fail_next_fails_exactly_n_requests_with_the_error_schema(simulator, api):
    simulator.set_faults(fail_next=2, error_status=502)
    statuses = [api.get("/api/v1/workloads").status_code for _ in range(3)]
    assert statuses == [502, 502, 200]
    simulator.set_faults(fail_next=1)
    r = api.get("/api/v1/workloads")
    assert r.status_code == 502
    assert r.json()["code"] == 502


def test_error_rate_is_deterministic_for_a_seed(make_simulator):
    def run(seed: int) -> list[int]:
        sim = make_simulator(seed=seed, faults={"error_rate": 0.5})
        with httpx.Client(base_url=sim.url) as client:
            # The token request is itself subject to the fault: retry until it gets through.
            return [client.get("/api/v1/workloads/count").status_code for _ in range(30)]

    first, second = run(11), run(11)
    assert first == second
    assert 503 in first and 401 in first  # a mix: some failed, others reached auth


def test_error_rate_one_fails_everything(simulator, api):
    simulator.set_faults(error_rate=1.0)
    assert {api.get("/api/v1/workloads").status_code for _ in range(5)} == {503}


def test_rate_limit_answers_429_with_retry_after(simulator, api):
    simulator.set_faults(rate_limit_next=1, retry_after_s=7)
    r = api.get("/api/v1/workloads")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "7"
    assert r.json()["code"] == 429
    assert api.get("/api/v1/workloads").status_code == 200


def test_truncated_body_is_cut_short(simulator, api):
    simulator.set_faults(truncate_next=1)
    r = api.get("/api/v1/workloads")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    assert_valid("/api/v1/workloads", "get", api.get("/api/v1/workloads"))


def test_malformed_body_is_not_json(simulator, api):
    simulator.set_faults(malformed_next=1)
    r = api.get("/api/v1/workloads")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    assert api.get("/api/v1/workloads").json()["workloads"]


def test_page_drift_shifts_offsets_between_pages(simulator, api):
    before = api.get("/api/v1/workloads/count").json()["count"]
    simulator.set_faults(page_drift=True)
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        body = api.get("/api/v1/workloads", params={"offset": offset, "limit": 100}).json()
        seen.extend(w["id"] for w in body["workloads"])
        offset = body.get("next")
    after = api.get("/api/v1/workloads/count").json()["count"]
    assert after > before  # workloads were created while paging
    assert len(seen) != len(set(seen))  # so a naive client sees duplicates at page edges


def test_path_prefix_limits_where_faults_apply(simulator):
    simulator.set_faults(fail_next=5, path_prefix="/api/v1/workloads/count")
    headers = simulator.auth_headers()  # the token endpoint is not affected
    assert httpx.get(f"{simulator.url}/api/v1/workloads", headers=headers).status_code == 200
    assert httpx.get(f"{simulator.url}/api/v1/workloads/count",
                     headers=headers).status_code == 503


def test_admin_is_never_faulted_and_reports_and_resets_faults(simulator):
    simulator.set_faults(error_rate=1.0, latency_ms=5)
    shown = simulator.admin("GET", "/admin/faults")
    assert shown["error_rate"] == 1.0 and shown["latency_ms"] == 5
    simulator.reset()
    assert simulator.admin("GET", "/admin/faults")["error_rate"] == 0.0
    headers = simulator.auth_headers()
    assert httpx.get(f"{simulator.url}/api/v1/workloads", headers=headers).status_code == 200


@pytest.mark.parametrize("payload", [{"nope": 1}, {"error_rate": 2}, {"fail_next": -1},
                                     {"page_drift": "yes"}, {"expire_tokens": "now"}])
def test_bad_fault_payload_is_400_and_changes_nothing(simulator, payload):
    r = httpx.post(f"{simulator.url}/admin/faults", json=payload)
    assert r.status_code == 400
    assert r.json()["message"]
    assert simulator.admin("GET", "/admin/faults")["fail_next"] == 0


def test_admin_can_be_disabled(make_simulator):
    sim = make_simulator(admin_enabled=False)
    assert httpx.get(f"{sim.url}/admin/truth").status_code == 404
