"""Simulated time: start + real elapsed * speed + admin advances."""

from __future__ import annotations

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
