"""filterBy (every operator), sortBy/sortOrder, search, deleted and count over real HTTP, plus
the parser's own table of good and bad filters."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from simulator.errors import BadRequest
from simulator.filters import WORKLOAD_FIELDS, parse_filter, split_filters
from tests.fixtures_simulator import assert_valid


@pytest.fixture
def api(simulator):
    with httpx.Client(base_url=simulator.url, headers=simulator.auth_headers()) as client:
        yield client


def _all(api: httpx.Client, **params: Any) -> list[dict]:
    out: list[dict] = []
    offset: int | None = 0
    while offset is not None:
        r = api.get("/api/v1/workloads", params={**params, "offset": offset, "limit": 500})
        assert r.status_code == 200, r.text
        out.extend(r.json()["workloads"])
        offset = r.json().get("next")
    return out


@pytest.fixture
def everything(api):
    return _all(api)


CASES = [
    ("phase==Failed", lambda w: w["phase"] == "Failed"),
    ("phase!=Failed", lambda w: w["phase"] != "Failed"),
    ("projectName=@vision", lambda w: "vision" in w["projectName"]),
    ("projectName!@team", lambda w: "team" not in w["projectName"]),
    ("name=^bert", lambda w: w["name"].startswith("bert")),
    ("name=$7", lambda w: w["name"].endswith("7")),
    ("totalRunningTimeSeconds>=7200", lambda w: w["totalRunningTimeSeconds"] >= 7200),
    ("totalRunningTimeSeconds<=60", lambda w: w["totalRunningTimeSeconds"] <= 60),
    ("allocatedGPU>=8", lambda w: w["allocatedResources"]["gpu"] >= 8),
    ("type==Distributed", lambda w: w["type"] == "Distributed"),
]


@pytest.mark.parametrize(("expr", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_operator_selects_exactly_the_matching_workloads(api, everything, expr, expected):
    got = {w["id"] for w in _all(api, filterBy=expr)}
    want = {w["id"] for w in everything if expected(w)}
    assert want, f"the scenario should have workloads for {expr}"
    assert got == want
    count = api.get("/api/v1/workloads/count", params={"filterBy": expr}).json()["count"]
    assert count == len(want)


def test_dates_compare_as_instants(api, everything):
    stamps = sorted(w["phaseUpdatedAt"] for w in everything)
    middle = stamps[len(stamps) // 2]
    after = {w["id"] for w in _all(api, filterBy=f"phaseUpdatedAt>={middle}")}
    assert after == {w["id"] for w in everything if w["phaseUpdatedAt"] >= middle}
    # The same instant written with an offset selects the same workloads.
    shifted = middle.replace("Z", "+00:00")
    assert {w["id"] for w in _all(api, filterBy=f"phaseUpdatedAt>={shifted}")} == after
    exact = {w["id"] for w in _all(api, filterBy=f"phaseUpdatedAt=={middle}")}
    assert exact == {w["id"] for w in everything if w["phaseUpdatedAt"] == middle}


def test_filters_combine_with_and_comma_separated(api, everything):
    want = {w["id"] for w in everything
            if w["phase"] == "Failed" and w["projectName"] == "team-nlp"}
    assert want
    comma = _all(api, filterBy="phase==Failed,projectName==team-nlp")
    assert {w["id"] for w in comma} == want


def test_repeated_filter_by_is_400_as_the_spec_says_explode_false(api):
    """filterBy is `explode: false`: one parameter, filters comma-joined; repeating it is
    outside the spec and a strict server rejects it."""
    for path in ("/api/v1/workloads", "/api/v1/workloads/count", "/api/v1/workloads/pods"):
        r = api.get(path, params={"filterBy": ["clusterId!=x", "createdAt>=2020-01-01T00:00:00Z"]})
        assert r.status_code == 400, (path, r.text)
        assert "comma-joined" in assert_valid(path, "get", r)["message"]


@pytest.mark.parametrize("field", ["createdAt", "name", "totalRunningTimeSeconds", "phase"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_by(api, everything, field, order):
    got = [w[field] for w in _all(api, sortBy=field, sortOrder=order)]
    assert got == sorted((w[field] for w in everything), reverse=order == "desc")


def test_search_matches_names_and_projects(api, everything):
    got = {w["id"] for w in _all(api, search="LLAMA")}
    assert got == {w["id"] for w in everything if "llama" in w["name"].lower()}
    assert got


def test_deleted_lists_only_deleted_workloads(api):
    deleted = _all(api, deleted="true")
    assert deleted and all(w["deletedAt"] is not None for w in deleted)
    assert not {w["id"] for w in deleted} & {w["id"] for w in _all(api)}


@pytest.mark.parametrize("params", [
    {"filterBy": "colour==red"},  # unknown field
    {"filterBy": "phase~Failed"},  # malformed operator
    {"filterBy": "phase=="},  # no value
    {"filterBy": "createdAt=@2026"},  # dates take only == != <= >=
    {"filterBy": "createdAt>=yesterday"},  # not ISO-8601
    {"filterBy": "allocatedGPU>=lots"},
    {"sortBy": "colour"},
    {"sortBy": "name", "sortOrder": "sideways"},
    {"deleted": "maybe"},
])
def test_bad_requests_are_400_with_the_error_schema(api, params):
    for path in ("/api/v1/workloads", "/api/v1/workloads/count"):
        if path.endswith("count") and "sortBy" in params:
            continue
        r = api.get(path, params=params)
        assert r.status_code == 400, (path, params, r.text)
        body = assert_valid(path, "get", r)
        assert body["code"] == 400 and body["message"]


def test_pods_endpoint_filters_by_node_and_workload(api):
    pods = api.get("/api/v1/workloads/pods", params={"limit": 500}).json()["pods"]
    node = next(p["nodeName"] for p in pods if p["nodeName"])
    got = api.get("/api/v1/workloads/pods", params={"filterBy": f"nodeName=={node}",
                                                     "limit": 500}).json()["pods"]
    assert got and all(p["nodeName"] == node for p in got)
    r = api.get("/api/v1/workloads/pods", params={"filterBy": "phase==Failed"})
    assert r.status_code == 400


@pytest.mark.parametrize(("raw", "field", "op", "value"), [
    ("phase==Failed", "phase", "==", "Failed"),
    ("name!=a==b", "name", "!=", "a==b"),
    ("name=^x,y", "name", "=^", "x,y"),
    ("projectName=$-a", "projectName", "=$", "-a"),
    ("phaseUpdatedAt<=2026-11-01T00:00:00Z", "phaseUpdatedAt", "<=", "2026-11-01T00:00:00Z"),
])
def test_parse_filter_table(raw, field, op, value):
    (part,) = split_filters([raw])
    parsed = parse_filter(part, WORKLOAD_FIELDS)
    assert (parsed.field, parsed.op, parsed.text) == (field, op, value)


def test_parse_filter_rejects_with_a_message():
    with pytest.raises(BadRequest, match="unknown filterBy field 'nope'"):
        parse_filter("nope==1", WORKLOAD_FIELDS)
