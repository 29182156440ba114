"""Tokens: v2 (OAuth2 form) and v1 (JSON), wrong credentials, missing and expired tokens."""

from __future__ import annotations

import httpx

from tests.fixtures_simulator import ManualClock, assert_valid


def _v2(url: str, **form: str) -> httpx.Response:
    return httpx.post(f"{url}/api/v2/token", data=form)


def test_v2_token_is_oauth2_shaped_and_opens_the_api(simulator):
    r = _v2(simulator.url, grant_type="client_credentials", client_id=simulator.client_id,
            client_secret=simulator.client_secret)
    assert r.status_code == 200
    body = assert_valid("/api/v2/token", "post", r)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    r = httpx.get(f"{simulator.url}/api/v1/workloads",
                  headers={"Authorization": f"Bearer {body['access_token']}"})
    assert r.status_code == 200


def test_v2_wrong_secret_is_401_oauth2_error(simulator):
    r = _v2(simulator.url, grant_type="client_credentials", client_id=simulator.client_id,
            client_secret="not-the-secret")
    assert r.status_code == 401
    body = assert_valid("/api/v2/token", "post", r)
    assert body["error"] == "invalid_client"
    assert "not-the-secret" not in r.text


def test_v2_bad_grant_and_missing_fields_are_400(simulator):
    r = _v2(simulator.url, grant_type="password", client_id="x", client_secret="y")
    assert r.status_code == 400
    assert assert_valid("/api/v2/token", "post", r)["error"] == "unsupported_grant_type"
    r = _v2(simulator.url, grant_type="client_credentials")
    assert r.status_code == 400
    assert assert_valid("/api/v2/token", "post", r)["error"] == "invalid_request"


def test_v1_token_camel_case(simulator):
    r = httpx.post(f"{simulator.url}/api/v1/token", json={
        "grantType": "client_credentials", "clientID": simulator.client_id,
        "clientSecret": simulator.client_secret})
    assert r.status_code == 200
    body = assert_valid("/api/v1/token", "post", r)
    assert set(body) == {"accessToken", "expiresIn", "idToken", "refreshToken"}
    r = httpx.get(f"{simulator.url}/api/v1/workloads/count",
                  headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert r.status_code == 200


def test_v1_wrong_secret_is_rejected(simulator):
    r = httpx.post(f"{simulator.url}/api/v1/token", json={
        "grantType": "client_credentials", "clientID": simulator.client_id,
        "clientSecret": "nope"})
    assert r.status_code == 401
    assert r.json()["code"] == 401


def test_missing_or_unknown_token_is_401_error_schema(simulator):
    for headers in ({}, {"Authorization": "Bearer forged"}, {"Authorization": "Basic abc"}):
        r = httpx.get(f"{simulator.url}/api/v1/workloads", headers=headers)
        assert r.status_code == 401
        assert assert_valid("/api/v1/workloads", "get", r)["code"] == 401


def test_token_expires_after_ttl_on_the_injected_clock(make_simulator):
    clock = ManualClock()
    sim = make_simulator(clock=clock, token_ttl_s=600)
    headers = sim.auth_headers()
    url = f"{sim.url}/api/v1/workloads/count"
    assert httpx.get(url, headers=headers).status_code == 200
    clock.advance(599)
    assert httpx.get(url, headers=headers).status_code == 200
    clock.advance(1)
    assert httpx.get(url, headers=headers).status_code == 401
    assert httpx.get(url, headers=sim.auth_headers()).status_code == 200


def test_expire_tokens_revokes_every_issued_token(simulator):
    headers = simulator.auth_headers()
    url = f"{simulator.url}/api/v1/workloads/count"
    assert httpx.get(url, headers=headers).status_code == 200
    assert simulator.expire_tokens() >= 1
    assert httpx.get(url, headers=headers).status_code == 401


def test_v1_token_only_makes_v2_404(make_simulator):
    sim = make_simulator(faults={"v1_token_only": True})
    r = _v2(sim.url, grant_type="client_credentials", client_id=sim.client_id,
            client_secret=sim.client_secret)
    assert r.status_code == 404
    r = httpx.post(f"{sim.url}/api/v1/token", json={
        "grantType": "client_credentials", "clientID": sim.client_id,
        "clientSecret": sim.client_secret})
    assert r.status_code == 200
