"""Truth agrees with the API: every episode's workload is there, in that phase, at that time."""

from __future__ import annotations

import httpx
import pytest

from simulator.clock import parse_iso
from simulator.generator import STUCK_PENDING_S
from tests.fixtures_simulator import ManualClock

KIND_PHASE = {"failed": "Failed", "degraded": "Degraded", "pending": "Pending"}


def _by_id(simulator) -> dict[str, dict]:
    out: dict[str, dict] = {}
    with httpx.Client(base_url=simulator.url, headers=simulator.auth_headers()) as api:
        for deleted in ("false", "true"):
            offset: int | None = 0
            while offset is not None:
                body = api.get("/api/v1/workloads", params={
                    "offset": offset, "limit": 500, "deleted": deleted}).json()
                out.update({w["id"]: w for w in body["workloads"]})
                offset = body.get("next")
    return out


def _check(simulator) -> dict:
    truth = simulator.truth()
    workloads = _by_id(simulator)
    now = parse_iso(truth["now"])
    latest: dict[str, dict] = {}
    for ep in truth["episodes"]:
        assert ep["workload_id"] in workloads
        w = workloads[ep["workload_id"]]
        assert (w["name"], w["projectName"]) == (ep["workload_name"], ep["project"])
        assert w["type"].lower() == ep["workload_type"]
        assert parse_iso(ep["timestamp"]) <= now
        if ep["kind"] == "pending":
            assert now - parse_iso(ep["phase_updated_at"]) > STUCK_PENDING_S
        # The API's records of the change trail it, in this order, and never agree exactly.
        assert ep["completed_at"] is None or ep["completed_at"] < ep["phase_updated_at"]
        assert ep["phase_updated_at"] < ep["history_at"]
        assert parse_iso(ep["history_at"]) <= parse_iso(ep["timestamp"])
        latest[ep["workload_id"]] = ep
    # A workload's newest episode is what the API shows when it has not moved on since.
    for wid, ep in latest.items():
        w = workloads[wid]
        if w["phaseUpdatedAt"] == ep["phase_updated_at"]:
            assert w["phase"] == KIND_PHASE[ep["kind"]]
        else:
            assert w["phaseUpdatedAt"] > ep["phase_updated_at"]
    # And every workload showing Failed/Degraded, or Pending for long, is an episode.
    for w in workloads.values():
        kind = {v: k for k, v in KIND_PHASE.items()}.get(w["phase"])
        if kind is None:
            continue
        if kind == "pending" and now - parse_iso(w["phaseUpdatedAt"]) <= STUCK_PENDING_S:
            continue
        if kind == "pending" and not w["phaseMessage"]:
            continue
        ep = latest.get(w["id"])
        assert ep is not None and ep["phase_updated_at"] == w["phaseUpdatedAt"], w["name"]
    for run in truth["runs"]:
        assert run["phase"] in ("Completed", "Failed")
        assert run["workload_id"] in workloads
    return truth


def test_truth_matches_the_api_at_start(simulator):
    truth = _check(simulator)
    assert len(truth["episodes"]) > 100


def test_truth_matches_the_api_after_time_passes(simulator):
    before = simulator.truth()
    simulator.advance(12 * 3600)
    after = _check(simulator)
    assert len(after["episodes"]) > len(before["episodes"])
    assert len(after["runs"]) > len(before["runs"])
    old = {(e["workload_id"], e["timestamp"]) for e in before["episodes"]}
    assert old <= {(e["workload_id"], e["timestamp"]) for e in after["episodes"]}


def test_reset_goes_back_to_the_start(simulator):
    before = simulator.truth()
    simulator.advance(3600)
    simulator.reset()
    assert simulator.truth()["episodes"] == before["episodes"]


@pytest.mark.parametrize("seconds", [-1, "soon", True])
def test_bad_clock_advance_is_400(simulator, seconds):
    r = httpx.post(f"{simulator.url}/admin/clock", json={"advance_seconds": seconds})
    assert r.status_code == 400


def test_reset_keeps_the_scenario_start_even_seconds_later(make_simulator):
    clock = ManualClock()
    sim = make_simulator(clock=clock)
    before = sim.truth()
    clock.advance(5)  # real time passes; with speed 0 the simulated clock stays
    sim.reset()
    assert sim.truth() == before
