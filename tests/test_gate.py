"""The cap on requests in flight per API (exporter.gate): never exceeded, measured at the
simulator's side; the window halves on 429 and grows back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.gate import Gate
from exporter.http_retry import RetryPolicy
from exporter.kube.client import KubeAccess, KubeClient
from exporter.metrics import MetricsState
from exporter.monitor import Monitor, Settings
from exporter.runai.client import RunaiClient
from history.store import HistoryStore

FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05, retry_after_cap_s=0.05)


def test_never_more_in_flight_than_the_cap() -> None:
    gate = Gate(3)
    seen: list[int] = []

    def request() -> None:
        with gate.slot():
            seen.append(gate.in_flight)
            time.sleep(0.01)
        gate.answered(200)

    threads = [threading.Thread(target=request) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(seen) == gate.max_in_flight == 3 and gate.in_flight == 0


def test_the_window_halves_on_slow_down_and_grows_back() -> None:
    gate = Gate(8)
    for status in (429, 503, None):
        gate.answered(status)
    assert gate.window == 1.0 and gate.slowed == 3
    for _ in range(200):
        gate.answered(200)
    assert gate.window == 8.0
    with pytest.raises(ValueError):
        Gate(0)


@pytest.mark.timeout(120)
def test_a_first_start_fills_the_caps_and_never_exceeds_them(
    make_simulator: Callable[..., Any], tmp_path: Path
) -> None:
    sim = make_simulator(scale=150)
    sim.set_faults(latency_ms=20)  # requests overlap only if they take time
    state = MetricsState()
    with httpx.Client() as http:
        runai = RunaiClient(sim.url, sim.client_id, sim.client_secret, http=http, policy=FAST,
                            observe=state.observe_request, gate=Gate(3))
        kube = KubeClient(KubeAccess(server=sim.url, token=sim.k8s_token), http=http,
                          policy=FAST, observe=state.observe_request, gate=Gate(5))
        store = HistoryStore(tmp_path / "history.db")
        store.open()
        monitor = Monitor(runai, kube, store, state, Settings(evidence_workers=12),
                          sync_path=str(tmp_path / "history.db"))
        monitor.load_known()
        sim.set_faults(rate_limit_next=3, retry_after_s=0)  # the control plane says slow down
        report = monitor.run_cycle()
    assert report.ok and report.failures
    most = sim.admin("GET", "/admin/requests")["max_in_flight"]
    assert most["runai"] == 3 and most["k8s"] == 5, most  # used to the cap, never beyond
    assert runai.gate.max_in_flight == 3 and kube.gate.max_in_flight == 5
    assert runai.gate.slowed >= 1  # the 429s shrank the window
