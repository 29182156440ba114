"""The exporter's poll cycle against the simulator's `large` scenario.

    python -m benchmarks.poll_cycle [--sizes 1000,10000,50000] [--first-up-to 50000]
                                    [--latency-size 5000] [--repeats 5] [--profile DIR]
                                    [--quick]

For each size: start the simulator (`--scenario large --scale N`, clock frozen) in a subprocess;
in a child process run the whole first start as the sidecar does (exporter.monitor streams it a
page at a time, at most 2,000 workload timelines a cycle, the sidecar's caps on requests in
flight), cycle after cycle until every timeline is read, with full evidence throughout; its
peak memory (ru_maxrss) covers all of it (bar: <= 300 MiB at 50,000 workloads, and the growth
from size to size flat). Then, in a fresh child that starts from that file as a restarted
sidecar would, time a steady-state cycle (no new failures, no timeline read) side by side with
a bare paged fetch + json.loads of the same pages (limit 500), interleaved, and read the
child's peak memory. Bars: one steady cycle over 10,000 workloads <= 2 s and <= 200 MiB; from
10,000 workloads up, <= 1.5x the bare fetch; every figure measured at several sizes grows at
most linearly (benchmarks.report). Last, in that child, census cycles (the full listing a
steady cycle takes every --census-interval, every workload held at once): the median of
--repeats after the first (which also grows the heap to hold the listing, logged as
census_first_wall_s), interleaved with the bare fetch, and their peak (bar: under the
sidecar's shipped 1 GiB limit at 50,000 workloads).

At --latency-size, a simulator answering every request after 100 ms (`--latency-ms 100`):
the first cycle's time per 1,000 new failures (bar <= 3 s) beside the caps' floor (the
arithmetic: time >= requests x 0.1 s / cap, for the busier API) and the floor of the timeline
reads alone; the requests it sent per new episode, per API and per endpoint; and the most
requests the simulator answered at once per API against the sidecar's caps (bar: never above).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import pstats
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.report import Figure, emit, exit_code

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret-value"
MIB = 2**20
FIRST_START_BAR_MIB = 300  # issue 15: the whole first start at 50,000 workloads
SHIPPED_LIMIT_MIB = 1024  # the sidecar's memory limit in deploy/k8s: a census must fit it
LATENCY_MS = 100.0  # issue 15: the first start's speed is judged at 100 ms a request
HISTORY_ENDPOINT = "/api/v1/workloads/{id}/history"  # the metrics' label of a timeline read


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator(
    size: int, state: Path, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    kubeconfig = state / "kubeconfig"
    with (state / "simulator.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port),
             "--scenario", "large", "--scale", str(size), "--seed", "7", "--speed", "0",
             "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
             "--write-kubeconfig", str(kubeconfig), *extra],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the simulator exited: {(state / 'simulator.log').read_text()}")
        try:
            httpx.get(f"{url}/api/v1/workloads", timeout=5)
            return process, url, kubeconfig
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the simulator did not start in 300 s")


def child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.poll_cycle", *args], cwd=ROOT,
        env={**env, "MALLOC_ARENA_MAX": "2"},  # as the image runs the sidecar (Dockerfile)
        capture_output=True, text=True, timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- inside the child processes ----------------------------------------------------------
def _build(url: str, db: str, history_per_cycle: int | None = None) -> tuple[Any, Any, Any]:
    from exporter.config import DEFAULT_KUBE_MAX_IN_FLIGHT, DEFAULT_RUNAI_MAX_IN_FLIGHT
    from exporter.http_retry import RetryPolicy
    from exporter.kube.client import KubeClient, discover, make_http
    from exporter.metrics import MetricsState
    from exporter.monitor import Monitor, Settings
    from exporter.runai.client import RunaiClient
    from history.store import HistoryStore

    state = MetricsState()
    policy = RetryPolicy(timeout_s=30)
    # As the sidecar does (exporter.cli): its caps, connection pools and evidence threads.
    http = httpx.Client(limits=httpx.Limits(max_connections=DEFAULT_RUNAI_MAX_IN_FLIGHT))
    runai = RunaiClient(url, CLIENT_ID, CLIENT_SECRET, http=http, policy=policy,
                        observe=state.observe_request)
    access = discover(os.environ)
    kube = (KubeClient(access, http=make_http(access, DEFAULT_KUBE_MAX_IN_FLIGHT),
                       policy=policy, observe=state.observe_request) if access else None)
    store = HistoryStore(db)
    store.open()
    settings = Settings(poll_interval_s=60, cycle_budget_s=600, report_records=False,
                        evidence_workers=DEFAULT_RUNAI_MAX_IN_FLIGHT + DEFAULT_KUBE_MAX_IN_FLIGHT)
    if history_per_cycle is not None:  # the exporter's own default unless told otherwise
        settings = dataclasses.replace(settings, history_per_cycle=history_per_cycle)
    monitor = Monitor(runai, kube, store, state, settings, sync_path=db)
    monitor.load_known()
    return monitor, http, runai


def bare_fetch(http: httpx.Client, url: str, token: str) -> int:
    """The baseline: every page of /api/v1/workloads, parsed, nothing else."""
    offset, total = 0, 0
    while True:
        r = http.get(f"{url}/api/v1/workloads", params={"offset": offset, "limit": 500},
                     headers={"Authorization": f"Bearer {token}"}, timeout=30)
        data = json.loads(r.content)
        total += len(data["workloads"])
        if data.get("next") is None:
            return total
        offset = data["next"]


def _count_timeline_reads(runai: Any, distinct: set[str] | None = None) -> list[int]:
    """Count GET /workloads/{id}/history calls (a steady cycle must make none); the
    workloads read go to `distinct` (a first start reads each timeline once)."""
    calls = [0]
    read = runai.history
    seen = set[str]() if distinct is None else distinct

    def counted(workload_id: str) -> Any:
        calls[0] += 1
        seen.add(workload_id)
        return read(workload_id)

    runai.history = counted
    return calls


def first_start(monitor: Any, limit: int = 100) -> tuple[int, float]:
    """Cycles until the first start is over (every timeline read), then one that finds
    nothing: (cycles, seconds). Full evidence throughout, as the sidecar gathers it."""
    started = time.perf_counter()
    for cycles in range(1, limit + 1):
        report = monitor.run_cycle()
        assert report.ok, report.error
        if monitor.timelines.caught_up:
            last = monitor.run_cycle()
            assert last.ok and not sum(last.recorded.values()), f"after: {last.recorded}"
            return cycles + 1, time.perf_counter() - started
    raise RuntimeError(f"the first start was not over in {limit} cycles")


def _first_cycle(monitor: Any, reads: list[int]) -> dict[str, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    report = monitor.run_cycle()
    assert report.ok, report.error
    episodes = sum(report.recorded.values()) - report.recorded["runs"]
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
            "workloads": report.workloads, "failures": episodes,
            "failed_kind": report.recorded["failed"], "runs": report.recorded["runs"],
            "timelines_read": reads[0]}


def run_first(
    url: str, db: str, timed: bool, history_per_cycle: int | None = None
) -> dict[str, Any]:
    """The first cycle (timed when asked), then the rest of the first start."""
    monitor, _, runai = _build(url, db, history_per_cycle)
    distinct: set[str] = set()
    reads = _count_timeline_reads(runai, distinct)
    result: dict[str, Any] = _first_cycle(monitor, reads) if timed else {}
    cycles, seconds = first_start(monitor)
    result.update(first_start_cycles=cycles + (1 if timed else 0), first_start_s=seconds,
                  timelines_total=reads[0], timelines_distinct=len(distinct),
                  peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return result


def run_latency(url: str, db: str) -> dict[str, Any]:
    """One first cycle against a simulator that answers after 100 ms: its time, its requests
    per API, and the most in flight the sidecar's gates let through."""
    monitor, _, runai = _build(url, db)
    reads = _count_timeline_reads(runai)
    result = _first_cycle(monitor, reads)
    requests = {"runai": 0, "k8s": 0}
    by_endpoint: dict[str, int] = {}
    for (endpoint, _code), n in monitor.state.api_requests.items():
        requests["k8s" if endpoint.startswith("k8s:") else "runai"] += n
        by_endpoint[endpoint] = by_endpoint.get(endpoint, 0) + n
    kube = monitor.kube
    result.update(requests=requests, by_endpoint=by_endpoint, caps={"runai": runai.gate.cap,
                                           "k8s": kube.gate.cap if kube else 0},
                  gate_max={"runai": runai.gate.max_in_flight,
                            "k8s": kube.gate.max_in_flight if kube else 0},
                  slowed=runai.gate.slowed)
    return result


def run_steady(url: str, db: str, repeats: int, profile: str | None = None) -> dict[str, Any]:
    monitor, http, runai = _build(url, db)  # a restarted sidecar: ids and sync state on disk
    reads = _count_timeline_reads(runai)
    token = runai._bearer()
    warm = monitor.run_cycle()  # connections and caches warm, as in any later cycle
    assert warm.ok and not sum(warm.recorded.values()), "the first child left work"
    assert reads[0] == 0, f"a restarted sidecar re-read {reads[0]} timeline(s)"
    exporter: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    new = 0
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits both alike
        wall, cpu = time.perf_counter(), time.process_time()
        report = monitor.run_cycle()
        exporter.append((time.perf_counter() - wall, time.process_time() - cpu))
        assert report.ok, report.error
        new += sum(report.recorded.values())
        wall, cpu = time.perf_counter(), time.process_time()
        count = bare_fetch(http, url, token)
        bare.append((time.perf_counter() - wall, time.process_time() - cpu))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # A census: the full listing a steady cycle takes every --census-interval (and every
    # cycle before 2.22), every workload held at once. Last, so the peaks above are the
    # changes-only cycles' own; failed() forces it, as a census falling due does. The first
    # one also grows the heap to hold the listing (page faults: system time), which the
    # process keeps; the figure is the median of those after it, beside the bare fetch.
    censuses: list[tuple[float, float]] = []
    census_bare: list[float] = []
    for _ in range(repeats + 1):
        monitor.listing.failed()
        wall, cpu = time.perf_counter(), time.process_time()
        census = monitor.run_cycle()
        censuses.append((time.perf_counter() - wall, time.process_time() - cpu))
        assert census.ok and census.listing == "full", (census.listing, census.error)
        new += sum(census.recorded.values())
        if len(censuses) > 1:
            wall = time.perf_counter()
            bare_fetch(http, url, token)
            census_bare.append(time.perf_counter() - wall)
    census_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if profile:  # one more cycle, under the profiler, after the timed ones
        profiler = cProfile.Profile()
        profiler.runcall(monitor.run_cycle)
        profiler.dump_stats(profile)
    return {
        "exporter_wall_s": statistics.median(w for w, _ in exporter),
        "exporter_cpu_s": statistics.median(c for _, c in exporter),
        "bare_wall_s": statistics.median(w for w, _ in bare),
        "bare_cpu_s": statistics.median(c for _, c in bare),
        "workloads": count,
        "new_records": new,
        "timelines_read": reads[0],
        "peak_rss_bytes": peak,
        "census_first_wall_s": censuses[0][0],
        "census_wall_s": statistics.median(w for w, _ in censuses[1:]),
        "census_cpu_s": statistics.median(c for _, c in censuses[1:]),
        "census_bare_wall_s": statistics.median(census_bare),
        "census_peak_rss_bytes": census_peak,
    }


# -- the parent --------------------------------------------------------------------------
def measure(
    size: int,
    repeats: int,
    timed_first: bool,
    profile: Path | None = None,
    history_per_cycle: int | None = None,
) -> list[Figure]:
    label = f"{size} workloads"
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
        state = Path(tmp)
        started = time.perf_counter()
        sim, url, kubeconfig = start_simulator(size, state)
        print(f"{label}: simulator up in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        try:
            env = dict(os.environ, KUBECONFIG=str(kubeconfig))
            db = str(state / "history.db")
            first = child(["--child", "first", "--url", url, "--db", db]
                          + (["--timed"] if timed_first else [])
                          + ([f"--history-per-cycle={history_per_cycle}"]
                             if history_per_cycle is not None else []), env)
            print(f"{label}: first start {first}", file=sys.stderr)
            steady = child(["--child", "steady", "--url", url, "--db", db,
                            "--repeats", str(repeats)]
                           + (["--profile", str(profile)] if profile else []), env)
            print(f"{label}: steady {steady}", file=sys.stderr)
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    if profile:
        print(f"{label}: profile of one steady cycle in {profile}", file=sys.stderr)
        pstats.Stats(str(profile), stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    if steady["new_records"] or steady["timelines_read"]:
        raise RuntimeError(f"steady cycles found {steady['new_records']} new records and read "
                           f"{steady['timelines_read']} timelines")
    big = size >= 10_000
    figures = [
        Figure("steady cycle wall time", steady["exporter_wall_s"], "s", label,
               "bare paged fetch + json.loads", steady["bare_wall_s"],
               "<= 2 s and <= 1.5x" if size == 10_000 else "<= 1.5x" if big else None,
               (steady["exporter_wall_s"] <= 1.5 * steady["bare_wall_s"]
                and (size != 10_000 or steady["exporter_wall_s"] <= 2.0)) if big else None),
        Figure("steady cycle CPU time", steady["exporter_cpu_s"], "s", label,
               "bare paged fetch + json.loads", steady["bare_cpu_s"]),
        Figure("steady cycle peak memory (RSS)", steady["peak_rss_bytes"], "bytes", label,
               bar="<= 200 MiB" if size == 10_000 else None,
               passed=steady["peak_rss_bytes"] <= 200 * MIB if size == 10_000 else None),
        Figure("census cycle wall time (full listing)", steady["census_wall_s"], "s", label,
               "bare paged fetch + json.loads", steady["census_bare_wall_s"]),
        Figure("census cycle peak memory (RSS)", steady["census_peak_rss_bytes"], "bytes",
               label, bar=f"<= {SHIPPED_LIMIT_MIB} MiB" if size >= 50_000 else None,
               passed=steady["census_peak_rss_bytes"] <= SHIPPED_LIMIT_MIB * MIB
               if size >= 50_000 else None),
        # The whole first start, every cycle of it: one page of the listing in memory at a
        # time, so its peak must not grow with the tenant.
        Figure("first start peak memory (RSS)", first["peak_rss_bytes"], "bytes", label,
               bar=f"<= {FIRST_START_BAR_MIB} MiB" if size >= 50_000 else None,
               passed=first["peak_rss_bytes"] <= FIRST_START_BAR_MIB * MIB
               if size >= 50_000 else None),
    ]
    if not timed_first:
        return figures
    return [
        *figures,
        Figure("first start cycles (at most 2,000 timelines each)",
               first["first_start_cycles"], "cycles", label),
        Figure(f"first cycle, {first['failed_kind']} failed + "
               f"{first['failures'] - first['failed_kind']} other episodes, no latency",
               first["wall_s"], "s", label),
    ]


def measure_latency(size: int, latency_ms: float = LATENCY_MS) -> list[Figure]:
    """The first cycle against a simulator answering every request after `latency_ms`."""
    label = f"{size} workloads"
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        state = Path(tmp)
        sim, url, kubeconfig = start_simulator(size, state, ("--latency-ms", f"{latency_ms:g}"))
        try:
            env = dict(os.environ, KUBECONFIG=str(kubeconfig))
            first = child(["--child", "latency", "--url", url, "--db",
                           str(state / "history.db")], env)
            answered = httpx.get(f"{url}/admin/requests", timeout=30).json()["max_in_flight"]
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    print(f"{label}: first cycle at {latency_ms:g} ms {first}; simulator max in flight "
          f"{answered}", file=sys.stderr)
    failed = max(1, first["failed_kind"])
    per_1000 = first["wall_s"] / failed * 1000
    at = f"{latency_ms:g} ms a request"
    caps, requests = first["caps"], first["requests"]

    def floor(count: int, api: str) -> float:
        """Seconds per 1,000 new failures that `count` requests to `api` take at its cap."""
        return count * latency_ms / 1000 / max(1, caps[api]) / failed * 1000

    # The arithmetic: time >= requests x latency / cap for each API; the busier one bounds it.
    busiest = max(floor(requests[api], api) for api in caps)
    figures = [
        Figure(f"first cycle time per 1,000 new failures, {at} ({first['failed_kind']} "
               f"failed + {first['failures'] - first['failed_kind']} other episodes)",
               per_1000, "s", label,
               "the caps' floor: requests x latency / cap, the busier API", busiest,
               bar="<= 3 s" if first["failed_kind"] >= 1000 else None,
               passed=per_1000 <= 3.0 if first["failed_kind"] >= 1000 else None),
        # On a first start every workload's timeline is read once (the only record of what
        # it went through): a floor no cut of evidence requests goes below.
        Figure(f"the timeline reads alone at the Run:ai cap, per 1,000 new failures, {at} "
               f"({first['timelines_read']} timelines)",
               floor(first["by_endpoint"].get(HISTORY_ENDPOINT, 0), "runai"), "s", label),
    ]
    for api, name in (("runai", "Run:ai"), ("k8s", "Kubernetes")):
        cap = caps[api]
        figures += [
            Figure(f"{name} requests per new episode, first cycle",
                   requests[api] / max(1, first["failures"]), "requests", label),
            *(Figure(f"{name} requests per new episode, first cycle: {endpoint}",
                     count / max(1, first["failures"]), "requests", label)
              for endpoint, count in sorted(first["by_endpoint"].items())
              if endpoint.startswith("k8s:") == (api == "k8s")),
            Figure(f"{name} requests in flight at most (simulator), cap {cap}",
                   answered.get(api, 0), "requests", label, bar=f"<= {cap}",
                   passed=answered.get(api, 0) <= cap),
        ]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--first-up-to", type=int, default=50_000,
                        help="time the first cycle at sizes up to this many workloads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--latency-size", type=int, default=5000,
                        help="workloads for the first cycle at 100 ms a request (0: skip)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1,000 and 3,000; 1,000 at 100 ms")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="write a cProfile of one steady cycle per size to DIR and print it")
    parser.add_argument("--history-per-cycle", type=int,
                        help="timelines the first cycle may read (default: the exporter's)")
    parser.add_argument("--child", choices=("first", "steady", "latency"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--timed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "first":
        print(json.dumps(run_first(args.url, args.db, args.timed, args.history_per_cycle)))
        return 0
    if args.child == "latency":
        print(json.dumps(run_latency(args.url, args.db)))
        return 0
    if args.child == "steady":
        print(json.dumps(run_steady(args.url, args.db, args.repeats, args.profile)))
        return 0
    sizes, repeats = [int(s) for s in args.sizes.split(",") if s.strip()], args.repeats
    latency_size = args.latency_size
    if args.quick:
        sizes, repeats, latency_size = [1000, 3000], 3, 1000
    figures: list[Figure] = []
    for size in sizes:
        profile = None
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            profile = args.profile.resolve() / f"steady-{size}.pstats"
        figures += measure(size, repeats, size <= args.first_up_to, profile,
                           args.history_per_cycle)
    if latency_size:
        figures += measure_latency(latency_size)
    emit("poll_cycle", figures)
    return exit_code(figures)


if __name__ == "__main__":
    sys.exit(main())
