"""Realistic where the spec is silent: timestamps that never quite agree, `next` omitted on the
last page, newest-first events and history, the KAI scheduler's placement text, resubmitted
workloads whose earlier failure only the history shows, and deleted workloads and pods."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from simulator.clock import parse_iso
from tests.fixtures_simulator import fetch_all, serving


@pytest.fixture(scope="module")
def served():
    with serving() as both:
        yield both


@pytest.fixture(scope="module")
def sim(served):
    return served[0]


@pytest.fixture(scope="module")
def api(served):
    return served[1]



def _history(api: httpx.Client, wid: str) -> list[dict[str, Any]]:
    return fetch_all(api, f"/api/v1/workloads/{wid}/history", "records")


def test_completed_phase_updated_and_history_times_differ(api):
    failed = fetch_all(api, "/api/v1/workloads", "workloads", filterBy="phase==Failed")
    gaps = []
    for w in failed[:40]:
        phase_at = parse_iso(w["phaseUpdatedAt"])
        completed = parse_iso(w["completedAt"])
        record = next(r for r in _history(api, w["id"]) if r["meta"]["type"] == "PhaseUpdate")
        assert record["spec"]["phaseUpdate"]["phase"] == "Failed"  # newest first
        written = parse_iso(record["meta"]["creationTimestamp"])
        assert completed < phase_at < written  # the pod, the controller, the history
        gaps.append(written - completed)
    # Milliseconds to seconds apart, and not one fixed offset.
    assert min(gaps) >= 0.002 and max(gaps) > 0.5 and len(set(gaps)) > 30


def test_timestamps_are_deterministic_from_the_seed(make_simulator):
    def stamps(seed: int) -> list[str]:
        sim = make_simulator(seed=seed, start=datetime(2026, 11, 30, tzinfo=UTC))
        r = httpx.get(f"{sim.url}/api/v1/workloads", headers=sim.auth_headers(),
                      params={"filterBy": "phase==Failed", "limit": 20})
        return [w["phaseUpdatedAt"] for w in r.json()["workloads"]]

    assert stamps(7) == stamps(7) != stamps(8)


def test_next_is_omitted_on_the_last_page(api):
    count = api.get("/api/v1/workloads/count").json()["count"]
    last = api.get("/api/v1/workloads", params={"offset": count - 3, "limit": 10}).json()
    assert len(last["workloads"]) == 3 and "next" not in last
    exact = api.get("/api/v1/workloads", params={"offset": count - 10, "limit": 10}).json()
    assert "next" not in exact
    middle = api.get("/api/v1/workloads", params={"offset": 0, "limit": 10}).json()
    assert middle["next"] == 10


def test_events_and_history_newest_first_and_sort_order_honoured(api):
    wid = fetch_all(api, "/api/v1/workloads", "workloads", filterBy="phase==Failed")[0]["id"]
    events = api.get(f"/api/v1/workloads/{wid}/events").json()["events"]
    times = [parse_iso(e["createdAt"]) for e in events]
    assert len(times) > 3 and times == sorted(times, reverse=True)
    ascending = api.get(f"/api/v1/workloads/{wid}/events", params={"sortOrder": "asc"}).json()
    assert [e["id"] for e in ascending["events"]] == [e["id"] for e in reversed(events)]
    records = _history(api, wid)
    written = [parse_iso(r["meta"]["creationTimestamp"]) for r in records]
    assert written == sorted(written, reverse=True)


def test_placement_events_in_both_schedulers_words(api):
    """KAI: `Successfully assigned pod <ns>/<pod> to node <node> at node-pool <pool>`;
    kube-scheduler: `Successfully assigned <ns>/<pod> to <node>`. Both name the node."""
    pods = {p["workloadId"]: p for p in fetch_all(api, "/api/v1/workloads/pods", "pods")
            if p["nodeName"]}
    forms = {"kai": 0, "kube": 0}
    for wid, pod in list(pods.items())[:60]:
        events = api.get(f"/api/v1/workloads/{wid}/events", params={"limit": 500}).json()
        for e in events["events"]:
            if e["reason"] != "Scheduled" or e["involvedObject"]["name"] != pod["name"]:
                continue
            ns = e["involvedObject"]["namespace"]
            kai = (f"Successfully assigned pod {ns}/{pod['name']} to node {pod['nodeName']} "
                   f"at node-pool {pod['currentNodePool']}")
            kube = f"Successfully assigned {ns}/{pod['name']} to {pod['nodeName']}"
            assert e["message"] in (kai, kube), e["message"]
            forms["kai" if e["message"] == kai else "kube"] += 1
    assert forms["kai"] > 5 and forms["kube"] > 5, forms


def test_resubmitted_workloads_show_their_earlier_failure_only_in_the_history(sim, api):
    truth = sim.truth()["episodes"]
    earlier = [e for e in truth if e["kind"] == "failed" and not e["deleted"]]
    listed = {w["id"]: w for w in fetch_all(api, "/api/v1/workloads", "workloads")}
    hidden = [e for e in earlier if listed[e["workload_id"]]["phaseUpdatedAt"] !=
              e["phase_updated_at"]]
    assert len(hidden) > 10
    for ep in hidden[:10]:
        w = listed[ep["workload_id"]]
        records = _history(api, w["id"])
        failed = [r for r in records if r["meta"]["type"] == "PhaseUpdate"
                  and r["spec"]["phaseUpdate"]["phase"] == "Failed"
                  and r["meta"]["creationTimestamp"] == ep["history_at"]]
        assert len(failed) == 1, w["name"]
        # The replaced attempt's pods are kept as deleted pods, with its failure state.
        old = api.get(f"/api/v1/workloads/{w['id']}/pods", params={"deleted": "true"}).json()
        assert old["pods"] and all(p["deletedAt"] for p in old["pods"])
        current = api.get(f"/api/v1/workloads/{w['id']}/pods").json()["pods"]
        assert not {p["id"] for p in old["pods"]} & {p["id"] for p in current}


def test_deleted_workloads_include_failed_ones_and_are_listed_only_with_deleted(sim, api):
    deleted = fetch_all(api, "/api/v1/workloads", "workloads", deleted="true")
    live = {w["id"] for w in fetch_all(api, "/api/v1/workloads", "workloads")}
    assert deleted and all(w["deletedAt"] for w in deleted)
    assert not live & {w["id"] for w in deleted}
    assert any(w["phase"] == "Failed" for w in deleted)
    truth_deleted = {e["workload_id"] for e in sim.truth()["episodes"] if e["deleted"]}
    assert truth_deleted and truth_deleted <= {w["id"] for w in deleted}
    # deletedAt filters work on the deleted listing.
    newest = max(w["deletedAt"] for w in deleted)
    recent = fetch_all(api, "/api/v1/workloads", "workloads", deleted="true",
                  filterBy=f"deletedAt>={newest}")
    assert [w["deletedAt"] for w in recent] == [newest]
