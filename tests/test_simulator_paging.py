"""Paging through /api/v1/workloads: offset/limit/next cover every workload exactly once."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures_simulator import assert_valid


def _all_pages(url: str, headers: dict[str, str], limit: int, **params: str) -> list[dict]:
    seen: list[dict] = []
    offset: int | None = 0
    client = httpx.Client(base_url=url, headers=headers)
    while offset is not None:
        r = client.get("/api/v1/workloads", params={"offset": offset, "limit": limit, **params})
        assert r.status_code == 200
        body = r.json()
        assert len(body["workloads"]) <= limit
        seen.extend(body["workloads"])
        nxt = body.get("next")
        if nxt is not None:
            assert nxt == offset + limit
            assert len(body["workloads"]) == limit
        offset = nxt
    client.close()
    return seen


@pytest.mark.parametrize("limit", [1, 7, 50, 500])
def test_pages_cover_every_workload_once(simulator, limit):
    headers = simulator.auth_headers()
    count = httpx.get(f"{simulator.url}/api/v1/workloads/count", headers=headers).json()["count"]
    deleted = httpx.get(f"{simulator.url}/api/v1/workloads/count", headers=headers,
                        params={"deleted": "true"}).json()["count"]
    assert deleted > 0
    assert count + deleted == 600  # the demo scenario's history
    seen = _all_pages(simulator.url, headers, limit)
    ids = [w["id"] for w in seen]
    assert len(ids) == count
    assert len(set(ids)) == count


def test_default_limit_is_50_and_next_points_on(simulator):
    r = httpx.get(f"{simulator.url}/api/v1/workloads", headers=simulator.auth_headers())
    body = assert_valid("/api/v1/workloads", "get", r)
    assert len(body["workloads"]) == 50
    assert body["next"] == 50


def test_last_page_has_no_next(simulator):
    r = httpx.get(f"{simulator.url}/api/v1/workloads", headers=simulator.auth_headers(),
                  params={"offset": 550, "limit": 50})
    body = r.json()
    count = httpx.get(f"{simulator.url}/api/v1/workloads/count",
                      headers=simulator.auth_headers()).json()["count"]
    assert len(body["workloads"]) == count - 550
    assert "next" not in body
    r = httpx.get(f"{simulator.url}/api/v1/workloads", headers=simulator.auth_headers(),
                  params={"offset": 5000})
    assert r.json() == {"workloads": []}


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "501"}, {"limit": "x"},
                                    {"offset": "-1"}, {"offset": "ten"}])
def test_bad_paging_is_400(simulator, params):
    r = httpx.get(f"{simulator.url}/api/v1/workloads", headers=simulator.auth_headers(),
                  params=params)
    assert r.status_code == 400
    assert assert_valid("/api/v1/workloads", "get", r)["code"] == 400


def test_default_order_is_newest_first(simulator):
    r = httpx.get(f"{simulator.url}/api/v1/workloads", headers=simulator.auth_headers(),
                  params={"limit": 500})
    created = [w["createdAt"] for w in r.json()["workloads"]]
    assert created == sorted(created, reverse=True)
