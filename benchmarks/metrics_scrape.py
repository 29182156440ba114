"""`/metrics` cardinality, body size and scrape latency at 50, 500 and 2,000 projects.

    python -m benchmarks.metrics_scrape [--scrapes 100] [--quick]

Each project runs one to three workload types, has workloads in a few phases, and has had
live failures of a few categories; nodes number 0.4 per project, a tenth of them with node
failures. Scrapes go over real HTTP to the exporter's own server (exporter.server) on loopback.
Two baselines are measured in the same run: the series count of the earlier exporter, which
exported every project x workload type x category (and kind, and phase) combination, most of
them zeros, computed from the same population; and /healthz on the same server, which
isolates what building and encoding the families costs from what HTTP costs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import httpx

from benchmarks.report import Figure, emit, exit_code
from exporter.metrics import PHASES, FailureObservation, MetricsState
from exporter.server import BackgroundServer, make_app
from history.categories import CATEGORIES, KINDS, NODE_CATEGORIES, WORKLOAD_TYPES

SIZES = (50, 500, 2000)
SCRAPES = 100
BAR_SIZE = 500
BAR_SERIES = 20_000
BAR_P95_S = 0.1


def populated_state(projects: int, rng: random.Random) -> MetricsState:
    state = MetricsState(hold_new_series_s=0)
    nodes = [f"node-{i:04d}" for i in range(max(1, int(projects * 0.4)))]
    bad_nodes = nodes[: max(1, len(nodes) // 10)]
    phases: dict[tuple[str, str], int] = {}
    for i in range(projects):
        project = f"team-{i:04d}"
        for workload_type in rng.sample(WORKLOAD_TYPES[:4], rng.randrange(1, 4)):
            for _ in range(rng.randrange(1, 20)):
                state.record_finished(project, workload_type)
            for category in rng.sample(CATEGORIES, 3):
                node = rng.choice(bad_nodes) if category in NODE_CATEGORIES else None
                state.observe_failure(
                    FailureObservation(project, workload_type, rng.choice(KINDS), category,
                                       node=node, gpu_seconds=3600.0, time_to_failure_s=900.0,
                                       recording_delay_s=40.0),
                    live=True,
                )
        for phase in rng.sample(PHASES, 3):
            phases[(project, phase)] = rng.randrange(1, 40)
    state.poll_succeeded(phases, duration_s=1.2, at=time.time(),
                         pending_oldest={f"team-{i:04d}": 600.0 for i in range(0, projects, 3)})
    for code in ("200", "429", "500", "timeout"):
        state.observe_request("/api/v1/workloads", code)
    return state


def grid_series(projects: int) -> int:
    """What the earlier exporter exported for the same projects: every combination."""
    types = len(WORKLOAD_TYPES)
    return projects * (types * len(CATEGORIES) + types * len(KINDS) + types + len(PHASES))


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


def measure(projects: int, scrapes: int) -> list[Figure]:
    state = populated_state(projects, random.Random(7))
    server = BackgroundServer(make_app(state, poll_interval_s=60), "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with httpx.Client(timeout=10) as client:
            client.get(f"{base}/metrics")  # the scrape that sees new series at zero
            body = client.get(f"{base}/metrics").text
            series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
            scrape: list[float] = []
            health: list[float] = []
            for _ in range(max(1, scrapes // 20)):  # interleaved, so drift hits both alike
                scrape += timed_gets(client, f"{base}/metrics", 20)
                health += timed_gets(client, f"{base}/healthz", 20)
    finally:
        server.stop()
    size = f"{projects} projects"
    at_bar = projects == BAR_SIZE
    return [
        Figure("/metrics series", float(series), "series", size,
               "every combination exported (before)", float(grid_series(projects)),
               bar=f"<= {BAR_SERIES}" if at_bar else None,
               passed=series <= BAR_SERIES if at_bar else None),
        Figure("/metrics body size", float(len(body.encode())), "bytes", size),
        Figure("/metrics scrape p95", p95(scrape), "s", size, "/healthz p95", p95(health),
               bar=f"<= {BAR_P95_S} s" if at_bar else None,
               passed=p95(scrape) <= BAR_P95_S if at_bar else None),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics_scrape")
    parser.add_argument("--scrapes", type=int, default=SCRAPES)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20 scrapes a size")
    args = parser.parse_args(argv)
    scrapes = 20 if args.quick else max(20, args.scrapes)
    figures = [f for projects in SIZES for f in measure(projects, scrapes)]
    emit("metrics_scrape", figures)
    return exit_code(figures)


if __name__ == "__main__":
    raise SystemExit(main())
