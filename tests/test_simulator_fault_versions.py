"""The fault flags keep working on every control-plane version (and latency is realistic)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from simulator.config import FaultSettings
from simulator.faults import FaultState, parse_latency
from simulator.versions import VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_every_fault_works_on_every_version(make_simulator, version):
    sim = make_simulator(api_version=version, scale=120)
    headers = sim.auth_headers()

    def get(path: str = "/api/v1/workloads", **params) -> httpx.Response:
        return httpx.get(f"{sim.url}{path}", headers=headers, params=params)

    sim.set_faults(fail_next=1, error_status=502)
    assert get().status_code == 502 and get().status_code == 200
    sim.set_faults(rate_limit_next=1, retry_after_s=3)
    r = get()
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    sim.set_faults(truncate_next=1)
    with pytest.raises(json.JSONDecodeError):
        json.loads(get().content)
    sim.set_faults(malformed_next=1)
    with pytest.raises(json.JSONDecodeError):
        json.loads(get().content)
    sim.set_faults(error_rate=1.0)
    assert get("/api/v1/workloads/count").status_code == 502  # the status set above
    sim.set_faults(error_rate=0.0, page_drift=True)
    before = get("/api/v1/workloads/count").json()["count"]
    assert get(offset=10, limit=10).status_code == 200
    assert get("/api/v1/workloads/count").json()["count"] == before + 1
    sim.set_faults(page_drift=False)
    assert sim.expire_tokens() >= 1
    assert get().status_code == 401
    assert sim.token()  # a new token, issued the way this version issues one


def test_v1_token_only_turns_off_v2_on_2_24(make_simulator):
    sim = make_simulator(faults={"v1_token_only": True})
    r = httpx.post(f"{sim.url}/api/v2/token", data={
        "grant_type": "client_credentials", "client_id": sim.client_id,
        "client_secret": sim.client_secret})
    assert r.status_code == 404
    assert sim.token()  # falls back to v1


@pytest.mark.parametrize(("text", "expected"), [
    ("50-300ms", (50.0, 300.0)), ("50-300", (50.0, 300.0)), ("100ms", (100.0, 100.0)),
    (" 2.5 - 7.5 ms", (2.5, 7.5))])
def test_parse_latency(text, expected):
    assert parse_latency(text) == expected


@pytest.mark.parametrize("text", ["fast", "300-50ms", "-5ms", "50-ms"])
def test_parse_latency_rejects(text):
    with pytest.raises(ValueError):
        parse_latency(text)


def test_latency_draws_are_seeded_in_range_and_scale_with_the_page():
    def draws(seed: int, items: int) -> list[float]:
        state = FaultState(FaultSettings(latency_min_ms=50, latency_max_ms=300), seed)
        return [state.draw_latency(items) for _ in range(200)]

    small = draws(7, 0)
    assert small == draws(7, 0) != draws(8, 0)
    assert min(small) >= 0.05 and max(small) <= 0.3 and max(small) - min(small) > 0.15
    assert draws(7, 500) == pytest.approx([d * 3.5 for d in small])  # a full page: 3.5x
    assert not FaultState(FaultSettings(), 7).latency_on()  # off by default


def test_latency_is_felt_over_http_and_heavier_for_big_pages(make_simulator):
    sim = make_simulator(faults={"latency_min_ms": 40, "latency_max_ms": 60})
    headers = sim.auth_headers()
    with httpx.Client(base_url=sim.url, headers=headers) as api:
        def timed(limit: int) -> float:
            started = time.perf_counter()
            assert api.get("/api/v1/workloads", params={"limit": limit}).status_code == 200
            return time.perf_counter() - started

        small = min(timed(1) for _ in range(3))
        big = min(timed(500) for _ in range(3))
    assert small >= 0.04
    assert big >= 0.04 * 3.5 and big > small * 2
    # /admin can change it, and rejects an inverted range.
    r = httpx.post(f"{sim.url}/admin/faults", json={"latency_min_ms": 90})
    assert r.status_code == 400 and "latency_min_ms" in r.json()["message"]
