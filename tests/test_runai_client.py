"""The Run:ai client's protocol details, against a scripted server over loopback HTTP.

End-to-end behaviour against the simulator lives in tests/test_monitor.py and tests/test_cli.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest

from common.errors import AuthError, RunaiApiError
from exporter.http_retry import RetryPolicy
from exporter.runai.client import RunaiClient
from tests.fixtures_exporter import Answer, ScriptedServer

FAST = RetryPolicy(attempts=3, base_delay_s=0.001, max_delay_s=0.002, timeout_s=2.0)
TOKEN = Answer(200, json.dumps({"access_token": "tok-1", "token_type": "Bearer",
                                "expires_in": 3600}))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def make(scripted: ScriptedServer, http: httpx.Client, clock: Clock | None = None) -> RunaiClient:
    return RunaiClient(scripted.url, "cid", "csecret-value", http=http, policy=FAST,
                       clock=clock or Clock())


def page(ids: list[str], nxt: int | None = None, project: str = "p") -> Answer:
    body: dict[str, object] = {"workloads": [{"id": i, "projectName": project} for i in ids]}
    if nxt is not None:
        body["next"] = nxt
    return Answer(200, json.dumps(body))


def test_v2_token_is_form_encoded_client_credentials(scripted: ScriptedServer, http):
    scripted.script("/api/v2/token", TOKEN)
    make(scripted, http).authenticate()
    sent = parse_qs(scripted.requests_to("/api/v2/token")[0].body.decode())
    assert sent == {"grant_type": ["client_credentials"], "client_id": ["cid"],
                    "client_secret": ["csecret-value"]}


def test_falls_back_to_v1_token_where_v2_is_absent(scripted: ScriptedServer, http):
    scripted.script("/api/v1/token", Answer(200, json.dumps({"accessToken": "tok-v1",
                                                             "expiresIn": 600})))
    scripted.script("/api/v1/workloads", page(["a"]))
    client = make(scripted, http)
    assert [w["id"] for w in client.list_workloads()] == ["a"]
    assert json.loads(scripted.requests_to("/api/v1/token")[0].body) == {
        "grantType": "client_credentials", "clientID": "cid", "clientSecret": "csecret-value"}
    assert scripted.requests_to("/api/v1/workloads")[0].headers["authorization"] == \
        "Bearer tok-v1"


@pytest.mark.parametrize("status", [400, 401, 403])
def test_rejected_credentials_are_an_auth_error(scripted: ScriptedServer, http, status: int):
    scripted.script("/api/v2/token", Answer(status, json.dumps(
        {"error": "invalid_client", "error_description": "Client authentication failed"})))
    with pytest.raises(AuthError) as info:
        make(scripted, http).authenticate()
    assert str(info.value) == ("Run:ai rejected the credentials: invalid_client: "
                               "Client authentication failed")
    assert "csecret-value" not in str(info.value)


def test_token_refreshed_before_expiry(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads", page(["a"]))
    clock = Clock()
    client = make(scripted, http, clock)
    client.list_workloads()
    clock.now += 3000  # before expiry less the margin (3600 - 60)
    client.list_workloads()
    assert client.token_requests == 1
    clock.now += 600
    client.list_workloads()
    assert client.token_requests == 2


def test_401_refreshes_once_then_gives_up(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads", Answer(401), page(["a"]))
    client = make(scripted, http)
    assert [w["id"] for w in client.list_workloads()] == ["a"]
    assert client.token_requests == 2
    scripted.answers["/api/v1/workloads"] = [Answer(401)]
    with pytest.raises(RunaiApiError, match="401 even with a fresh token"):
        client.list_workloads()


def test_follows_next_through_every_page_and_counts_a_workload_once(
    scripted: ScriptedServer, http
) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads", page(["a", "b"], 2), page(["b", "c"], 4), page(["d"]))
    ids = [w["id"] for w in make(scripted, http).list_workloads()]
    assert ids == ["a", "b", "c", "d"]
    queries = [parse_qs(s.query) for s in scripted.requests_to("/api/v1/workloads")]
    assert [q["offset"] for q in queries] == [["0"], ["2"], ["4"]]
    assert all(q["limit"] == ["500"] for q in queries)


def test_one_project_filter_per_project(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads", page(["a"], project="x"), page(["b"], project="y"))
    client = make(scripted, http)
    assert [w["id"] for w in client.list_workloads(["x", "y"])] == ["a", "b"]
    filters = [parse_qs(s.query)["filterBy"] for s in scripted.requests_to("/api/v1/workloads")]
    assert filters == [["projectName==x"], ["projectName==y"]]


def test_paging_that_does_not_advance_is_an_error(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads", page(["a"], 0))
    with pytest.raises(RunaiApiError, match="paging did not advance"):
        make(scripted, http).list_workloads()


def test_a_body_without_workloads_is_an_error_not_an_empty_cluster(
    scripted: ScriptedServer, http
) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads", Answer(200, '{"items": []}'))
    with pytest.raises(RunaiApiError, match="no 'workloads' list"):
        make(scripted, http).list_workloads()


def test_detail_of_a_deleted_workload_is_none(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads/w1", Answer(404, '{"code": 404, "message": "x"}'))
    assert make(scripted, http).workload("w1") is None


def test_pods_fall_back_to_deleted_pods(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads/w1/pods", Answer(200, '{"pods": []}'),
                    Answer(200, '{"pods": [{"name": "p0", "nodeName": "n1"}]}'))
    assert make(scripted, http).pods("w1") == [{"name": "p0", "nodeName": "n1"}]
    queries = [parse_qs(s.query) for s in scripted.requests_to("/api/v1/workloads/w1/pods")]
    assert "deleted" not in queries[0] and queries[1]["deleted"] == ["true"]
