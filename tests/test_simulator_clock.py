"""Simulated time: start + real elapsed * speed + admin advances."""

from __future__ import annotations

import httpx
import pytest

from simulator.clock import SimClock, iso, parse_iso
from tests.fixtures_simulator import ManualClock


def test_speed_scales_real_time_and_advance_adds():
    real = ManualClock(1000.0)
    clock = SimClock(start=5000.7, speed=60, real_clock=real)
    assert clock.now() == 5000.0  # whole seconds
    real.advance(10)
    assert clock.now() == 5600.0
    assert clock.advance(30) == 5630.0
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)


def test_speed_zero_freezes_but_advance_still_works():
    real = ManualClock()
    clock = SimClock(start=100, speed=0, real_clock=real)
    real.advance(3600)
    assert clock.now() == 100
    assert clock.advance(60) == 160


def test_iso_round_trip_is_utc_with_z():
    assert iso(0) == "1970-01-01T00:00:00Z"
    assert parse_iso("2026-11-26T04:22:00Z") == parse_iso("2026-11-26T06:22:00+02:00")
    assert parse_iso("2026-11-26T04:22:00") == parse_iso("2026-11-26T04:22:00Z")
    with pytest.raises(ValueError):
        parse_iso("tomorrow")


def test_running_simulator_follows_speed(make_simulator):
    real = ManualClock()
    sim = make_simulator(speed=60, clock=real)
    start = parse_iso(sim.admin("GET", "/admin/clock")["now"])
    real.advance(60)
    assert parse_iso(sim.admin("GET", "/admin/clock")["now"]) == start + 3600
    assert parse_iso(sim.advance(120)["now"]) == start + 3720


def _listing(sim, **params) -> dict[str, tuple[str, str]]:
    """id -> (phase, phaseUpdatedAt) of every workload the API lists with `params`."""
    out: dict[str, tuple[str, str]] = {}
    offset: int | None = 0
    with httpx.Client(base_url=sim.url, headers=sim.auth_headers()) as api:
        while offset is not None:
            r = api.get("/api/v1/workloads", params={**params, "offset": offset, "limit": 500})
            assert r.status_code == 200, r.text
            out.update({w["id"]: (w["phase"], w["phaseUpdatedAt"]) for w in r.json()["workloads"]})
            offset = r.json().get("next")
    return out


def test_advance_changes_moves_to_when_that_many_workloads_changed(simulator):
    before, gone_before = _listing(simulator), _listing(simulator, deleted="true")
    old_now = parse_iso(simulator.admin("GET", "/admin/clock")["now"])
    moved = simulator.advance_changes(40)
    assert moved["changes"] >= 40 and parse_iso(moved["now"]) > old_now
    after, gone_after = _listing(simulator), _listing(simulator, deleted="true")
    changed = {i for i, seen in after.items() if before.get(i) != seen}
    deleted = set(gone_after) - set(gone_before)
    # Several changes of one workload collapse into one; none is invisible.
    assert 0 < len(changed) + len(deleted) <= moved["changes"]
    # What a steady cycle asks for: everything that changed has a phaseUpdatedAt after the
    # old now, less the few seconds the control plane stamps a change before it shows it.
    bound = iso(old_now - 10)
    recent = _listing(simulator, filterBy=f"phaseUpdatedAt>={bound}")
    assert changed <= set(recent)
    assert all(stamp >= bound for _, stamp in recent.values())
    older = _listing(simulator, filterBy=f"phaseUpdatedAt<={bound}")
    assert set(older) | set(recent) == set(after)


def test_advance_changes_is_checked(simulator):
    for body in ({}, {"advance_changes": -1}, {"advance_changes": 1.5},
                 {"advance_changes": 3, "advance_seconds": 1}, {"advance_changes": True}):
        r = httpx.post(f"{simulator.url}/admin/clock", json=body, timeout=30)
        assert r.status_code == 400, body
    assert simulator.advance_changes(0)["changes"] == 0
