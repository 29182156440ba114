"""The exporter's poll cycle against the simulator's `large` scenario.

    python -m benchmarks.poll_cycle [--sizes 1000,10000,50000] [--first-up-to 50000]
                                    [--repeats 5] [--profile DIR] [--quick]

For each size: start the simulator (`--scenario large --scale N`, clock frozen) in a subprocess;
in a child process run the first cycle, which records every failure with evidence and
classification (timed, with its peak memory, at sizes up to --first-up-to: the bar is 1,000 new
failures in at most 30 s). A first start reads at most 2,000 workload timelines a cycle, so a
large cluster has a backlog of timelines for later cycles; the child drains it in untimed cycles
that read every remaining timeline and take evidence from the listing only (what a steady cycle
then skips is the same either way: the markers and record ids on disk). Then, in a fresh child
that starts from that file as a restarted sidecar would, time a steady-state cycle (no new
failures, no timeline read) side by side with a bare paged fetch + json.loads of the same pages
(limit 500), interleaved, and read the child's peak memory (ru_maxrss). Bars: one steady cycle
over 10,000 workloads <= 2 s and <= 200 MiB; from 10,000 workloads up, <= 1.5x the bare fetch;
first cycle <= 30 s per 1,000 failures; every figure measured at several sizes grows at most
linearly (benchmarks.report).
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator(size: int, state: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    kubeconfig = state / "kubeconfig"
    with (state / "simulator.log").open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port),
             "--scenario", "large", "--scale", str(size), "--seed", "7", "--speed", "0",
             "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
             "--write-kubeconfig", str(kubeconfig)],
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
        [sys.executable, "-m", "benchmarks.poll_cycle", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=1800,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# -- inside the child processes ----------------------------------------------------------
def _build(url: str, db: str, history_per_cycle: int | None = None) -> tuple[Any, Any, Any]:
    from exporter.http_retry import RetryPolicy
    from exporter.kube.client import KubeClient, discover, make_http
    from exporter.metrics import MetricsState
    from exporter.monitor import Monitor, Settings
    from exporter.runai.client import RunaiClient
    from history.store import HistoryStore

    state = MetricsState()
    policy = RetryPolicy(timeout_s=30)
    http = httpx.Client(limits=httpx.Limits(max_connections=16))
    runai = RunaiClient(url, CLIENT_ID, CLIENT_SECRET, http=http, policy=policy,
                        observe=state.observe_request)
    access = discover(os.environ)
    kube = (KubeClient(access, http=make_http(access), policy=policy,
                       observe=state.observe_request) if access else None)
    store = HistoryStore(db)
    store.open()
    settings = Settings(poll_interval_s=60, cycle_budget_s=600)
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


def _count_timeline_reads(runai: Any) -> list[int]:
    """Count GET /workloads/{id}/history calls: a steady cycle must make none."""
    calls = [0]
    read = runai.history

    def counted(workload_id: str) -> Any:
        calls[0] += 1
        return read(workload_id)

    runai.history = counted
    return calls


def drain(monitor: Any, reads: list[int], limit: int = 10) -> tuple[int, float]:
    """Cycles until one finds nothing and reads no timeline: (cycles, seconds). Untimed setup:
    every timeline a cycle, evidence from the listing (the cycle budget is spent at once)."""
    monitor.timelines.per_cycle = 10**9
    monitor.settings = dataclasses.replace(monitor.settings, cycle_budget_s=1e-9)
    started = time.perf_counter()
    for cycles in range(1, limit + 1):
        before = reads[0]
        report = monitor.run_cycle()
        assert report.ok, report.error
        if not (report.failures or report.runs or reads[0] > before):
            return cycles, time.perf_counter() - started
    raise RuntimeError(f"the backlog was not drained in {limit} cycles")


def run_first(
    url: str, db: str, timed: bool, history_per_cycle: int | None = None
) -> dict[str, Any]:
    """The first cycle (timed when asked), then the timeline backlog drained."""
    monitor, _, runai = _build(url, db, history_per_cycle)
    reads = _count_timeline_reads(runai)
    result: dict[str, Any] = {}
    if timed:
        wall, cpu = time.perf_counter(), time.process_time()
        report = monitor.run_cycle()
        result = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
                  "workloads": report.workloads, "failures": len(report.failures),
                  "failed_kind": sum(1 for f in report.failures if f.kind == "failed"),
                  "runs": len(report.runs), "timelines_read": reads[0],
                  "with_logs": sum(1 for f in report.failures if f.bundle.get("logs")),
                  # before the drain, whose unbounded timeline reads no sidecar makes
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
        assert report.ok, report.error
    result["drain_cycles"], result["drain_s"] = drain(monitor, reads)
    result["timelines_total"] = reads[0]
    return result


def run_steady(url: str, db: str, repeats: int, profile: str | None = None) -> dict[str, Any]:
    monitor, http, runai = _build(url, db)  # a restarted sidecar: ids and sync state on disk
    reads = _count_timeline_reads(runai)
    token = runai._bearer()
    warm = monitor.run_cycle()  # connections and caches warm, as in any later cycle
    assert warm.ok and not warm.failures and not warm.runs, "the first child left work"
    assert reads[0] == 0, f"a restarted sidecar re-read {reads[0]} timeline(s)"
    exporter: list[tuple[float, float]] = []
    bare: list[tuple[float, float]] = []
    new = 0
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits both alike
        wall, cpu = time.perf_counter(), time.process_time()
        report = monitor.run_cycle()
        exporter.append((time.perf_counter() - wall, time.process_time() - cpu))
        assert report.ok, report.error
        new += len(report.failures) + len(report.runs)
        wall, cpu = time.perf_counter(), time.process_time()
        count = bare_fetch(http, url, token)
        bare.append((time.perf_counter() - wall, time.process_time() - cpu))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
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
    ]
    if not timed_first:
        return figures
    per_1000 = first["wall_s"] / max(1, first["failed_kind"]) * 1000
    return [
        *figures,
        Figure(f"first cycle, {first['failed_kind']} failed + "
               f"{first['failures'] - first['failed_kind']} other episodes",
               first["wall_s"], "s", label),
        # The bar is for a cycle that finds 1,000 failures; a smaller cluster's first cycle is
        # mostly timeline reads, so its per-1,000 figure is shown without the bar.
        Figure("first cycle time per 1,000 new failures", per_1000, "s", label,
               bar="<= 30 s" if first["failed_kind"] >= 1000 else None,
               passed=per_1000 <= 30.0 if first["failed_kind"] >= 1000 else None),
        Figure("first cycle peak memory (RSS)", first["peak_rss_bytes"], "bytes", label),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--first-up-to", type=int, default=50_000,
                        help="time the first cycle at sizes up to this many workloads")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1,000 and 3,000")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="write a cProfile of one steady cycle per size to DIR and print it")
    parser.add_argument("--history-per-cycle", type=int,
                        help="timelines the first cycle may read (default: the exporter's)")
    parser.add_argument("--child", choices=("first", "steady"), help=argparse.SUPPRESS)
    parser.add_argument("--timed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "first":
        print(json.dumps(run_first(args.url, args.db, args.timed, args.history_per_cycle)))
        return 0
    if args.child == "steady":
        print(json.dumps(run_steady(args.url, args.db, args.repeats, args.profile)))
        return 0
    sizes, repeats = [int(s) for s in args.sizes.split(",") if s.strip()], args.repeats
    if args.quick:
        sizes, repeats = [1000, 3000], 3
    figures: list[Figure] = []
    for size in sizes:
        profile = None
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            profile = args.profile.resolve() / f"steady-{size}.pstats"
        figures += measure(size, repeats, size <= args.first_up_to, profile,
                           args.history_per_cycle)
    emit("poll_cycle", figures)
    return exit_code(figures)


if __name__ == "__main__":
    sys.exit(main())
