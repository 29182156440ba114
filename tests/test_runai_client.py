"""The Run:ai client's protocol details, against a scripted server over loopback HTTP.

End-to-end behaviour against the simulator lives in tests/test_monitor.py and tests/test_cli.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import httpx
import pytest

from common.errors import AuthError, ConfigError, RunaiApiError
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
    assert [w.id for w in client.list_workloads()] == ["a"]
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
    assert str(info.value) == (
        f"Run:ai rejected the credentials (v2 client_credentials (OAuth2 form)): HTTP {status} "
        "invalid_client: Client authentication failed; check RUNAI_CLIENT_ID and "
        "RUNAI_CLIENT_SECRET")
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
    assert [w.id for w in client.list_workloads()] == ["a"]
    assert client.token_requests == 2
    scripted.answers["/api/v1/workloads"] = [Answer(401)]
    with pytest.raises(RunaiApiError, match="401 even with a fresh token"):
        client.list_workloads()


def test_follows_next_through_every_page_and_counts_a_workload_once(
    scripted: ScriptedServer, http
) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads", page(["a", "b"], 2), page(["b", "c"], 4), page(["d"]))
    ids = [w.id for w in make(scripted, http).list_workloads()]
    assert ids == ["a", "b", "c", "d"]
    queries = [parse_qs(s.query) for s in scripted.requests_to("/api/v1/workloads")]
    assert [q["offset"] for q in queries] == [["0"], ["2"], ["4"]]
    assert all(q["limit"] == ["500"] for q in queries)


def test_one_project_filter_per_project(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads", page(["a"], project="x"), page(["b"], project="y"))
    client = make(scripted, http)
    assert [w.id for w in client.list_workloads(["x", "y"])] == ["a", "b"]
    filters = [parse_qs(s.query)["filterBy"] for s in scripted.requests_to("/api/v1/workloads")]
    assert filters == [["projectName==x"], ["projectName==y"]]


def test_paging_that_does_not_advance_is_an_error(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads", page(["a"], 3), page(["b"], 3))
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


# -- issue 12: token forms, filterBy, next, clusters ------------------------------------------
V1_TOKEN = Answer(200, json.dumps({"accessToken": "tok-v1", "refreshToken": ""}))
NOT_FOUND = Answer(404, json.dumps({"code": 404, "message": "Not Found"}))


def grant_not_taken(grant: str) -> Answer:
    return Answer(400, json.dumps({"code": 400, "message": f"grantType {grant!r} unsupported"}))


def test_app_token_is_the_last_form_tried_and_kept_for_refresh(scripted: ScriptedServer, http):
    """2.18/2.19: no v2 endpoint, no client_credentials grant; app_token with appID/appSecret."""
    scripted.script("/api/v2/token", NOT_FOUND)
    scripted.script("/api/v1/token", grant_not_taken("client_credentials"), V1_TOKEN)
    clock = Clock()
    client = make(scripted, http, clock)
    client.authenticate()
    bodies = [json.loads(r.body) for r in scripted.requests_to("/api/v1/token")]
    assert bodies == [
        {"grantType": "client_credentials", "clientID": "cid", "clientSecret": "csecret-value"},
        {"grantType": "app_token", "appID": "cid", "appSecret": "csecret-value"},
    ]
    assert all(r.headers["content-type"] == "application/json"
               for r in scripted.requests_to("/api/v1/token"))
    assert client.token_form == "v1 app_token (JSON)"
    assert (client.control_plane.low, client.control_plane.high) == ("2.18", "2.19")
    clock.now += 4000  # past the assumed hour: the refresh uses app_token straight away
    scripted.script("/api/v1/workloads", page(["a"]))
    client.list_workloads()
    assert len(scripted.requests_to("/api/v2/token")) == 1
    assert json.loads(scripted.requests_to("/api/v1/token")[-1].body)["grantType"] == "app_token"
    assert len(scripted.requests_to("/api/v1/token")) == 3


def test_v1_client_credentials_means_2_20_to_2_23(scripted: ScriptedServer, http):
    scripted.script("/api/v2/token", Answer(405, ""))
    scripted.script("/api/v1/token", V1_TOKEN)
    client = make(scripted, http)
    client.authenticate()
    assert client.token_form == "v1 client_credentials (JSON)"
    assert client.control_plane.label() == \
        "2.20-2.23 (token form v1 client_credentials (JSON))"


def test_a_401_to_a_form_the_server_takes_stops_the_negotiation(scripted: ScriptedServer, http):
    scripted.script("/api/v2/token", NOT_FOUND)
    scripted.script("/api/v1/token", Answer(401, json.dumps(
        {"code": 401, "message": "Invalid client credentials"})))
    with pytest.raises(AuthError) as info:
        make(scripted, http).authenticate()
    assert str(info.value) == (
        "Run:ai rejected the credentials (v1 client_credentials (JSON)): HTTP 401 Invalid "
        "client credentials; check RUNAI_CLIENT_ID and RUNAI_CLIENT_SECRET")
    assert len(scripted.requests_to("/api/v1/token")) == 1  # not tried again as app_token


def test_no_form_taken_is_one_line_naming_every_try(scripted: ScriptedServer, http):
    scripted.script("/api/v2/token", NOT_FOUND)
    scripted.script("/api/v1/token", Answer(400, json.dumps({"code": 400, "message": "bad"})))
    with pytest.raises(AuthError) as info:
        make(scripted, http).authenticate()
    text = str(info.value)
    assert "\n" not in text and "csecret-value" not in text
    assert text.startswith("Run:ai took none of the token forms (v2 client_credentials "
                           "(OAuth2 form): HTTP 404 Not Found; v1 client_credentials (JSON): "
                           "HTTP 400 bad; v1 app_token (JSON): HTTP 400 bad)")


def test_api_version_override_decides_what_is_sent(scripted: ScriptedServer, http):
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads/w1/events", Answer(200, '{"events": []}'))
    client = RunaiClient(scripted.url, "cid", "csecret-value", http=http, policy=FAST,
                         clock=Clock(), api_version="2.19")
    client.events("w1")
    assert "sortOrder" not in parse_qs(scripted.requests_to("/api/v1/workloads/w1/events")[0]
                                       .query)
    assert client.control_plane.label() == "2.19 (RUNAI_API_VERSION)"


def test_filters_are_one_comma_joined_filterby(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/workloads", page(["a"], project="x"))
    make(scripted, http).list_workloads(["x"], deleted=True,
                                        deleted_since="2026-11-01T00:00:00Z")
    query = parse_qs(scripted.requests_to("/api/v1/workloads")[0].query)
    assert query["filterBy"] == ["projectName==x,deletedAt>=2026-11-01T00:00:00Z"]
    assert query["deleted"] == ["true"]


def test_a_filter_field_the_version_lacks_is_not_sent(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", NOT_FOUND)
    scripted.script("/api/v1/token", V1_TOKEN)
    client = make(scripted, http)
    client.authenticate()  # 2.20-2.23: phaseUpdatedAt only from 2.22, search from 2.20
    query = client._query("/api/v1/workloads", [("search", "x"), ("sortOrder", "desc")],
                          ["phaseUpdatedAt>=2026-01-01T00:00:00Z", "phase==Failed"])
    assert query == [("search", "x"), ("sortOrder", "desc"), ("filterBy", "phase==Failed")]


@pytest.mark.parametrize("last", [None, "absent", "", 0, False])
def test_a_falsy_next_is_the_last_page(scripted: ScriptedServer, http, last: object) -> None:
    scripted.script("/api/v2/token", TOKEN)
    body: dict[str, object] = {"workloads": [{"id": "b"}]}
    if last != "absent":
        body["next"] = last
    scripted.script("/api/v1/workloads", page(["a"], 500), Answer(200, json.dumps(body)))
    assert [w.id for w in make(scripted, http).list_workloads()] == ["a", "b"]


CLUSTER_A = {"uuid": "4d6f2a5e-8c1b-4f3a-9e7d-2b5c8a1f0e93", "name": "prod", "tenantId": 1,
             "createdAt": "2026-01-01T00:00:00Z", "version": "2.22.1"}
CLUSTER_B = {**CLUSTER_A, "uuid": "0a6f2a5e-8c1b-4f3a-9e7d-2b5c8a1f0e00", "name": "dev"}


def test_the_only_cluster_scopes_the_listing(scripted: ScriptedServer, http) -> None:
    scripted.script("/api/v2/token", NOT_FOUND)
    scripted.script("/api/v1/token", V1_TOKEN)
    scripted.script("/api/v1/clusters", Answer(200, json.dumps([CLUSTER_A])))
    scripted.script("/api/v1/workloads", Answer(200, json.dumps({"workloads": [
        {"id": "a", "clusterId": CLUSTER_A["uuid"]}, {"id": "other", "clusterId": "x"},
        {"id": "b"}]})))
    client = make(scripted, http)
    got = client.list_workloads()
    assert [(w.id, w.cluster_id) for w in got] == [
        ("a", CLUSTER_A["uuid"]), ("b", CLUSTER_A["uuid"])]
    query = parse_qs(scripted.requests_to("/api/v1/workloads")[0].query)
    assert query["filterBy"] == [f"clusterId=={CLUSTER_A['uuid']}"]
    # the cluster's own version narrows the token form's 2.20-2.23
    assert (client.control_plane.low, client.control_plane.high) == ("2.22", "2.23")


def test_several_clusters_without_a_setting_is_one_clear_error(scripted: ScriptedServer, http):
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/clusters", Answer(200, json.dumps([CLUSTER_A, CLUSTER_B])))
    with pytest.raises(ConfigError) as info:
        make(scripted, http).settle_scope()
    assert str(info.value) == (
        "The tenant has 2 clusters; set RUNAI_CLUSTER_ID (or --cluster-id) to the one this "
        f"sidecar runs in: {CLUSTER_A['uuid']} (prod), {CLUSTER_B['uuid']} (dev)")
    client = RunaiClient(scripted.url, "cid", "csecret-value", http=http, policy=FAST,
                         clock=Clock(), cluster_id=CLUSTER_B["uuid"])
    client.settle_scope()
    assert client.cluster_id == CLUSTER_B["uuid"]
    wrong = RunaiClient(scripted.url, "cid", "csecret-value", http=http, policy=FAST,
                        clock=Clock(), cluster_id="nope")
    with pytest.raises(ConfigError, match="RUNAI_CLUSTER_ID nope is not one of the tenant"):
        wrong.settle_scope()


def test_an_unscoped_listing_of_several_clusters_is_warned(scripted: ScriptedServer, http,
                                                           caplog) -> None:
    scripted.script("/api/v2/token", TOKEN)
    scripted.script("/api/v1/clusters", Answer(403, json.dumps({"code": 403,
                                                                "message": "Forbidden"})))
    scripted.script("/api/v1/workloads", Answer(200, json.dumps({"workloads": [
        {"id": "a", "clusterId": "c1"}, {"id": "b", "clusterId": "c2"}]})))
    client = make(scripted, http)
    assert len(client.list_workloads()) == 2
    assert client.cluster_id is None and "could not be read" in client.cluster_note
    assert "the listing spans 2 clusters; set RUNAI_CLUSTER_ID" in caplog.text
