"""`/metrics` scrape latency at the widest label set the exporter produces.

    python -m benchmarks.metrics_scrape [--scrapes 200] [--quick]

50 projects x every workload type x every category (plus every kind and phase) are all known, so
every combination is exported, most of them as 0, as the exporter does. Scrapes go over real
HTTP to the exporter's own server (exporter.server) on loopback. The baseline is the same
request to /healthz on the same server, which isolates what building and encoding the families
costs from what HTTP costs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import httpx

from benchmarks.report import Figure, emit, exit_code
from exporter.metrics import PHASES, MetricsState
from exporter.server import BackgroundServer, make_app
from history.categories import CATEGORIES, KINDS, WORKLOAD_TYPES

PROJECTS = 50
SCRAPES = 200
BAR_P95_S = 0.25  # a scrape must stay far below Prometheus' default 10 s scrape timeout


def populated_state(rng: random.Random) -> MetricsState:
    state = MetricsState(projects=[f"team-{i:02d}" for i in range(PROJECTS)])
    for project in sorted(state.projects):
        for workload_type in WORKLOAD_TYPES:
            for _ in range(rng.randrange(1, 20)):
                state.record_finished(project, workload_type)
            for category in rng.sample(CATEGORIES, 5):
                state.record_failure(project, workload_type, rng.choice(KINDS), category)
    phases = {(p, phase): rng.randrange(0, 40) for p in state.projects for phase in PHASES}
    state.poll_succeeded(phases, duration_s=1.2, at=time.time())
    for code in ("200", "429", "500", "timeout"):
        state.observe_request("/api/v1/workloads", code)
    return state


def timed_gets(client: httpx.Client, url: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url)
        response.raise_for_status()
        samples.append(time.perf_counter() - start)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_scrape")
    parser.add_argument("--scrapes", type=int, default=SCRAPES)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 40 scrapes")
    args = parser.parse_args(argv)
    scrapes = 40 if args.quick else max(20, args.scrapes)
    state = populated_state(random.Random(7))
    server = BackgroundServer(make_app(state, poll_interval_s=60), "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with httpx.Client(timeout=10) as client:
            body = client.get(f"{base}/metrics").text
            series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
            scrape: list[float] = []
            health: list[float] = []
            for _ in range(scrapes // 20):  # interleaved, so drift hits both alike
                scrape += timed_gets(client, f"{base}/metrics", 20)
                health += timed_gets(client, f"{base}/healthz", 20)
    finally:
        server.stop()
    size = f"{PROJECTS} projects, {series} series"
    figures = [
        Figure("/metrics scrape p50", statistics.median(scrape), "s", size,
               "/healthz p50", statistics.median(health)),
        Figure("/metrics scrape p95", p95(scrape), "s", size, "/healthz p95", p95(health),
               bar=f"<= {BAR_P95_S} s", passed=p95(scrape) <= BAR_P95_S),
        Figure("/metrics body size", float(len(body.encode())), "bytes", size),
    ]
    emit("metrics_scrape", figures)
    return exit_code(figures)


if __name__ == "__main__":
    raise SystemExit(main())
