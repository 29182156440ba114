"""A steady cycle's listing that costs what changed, against a full listing (issue 15.3).

    python -m benchmarks.steady_listing [--size 50000] [--rounds 3] [--latency 50-300ms]
                                        [--quick]

Starts the simulator (`--scenario large --scale N`, control plane 2.24, clock frozen, every
answer delayed by a seeded draw in the latency range times 1 + items / 200, so a page of 500
costs 3.5 times a small call, as on a real control plane). Two listings of the sidecar
(exporter.listing) share one Run:ai client: one lists every workload each cycle (the census
interval 0, as before 2.22), the other only the workloads changed since its watermark, plus,
as every cycle, the deleted ones, and one count. After both took their first full listing,
each round makes 1 % of the workloads change (`POST /admin/clock {"advance_changes": N}`)
and times both listings of that moment, interleaved, alternating which goes first; their
phase censuses must be equal every round. Figures: the medians over the rounds of the
requests sent (every attempt) and the wall time. Bars: the changes listing takes at most
0.1x the requests and 0.2x the wall time of the full listing, at 50,000 workloads
(a smoke run's 5,000 show the figures without the bars). The timelines, evidence and
writes that follow are the same in both modes and not timed here (benchmarks/poll_cycle.py
times the whole cycle).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx

from benchmarks.poll_cycle import CLIENT_ID, CLIENT_SECRET, start_simulator
from benchmarks.report import Figure, emit, exit_code

CHANGING = 0.01  # the share of workloads that change between two cycles
BARS = {"requests": 0.1, "wall": 0.2}
BAR_SIZE = 50_000  # the bars hold from this many workloads


class Counted:
    """Every request attempt the client makes (its `observe` hook)."""

    def __init__(self) -> None:
        self.requests = 0

    def __call__(self, endpoint: str, code: str) -> None:
        self.requests += 1


def measure(size: int, rounds: int, latency: str) -> list[Figure]:
    from exporter.http_retry import RetryPolicy
    from exporter.listing import CHANGES, FULL, Listing, ListingSettings
    from exporter.runai.client import RunaiClient

    label = f"{size} workloads, 1% changing"
    changes_per_round = max(1, round(size * CHANGING))
    with tempfile.TemporaryDirectory(prefix="bench-steady-") as tmp:
        # The version pinned: the changes listing needs 2.22+, whatever the simulator's default.
        sim, url, _ = start_simulator(size, Path(tmp),
                                      ("--api-version", "2.24", "--latency", latency))
        try:
            counted = Counted()
            http = httpx.Client(limits=httpx.Limits(max_connections=4))
            runai = RunaiClient(url, CLIENT_ID, CLIENT_SECRET, http=http,
                                policy=RetryPolicy(timeout_s=60), observe=counted)
            listings = {FULL: Listing(runai, ListingSettings(census_interval_s=0)),
                        CHANGES: Listing(runai, ListingSettings(census_interval_s=10**6))}
            deleted_since = _iso(_now(url))  # the sidecar's deleted mark, roughly

            def one(mode: str) -> tuple[int, float, Counter[tuple[str, str]], int]:
                before, wall = counted.requests, time.perf_counter()
                listed = listings[mode].fetch((), _now(url), deleted_since)
                listings[mode].settled(all_read=True)
                took = time.perf_counter() - wall
                Listing.release()  # as the monitor does when a cycle ends
                assert listed.mode == mode, (listed.mode, listed.why)
                return counted.requests - before, took, listed.phases, listed.listed

            for mode in (FULL, CHANGES):  # the first cycle of each: a full listing
                listings[mode].fetch((), _now(url), deleted_since)
                listings[mode].settled(all_read=True)
                Listing.release()
            seen: dict[str, list[tuple[int, float, int]]] = {FULL: [], CHANGES: []}
            for n in range(rounds):
                deleted_since = _iso(_now(url))
                moved = httpx.post(f"{url}/admin/clock", timeout=60,
                                   json={"advance_changes": changes_per_round}).json()
                order = (CHANGES, FULL) if n % 2 == 0 else (FULL, CHANGES)
                phases = {}
                for mode in order:
                    sent, took, phases[mode], count = one(mode)
                    seen[mode].append((sent, took, count))
                if phases[FULL] != phases[CHANGES]:
                    raise RuntimeError(f"round {n}: the census differs from the full listing")
                print(f"round {n}: {moved['changes']} changes; full "
                      f"{seen[FULL][-1][:2]}, changes {seen[CHANGES][-1]}", file=sys.stderr)
            http.close()
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    req = {m: statistics.median(r for r, _, _ in seen[m]) for m in seen}
    wall = {m: statistics.median(w for _, w, _ in seen[m]) for m in seen}
    listed = statistics.median(n for _, _, n in seen[CHANGES])
    barred = size >= BAR_SIZE  # a smaller tenant's few fixed requests weigh more
    return [
        Figure("steady listing requests", req[CHANGES], "requests", label,
               "full listing", req[FULL], f"<= {BARS['requests']:g}x" if barred else None,
               req[CHANGES] <= BARS["requests"] * req[FULL] if barred else None),
        Figure("steady listing wall time", wall[CHANGES], "s", label,
               "full listing", wall[FULL], f"<= {BARS['wall']:g}x" if barred else None,
               wall[CHANGES] <= BARS["wall"] * wall[FULL] if barred else None),
        Figure("steady listing workloads listed", listed, "workloads", label,
               "full listing", float(size)),
    ]


def _now(url: str) -> datetime:
    """The simulator's clock: the listings' `started`, and the deleted listing's bound."""
    from exporter.detect.stamps import parse_time

    now = parse_time(httpx.get(f"{url}/admin/clock", timeout=30).json()["now"])
    assert now is not None
    return now


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", default="50-300ms",
                        help="the simulator's per-request latency range")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5,000 workloads")
    args = parser.parse_args(argv)
    size, rounds, latency = args.size, args.rounds, args.latency
    if args.quick:
        size, rounds, latency = 5_000, 2, "5-30ms"
    figures = measure(size, rounds, latency)
    emit("steady_listing", figures)
    return exit_code(figures)


if __name__ == "__main__":
    sys.exit(main())
