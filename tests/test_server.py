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
    line = ('runai_workload_failures_total{category="gpu_oom",cluster="default",project="team-a",'
            'workload_type="training"} ')
    first = httpx.get(f"{url}/metrics")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain")
    assert line + "0.0" in first.text  # born at zero ...
    assert line + "1.0" in httpx.get(f"{url}/metrics").text  # ... counted from the next scrape


def test_readiness_probes_do_not_count_as_a_scrape(
    served: tuple[str, MetricsState, Clock],
) -> None:
    """Only a scrape exposes a new series at zero; a probe in between must not release it."""
    url, state, clock = served
    state.poll_succeeded({}, 0.1, clock.now)
    state.record_failure("team-a", "training", "failed", "nccl")
    assert httpx.get(f"{url}/readyz").status_code == 200
    line = ('runai_workload_failures_total{category="nccl",cluster="default",project="team-a",'
            'workload_type="training"} ')
    assert line + "0.0" in httpx.get(f"{url}/metrics").text


def test_metrics_are_gzipped_and_speak_openmetrics_when_asked(
    served: tuple[str, MetricsState, Clock],
) -> None:
    url, _, _ = served
    zipped = httpx.get(f"{url}/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and "process_resident_memory_bytes" in (
        zipped.text
    )
    open_metrics = httpx.get(
        f"{url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.rstrip().endswith("# EOF")


def test_busy_port_raises_in_the_caller() -> None:
    first = BackgroundServer(make_app(MetricsState(), 60.0), "127.0.0.1", 0).start()
    try:
        with pytest.raises(OSError):
            BackgroundServer(make_app(MetricsState(), 60.0), "127.0.0.1", first.port)
    finally:
        first.stop()
