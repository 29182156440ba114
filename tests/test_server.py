"""/metrics, /healthz and /readyz served for real on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from exporter.metrics import MetricsState
from exporter.server import BackgroundServer, make_app


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def served() -> Iterator[tuple[str, MetricsState, Clock]]:
    state = MetricsState(["team-a"])
    clock = Clock(1_800_000_000.0)
    server = BackgroundServer(make_app(state, 60.0, clock), "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{server.port}", state, clock
    finally:
        server.stop()


def test_healthz_always_ok(served: tuple[str, MetricsState, Clock]) -> None:
    url, _, _ = served
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_readyz_follows_the_last_successful_poll(served: tuple[str, MetricsState, Clock]):
    url, state, clock = served
    first = httpx.get(f"{url}/readyz")
    assert first.status_code == 503 and "no successful poll" in first.text
    state.poll_succeeded({}, 0.1, clock.now)
    clock.now += 179  # within three intervals of 60 s
    assert httpx.get(f"{url}/readyz").status_code == 200
    clock.now += 2
    late = httpx.get(f"{url}/readyz")
    assert late.status_code == 503 and "181s ago" in late.text


def test_metrics_exposition(served: tuple[str, MetricsState, Clock]) -> None:
    url, state, _ = served
    state.record_failure("team-a", "training", "failed", "gpu_oom")
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    line = ('runai_workload_failures_total{category="gpu_oom",project="team-a",'
            'workload_type="training"} 1.0')
    assert line in response.text


def test_busy_port_raises_in_the_caller() -> None:
    first = BackgroundServer(make_app(MetricsState(), 60.0), "127.0.0.1", 0).start()
    try:
        with pytest.raises(OSError):
            BackgroundServer(make_app(MetricsState(), 60.0), "127.0.0.1", first.port)
    finally:
        first.stop()
