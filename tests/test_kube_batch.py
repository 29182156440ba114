"""One batch of episodes reads Kubernetes a namespace at a time (exporter.kube.batch): fewer
requests, the same evidence."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter import monitor as monitor_module
from exporter.http_retry import RetryPolicy
from exporter.kube.batch import KubeBatch
from exporter.kube.client import KubeAccess, KubeClient
from exporter.metrics import MetricsState
from exporter.monitor import Monitor, Settings
from exporter.runai.client import RunaiClient
from history.store import HistoryStore
from tests.fixtures_exporter import Answer, ScriptedServer

FAST = RetryPolicy(attempts=2, base_delay_s=0.001, max_delay_s=0.002, timeout_s=10.0)
START = datetime(2026, 12, 1, tzinfo=UTC)


def first_cycle(sim: Any, tmp: Path) -> tuple[dict[str, Any], Counter[str]]:
    """The first cycle's bundles (episode id -> what reached the classifier) and its requests
    per endpoint."""
    state = MetricsState()
    with httpx.Client() as http:
        runai = RunaiClient(sim.url, sim.client_id, sim.client_secret, http=http,
                            policy=FAST, observe=state.observe_request)
        kube = KubeClient(KubeAccess(server=sim.url, token=sim.k8s_token), http=http,
                          policy=FAST, observe=state.observe_request)
        tmp.mkdir()
        store = HistoryStore(tmp / "history.db")
        store.open()
        monitor = Monitor(runai, kube, store, state, Settings(cycle_budget_s=600))
        report = monitor.run_cycle()
    assert report.ok, report.error
    bundles = {f.episode_id: (f.category, f.pod, f.node, f.exit_code, f.logs_available,
                              json.dumps(f.bundle, sort_keys=True, default=str))
               for f in report.failures}
    requests: Counter[str] = Counter()
    for (endpoint, _code), n in state.api_requests.items():
        requests[endpoint] += n
    return bundles, requests


@pytest.mark.slow
def test_a_batch_lists_pods_and_events_per_namespace_and_gathers_the_same_evidence(
    make_simulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = {"scenario": "large", "scale": 600, "seed": 7, "start": START}
    batched, batched_requests = first_cycle(make_simulator(**scenario), tmp_path / "a")
    # As before: each episode reads its own pods and events
    monkeypatch.setattr(monitor_module, "KubeBatch", lambda kube, wanted: kube)
    alone, alone_requests = first_cycle(make_simulator(**scenario), tmp_path / "b")
    assert len(batched) > 100 and batched == alone
    assert batched_requests["k8s:/pods"] * 4 <= alone_requests["k8s:/pods"]
    assert batched_requests["k8s:/events"] * 4 <= alone_requests["k8s:/events"]
    for endpoint in ("k8s:/pods/{pod}/log", "/api/v1/workloads/{id}/history"):
        assert batched_requests[endpoint] == alone_requests[endpoint]
    # Every episode's timeline was read and holds its events: /events is never asked
    assert not batched_requests["/api/v1/workloads/{id}/events"]


@pytest.fixture
def kube(scripted: ScriptedServer) -> Iterator[KubeClient]:
    with httpx.Client() as http:
        yield KubeClient(KubeAccess(server=scripted.url, token="k"), http=http, policy=FAST)


PODS = "/api/v1/namespaces/ns/pods"


def _pod(workload: str) -> dict[str, Any]:
    return {"metadata": {"name": f"{workload}-0", "labels": {"workloadName": workload}}}


def test_one_listing_serves_the_namespace(scripted: ScriptedServer, kube: KubeClient) -> None:
    scripted.script(PODS, Answer(200, json.dumps({"items": [_pod("a"), _pod("b")]})))
    batch = KubeBatch(kube, [("ns", "a"), ("ns", "b"), ("ns", "c"), ("other", "d")])
    assert [p["metadata"]["name"] for p in batch.pods("ns", "a")] == ["a-0"]
    assert [p["metadata"]["name"] for p in batch.pods("ns", "b")] == ["b-0"]
    assert batch.pods("ns", "c") == []
    [listing] = scripted.requests_to(PODS)
    assert "workloadName+in+%28a%2Cb%2Cc%29" in listing.query
    batch.pods("other", "d")  # alone in its namespace: asked as before
    [alone] = scripted.requests_to("/api/v1/namespaces/other/pods")
    assert "workloadName%3Dd" in alone.query


def test_a_failed_listing_leaves_each_episode_its_own_read(
    scripted: ScriptedServer, kube: KubeClient
) -> None:
    scripted.script(PODS, Answer(503), Answer(503),
                    Answer(200, json.dumps({"items": [_pod("a")]})),
                    Answer(200, json.dumps({"items": [_pod("b")]})))
    batch = KubeBatch(kube, [("ns", "a"), ("ns", "b")])
    assert [p["metadata"]["name"] for p in batch.pods("ns", "a")] == ["a-0"]
    assert [p["metadata"]["name"] for p in batch.pods("ns", "b")] == ["b-0"]
    queries = [s.query for s in scripted.requests_to(PODS)]
    assert len(queries) == 4 and "workloadName%3Db" in queries[-1]  # the listing once only


def test_events_of_a_namespace_are_listed_once(
    scripted: ScriptedServer, kube: KubeClient
) -> None:
    events = [{"reason": r, "involvedObject": {"kind": "Pod", "name": pod}}
              for r, pod in (("OOMKilling", "a-0"), ("BackOff", "b-0"), ("Pulled", "a-0"))]
    scripted.script("/api/v1/namespaces/ns/events", Answer(200, json.dumps({"items": events})))
    batch = KubeBatch(kube, [("ns", "a"), ("ns", "b")])
    assert [e["reason"] for e in batch.events("ns", "a-0")] == ["OOMKilling", "Pulled"]
    assert [e["reason"] for e in batch.events("ns", "b-0")] == ["BackOff"]
    [listing] = scripted.requests_to("/api/v1/namespaces/ns/events")
    assert listing.query == "fieldSelector=involvedObject.kind%3DPod"
