"""benchmarks.poll_cycle's harness at a tiny size: simulator, child processes, backlog drain.

The full sizes run under `make bench`; here 300 workloads with a first cycle allowed 50
timelines, so the drain has a real backlog to work through before the steady cycle.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from benchmarks import poll_cycle


def logged(err: str, what: str) -> dict[str, Any]:
    """The dict the harness logs as "<size> workloads: <what> {...}"."""
    match = re.search(rf"{what} (\{{.*\}})", err)
    assert match, err[-2000:]
    return dict(ast.literal_eval(match.group(1)))


@pytest.mark.slow
def test_the_whole_first_start_runs_before_the_steady_cycle_is_timed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = poll_cycle.measure(300, 1, timed_first=True, history_per_cycle=50)
    err = capsys.readouterr().err
    first, steady = logged(err, "first start"), logged(err, "steady")
    assert first["failures"] > 0 and first["runs"] > 0
    # The first cycle read its 50 (plus those of the workloads the listing shows in an
    # episode); later cycles every other one, none twice.
    assert first["timelines_total"] > first["timelines_read"] > 50
    assert first["timelines_total"] == first["timelines_distinct"] <= 300
    assert first["first_start_cycles"] >= 3  # 300 timelines, 50 a cycle, then a quiet one
    assert steady["new_records"] == 0 and steady["timelines_read"] == 0
    by_name = {f.name: f for f in figures}
    wall = by_name["steady cycle wall time"]
    assert wall.value > 0 and wall.baseline_value and wall.baseline_value > 0
    assert by_name["steady cycle peak memory (RSS)"].value > 10 * 2**20
    # the census (a full listing), taken last in the same child, peaks at least as high
    census = by_name["census cycle wall time (full listing)"]
    assert census.value > 0 and census.baseline_value and census.baseline_value > 0
    assert steady["census_first_wall_s"] > 0
    assert (by_name["census cycle peak memory (RSS)"].value
            >= by_name["steady cycle peak memory (RSS)"].value)
    peak = [f for f in figures if f.name.startswith("first start peak memory")]
    assert peak and peak[0].value > 10 * 2**20
    assert any(f.name.startswith(f"first cycle, {first['failed_kind']} failed") for f in figures)
    assert all(f.passed is None for f in figures)  # no bar below 10,000 workloads


@pytest.mark.slow
def test_at_100_ms_a_request_the_caps_hold_at_the_simulator(
    capsys: pytest.CaptureFixture[str],
) -> None:
    figures = poll_cycle.measure_latency(300, latency_ms=20)
    in_flight = [f for f in figures if "in flight at most" in f.name]
    assert len(in_flight) == 2 and all(f.passed for f in in_flight)
    assert all(f.value >= 2 for f in in_flight)  # concurrency was used, not one at a time
    per_failure = [f for f in figures if "requests per new episode" in f.name]
    assert all(f.value > 0 for f in per_failure)
    # per API, and per endpoint summing to it
    for api in ("Run:ai", "Kubernetes"):
        [total] = [f for f in per_failure if f.name == f"{api} requests per new episode, first "
                   "cycle"]
        parts = [f.value for f in per_failure if f.name.startswith(f"{total.name}: ")]
        assert len(parts) >= 2 and sum(parts) == pytest.approx(total.value)
    # the time beside the arithmetic of the caps: never faster than requests x latency / cap
    [speed] = [f for f in figures if f.name.startswith("first cycle time per 1,000")]
    [timelines] = [f for f in figures if f.name.startswith("the timeline reads alone")]
    assert speed.baseline_value and 0 < timelines.value <= speed.baseline_value <= speed.value
