"""The real sidecar (`python -m exporter`) against a misbehaving Run:ai API.

Each test starts the simulator with its clock frozen, lets the sidecar record the truth, then
turns a fault on, moves simulated time on (so there are new failures to find during the fault),
turns the fault off and waits for the sidecar to catch up. After each, the file holds exactly the
simulator's truth: no failure or run lost, none doubled, nothing invented. Faults that outlast
the retries fail whole cycles: the process lives on, says so in its log and metrics, and an
outage never reads as "no failures".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.fixtures_processes import (
    Processes,
    Sidecar,
    assert_file_is_truth,
    sim_start,
    wait_until,
)

SCALE = 150  # workloads: every kind of episode, one page
PAGED_SCALE = 1100  # three pages of 500
NEW_FAILURES_S = 6 * 3600  # simulated time moved on during a fault


def start(make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path,
          scale: int = SCALE) -> tuple[Any, Sidecar]:
    sim = make_simulator(scale=scale, start=sim_start())
    car = processes.sidecar(sim, tmp_path / "history.db")
    car.wait_polls(success=1)
    assert_file_is_truth(car.db, sim.truth())
    return sim, car


def requests(car: Sidecar, endpoint: str, code: str) -> float:
    return car.sample("runai_failure_exporter_api_requests_total", endpoint=endpoint, code=code)


def _code_total(car: Sidecar, code: str) -> float:
    """API attempts answered `code`, over every endpoint."""
    return sum(v for (name, labels), v in car.samples().items()
               if name == "runai_failure_exporter_api_requests_total" and ("code", code) in labels)


def phase_gauges(car: Sidecar) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (name, labels), value in car.samples().items()
            if name == "runai_workloads"}


@pytest.mark.parametrize(
    ("faults", "code"),
    [
        ({"fail_next": 3}, "503"),
        pytest.param({"rate_limit_next": 3, "retry_after_s": 1}, "429",
                     marks=pytest.mark.slow),
        ({"malformed_next": 2}, "invalid_json"),
        ({"truncate_next": 2}, "invalid_json"),
    ],
    ids=["5xx-burst", "429-retry-after", "malformed-page", "truncated-page"],
)
def test_faults_within_the_retries_lose_nothing(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path,
    faults: dict[str, Any], code: str,
) -> None:
    sim, car = start(make_simulator, processes, tmp_path)
    sim.advance(NEW_FAILURES_S)
    sim.set_faults(**faults)
    car.settle()
    assert _code_total(car, code) >= 2, f"the fault was never served ({code})"
    assert car.polls("failure") == 0, car.logs()  # retried inside the cycle
    assert_file_is_truth(car.db, sim.truth())
    assert car.alive()


@pytest.mark.slow
def test_an_outage_fails_cycles_and_never_reads_as_no_failures(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim, car = start(make_simulator, processes, tmp_path)
    sim.set_faults(error_rate=1.0)  # every API request answers 503
    sim.advance(NEW_FAILURES_S)  # failures happen during the outage
    car.wait_polls(failure=1)
    before = phase_gauges(car)  # as the last successful poll left them
    last_success = car.sample("runai_failure_exporter_last_success_timestamp_seconds")
    assert sum(before.values()) > 0 and last_success > 0
    car.wait_polls(failure=3)
    assert car.sample("runai_failure_exporter_up") == 0
    assert phase_gauges(car) == before, "the workloads gauge changed during the outage"
    assert car.sample("runai_failure_exporter_last_success_timestamp_seconds") == last_success
    assert httpx.get(f"{car.base}/healthz", timeout=5).status_code == 200
    wait_until(lambda: httpx.get(f"{car.base}/readyz", timeout=5).status_code == 503, 30,
               "/readyz to say not ready (no successful poll for three intervals)")
    assert "ERROR: Monitoring check #" in car.logs() and "HTTP 503" in car.logs()

    sim.set_faults(error_rate=0.0)
    car.settle()
    assert car.sample("runai_failure_exporter_up") == 1
    assert_file_is_truth(car.db, sim.truth())


@pytest.mark.slow
def test_a_429_storm_longer_than_the_retries_is_caught_up(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim, car = start(make_simulator, processes, tmp_path)
    sim.advance(NEW_FAILURES_S)
    # Four attempts per request: ten 429s in a row fail at least two cycles, each attempt
    # waiting the server's Retry-After of one second.
    sim.set_faults(rate_limit_next=10, retry_after_s=1)
    car.wait_polls(failure=2)
    assert car.sample("runai_failure_exporter_up") == 0
    car.settle()
    assert _code_total(car, "429") == 10
    assert_file_is_truth(car.db, sim.truth())
    # Waited out as the server asked: every 429 but the last of each failed request is
    # followed by a 1 s wait inside a cycle (3 + 3 + 2).
    assert car.sample("runai_failure_exporter_poll_duration_seconds_sum") >= 8


class _OnPage:
    """ASGI wrapper around the simulator: calls `hook` before each workloads page request."""

    def __init__(self, app: ASGIApp, hook: Callable[[Scope], None]) -> None:
        self.app = app
        self.hook = hook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/api/v1/workloads":
            self.hook(scope)
        await self.app(scope, receive, send)


@pytest.mark.slow
def test_latency_beyond_the_timeout_is_retried_while_metrics_answer(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE, start=sim_start())
    faults = sim.app.state.sim.faults
    armed: list[bool] = []

    def slow_once(scope: Scope) -> None:
        # The simulator's latency fault delays the request it is on when it arrives; lifted
        # 50 ms later, it delays exactly one listing (the retry is served at once).
        if armed and scope["path"] == "/api/v1/workloads":
            armed.clear()
            asyncio.get_running_loop().call_later(0.05, faults.update, {"latency_ms": 0})

    sim.app.add_middleware(_OnPage, hook=slow_once)  # before any request
    car = processes.sidecar(sim, tmp_path / "history.db")
    car.wait_polls(success=1)
    assert_file_is_truth(car.db, sim.truth())
    sim.set_faults(latency_ms=10_500)  # past the sidecar's 10 s request timeout
    armed.append(True)
    sim.advance(NEW_FAILURES_S)  # the hung listing, once answered, sees new failures

    def timed_out() -> bool:
        # While the cycle hangs, the scrape and the probes answer at once (own thread).
        assert httpx.get(f"{car.base}/healthz", timeout=2).status_code == 200
        return requests(car, "/api/v1/workloads", "timeout") >= 1

    wait_until(timed_out, 40, "the listing to time out", interval_s=0.2)
    car.settle()
    assert _code_total(car, "timeout") == 1
    assert car.polls("failure") == 0, car.logs()  # retried inside the same cycle
    assert_file_is_truth(car.db, sim.truth())


@pytest.mark.slow
def test_token_expiry_mid_page_is_refreshed_and_loses_nothing(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim = make_simulator(scale=PAGED_SCALE, start=sim_start())
    armed: list[bool] = []

    def expire_before_a_second_page(scope: Scope) -> None:
        query = scope.get("query_string", b"").decode()
        if armed and "offset=500" in query:
            armed.clear()
            sim.app.state.sim.tokens.expire_all()

    sim.app.add_middleware(_OnPage, hook=expire_before_a_second_page)  # before any request
    # Every cycle lists every workload: a steady cycle's changes fit on one page.
    car = processes.sidecar(sim, tmp_path / "history.db", args=["--census-interval", "0"])
    car.wait_polls(success=1, timeout_s=180)
    assert_file_is_truth(car.db, sim.truth())
    sim.advance(NEW_FAILURES_S)
    armed.append(True)
    car.settle(timeout_s=180)
    assert not armed, "the listing never reached a second page"
    assert requests(car, "/api/v1/workloads", "401") >= 1
    assert car.polls("failure") == 0, car.logs()  # one refresh on 401, same cycle
    assert_file_is_truth(car.db, sim.truth())


@pytest.mark.slow
def test_page_drift_loses_nothing(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim, car = start(make_simulator, processes, tmp_path, scale=PAGED_SCALE)
    sim.set_faults(page_drift=True)  # a workload is created before every page after the first
    sim.advance(NEW_FAILURES_S)
    car.settle(timeout_s=180)
    before = len(sim.truth()["episodes"])
    sim.set_faults(page_drift=False)
    car.settle(timeout_s=180)
    truth = sim.truth()
    assert len(truth["episodes"]) >= before
    assert_file_is_truth(car.db, truth)
