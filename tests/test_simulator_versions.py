"""`--api-version`: each control-plane version is served exactly as its published spec says:
token endpoints and bodies, query parameters, filterable fields; strict where the spec is."""

from __future__ import annotations

import httpx
import pytest

from simulator.config import SimulatorConfig
from simulator.versions import VERSIONS, api_version
from tests.fixtures_simulator import assert_valid, start_simulator

# One authenticated client per simulator: a token and a connection per request would
# dominate these tests' time.
_CLIENTS: dict[str, httpx.Client] = {}


@pytest.fixture(scope="module", params=VERSIONS)
def served(request):
    sim = start_simulator(SimulatorConfig(speed=0.0, api_version=request.param))
    _CLIENTS[sim.url] = httpx.Client(base_url=sim.url, headers=sim.auth_headers())
    yield request.param, sim
    _CLIENTS.pop(sim.url).close()
    sim.stop()


def _v1(sim, **body) -> httpx.Response:
    return httpx.post(f"{sim.url}/api/v1/token", json=body)


# ---- tokens -------------------------------------------------------------------------------
def test_v2_token_only_from_2_24(served):
    version, sim = served
    r = httpx.post(f"{sim.url}/api/v2/token", data={
        "grant_type": "client_credentials", "client_id": sim.client_id,
        "client_secret": sim.client_secret})
    if version == "2.24":
        assert assert_valid("/api/v2/token", "post", r, version)["token_type"] == "Bearer"
    else:
        assert r.status_code == 404, r.text
        assert r.json()["code"] == 404 and version in r.json()["message"]


def test_v1_client_credentials_from_2_20_app_token_everywhere(served):
    version, sim = served
    r = _v1(sim, grantType="client_credentials", clientID=sim.client_id,
            clientSecret=sim.client_secret)
    if version >= "2.20":
        assert r.status_code == 200, r.text
        assert_valid("/api/v1/token", "post", r, version)
    else:
        assert r.status_code == 400
        assert "'client_credentials' is not supported on control plane" in r.json()["message"]
    r = _v1(sim, grantType="app_token", appID=sim.client_id, appSecret=sim.client_secret)
    assert r.status_code == 200, r.text
    token = r.json()["accessToken"]
    listing = httpx.get(f"{sim.url}/api/v1/workloads",
                        headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == 200


def test_v1_field_names_match_without_case_like_the_real_server(served):
    """Run:ai's own SDK sends AppId/AppSecret where the spec says appID/appSecret."""
    _, sim = served
    r = _v1(sim, grantType="app_token", AppId=sim.client_id, AppSecret=sim.client_secret)
    assert r.status_code == 200, r.text


def test_v1_app_token_does_not_take_client_fields(served):
    _, sim = served
    r = _v1(sim, grantType="app_token", clientID=sim.client_id, clientSecret=sim.client_secret)
    assert r.status_code == 400
    assert r.json()["message"] == "appID and appSecret are required for grantType app_token"


def test_wrong_secret_is_401_and_content_types_are_the_specs(served):
    version, sim = served
    assert _v1(sim, grantType="app_token", appID=sim.client_id, appSecret="no").status_code == 401
    # v1 takes JSON only; a form body is a 400 with the API's error shape.
    r = httpx.post(f"{sim.url}/api/v1/token", data={"grantType": "app_token",
                                                    "appID": sim.client_id,
                                                    "appSecret": sim.client_secret})
    assert r.status_code == 400 and "application/json" in r.json()["message"]
    if version == "2.24":  # v2 takes a form only (OAuth2 error shape)
        r = httpx.post(f"{sim.url}/api/v2/token", json={
            "grant_type": "client_credentials", "client_id": sim.client_id,
            "client_secret": sim.client_secret})
        assert r.status_code == 400 and r.json()["error"] == "invalid_request"


# ---- query parameters ---------------------------------------------------------------------
def _get(sim, path: str, **params) -> httpx.Response:
    return _CLIENTS[sim.url].get(path, params=params)


def test_parameters_the_version_lacks_are_400(served):
    version, sim = served
    r = _get(sim, "/api/v1/workloads", search="bert")
    assert r.status_code == (200 if version >= "2.20" else 400), r.text
    if r.status_code == 400:
        assert "unknown query parameter 'search'" in assert_valid(
            "/api/v1/workloads", "get", r, version)["message"]
    wid = _get(sim, "/api/v1/workloads", limit=1).json()["workloads"][0]["id"]
    r = _get(sim, f"/api/v1/workloads/{wid}/events", sortOrder="asc")
    assert r.status_code == (200 if version >= "2.20" else 400), r.text
    r = _get(sim, f"/api/v1/workloads/{wid}/history", sortOrder="asc")
    assert r.status_code == 400  # no version sorts the history
    r = _get(sim, "/api/v1/workloads", colour="red")
    assert r.status_code == 400


def test_filter_fields_follow_the_version(served):
    version, sim = served
    r = _get(sim, "/api/v1/workloads", filterBy="phaseUpdatedAt>=2020-01-01T00:00:00Z")
    if version >= "2.22":
        assert r.status_code == 200
    else:
        assert r.status_code == 400
        assert r.json()["message"].startswith(
            f"filterBy field 'phaseUpdatedAt' is not available on control plane {version}")
    r = _get(sim, "/api/v1/workloads", filterBy="idleGpus>=0")
    assert r.status_code == (200 if version >= "2.20" else 400)
    r = _get(sim, "/api/v1/workloads/count", filterBy="category==Train")
    assert r.status_code == (200 if version >= "2.22" else 400)
    r = _get(sim, "/api/v1/workloads/pods", filterBy="workloadId==x")
    assert r.status_code == (200 if version >= "2.21" else 400)
    # Every field the spec's pattern lists is accepted.
    fields = api_version(version).operation("GET", "/api/v1/workloads").params[
        "filterBy"].filter_fields
    for field in sorted(fields):
        value = "2020-01-01T00:00:00Z" if field.endswith("At") else "1"
        r = _get(sim, "/api/v1/workloads", filterBy=f"{field}!={value}", limit=1)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("limit", ["0", "501", "-3", "many"])
def test_limit_outside_1_to_500_is_400(served, limit):
    version, sim = served
    for path in ("/api/v1/workloads", "/api/v1/workloads/pods"):
        r = _get(sim, path, limit=limit)
        assert r.status_code == 400
        assert "limit" in assert_valid(path, "get", r, version)["message"]


def test_repeated_filter_by_is_400(served):
    _, sim = served
    r = _CLIENTS[sim.url].get("/api/v1/workloads", params=[
        ("filterBy", "phase==Failed"), ("filterBy", "type==Training")])
    assert r.status_code == 400
    assert r.json()["message"].startswith("filterBy is given 2 times")
    r = _get(sim, "/api/v1/workloads", filterBy="phase==Failed,type==Training")
    assert r.status_code == 200
    assert {(w["phase"], w["type"]) for w in r.json()["workloads"]} == {("Failed", "Training")}
