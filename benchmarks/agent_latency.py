"""End-to-end answer latency of the agent over HTTP at 1,000,000 failures.

    python -m benchmarks.agent_latency [--failures 1000000] [--requests 30] [--quick]

Seeds a history file through the real schema (1,000,000 failures over 90 days, plus 2,000,000
finished runs as the failure-rate denominator), starts `python -m agent serve` as its own
process, and times POST /api/chat for the issue's two questions: p50 and p95 of 30 requests
each after warm-up, deterministic mode. Bar: p95 <= 0.5 s. The baseline is the same answer
from respond() in this process without HTTP, so the ratio is what the API layer costs.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx

from agent.llm.settings import LLMSettings
from agent.respond import respond
from agent.types import ToolContext
from benchmarks.report import Figure, emit, exit_code
from history.categories import CATEGORIES
from history.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ("Show me failure statistics", "Analyze failures from the last 7 days")
BAR_S = 0.5


def seed(path: Path, failures: int, runs: int, now: datetime) -> float:
    """Write the rows with set-based SQL (seconds, not minutes); return the seconds it took.

    Rows land in time order, as the sidecar appends them, so DuckDB's per-block min/max of
    the timestamp lets a 7-day question skip the other 83 days as it would in production."""
    started = time.perf_counter()
    categories = "[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]"
    con = duckdb.connect(str(path))
    try:
        con.execute("SET TimeZone = 'UTC'")
        for ddl in MIGRATIONS:
            con.execute(ddl)
        # Failures spread over 90 days; 400 projects, 600 nodes, 20,000 workloads, 60 images.
        con.execute(
            f"""
            INSERT INTO failure_events
            SELECT 'wl-' || (i % 20000) || '@' || i, ts, 'wl-' || (i % 20000),
                   'job-' || (i % 20000), 'project-' || (i % 400), 'dept-' || (i % 12),
                   ['training', 'workspace', 'distributed', 'inference'][1 + i % 4],
                   CASE WHEN i % 50 = 0 THEN 'pending' ELSE 'failed' END,
                   {categories}[1 + (i * 7) % {len(CATEGORIES)}], 0.9,
                   'job failed', 'RuntimeError: step ' || (i % 1000) || ' failed', 'log',
                   'Fix the cause.', 'node-' || (i % 600), 'job-' || (i % 20000) || '-0',
                   'registry.local/team/img:' || (i % 60), 1 + i % 8, 1, NULL, true, NULL,
                   NULL, ts
            FROM (SELECT i, ?::TIMESTAMPTZ - to_seconds((i * 7919) % (90 * 86400)) AS ts
                  FROM range({failures}) t(i))
            ORDER BY ts
            """,
            [now],
        )
        con.execute(
            f"""
            INSERT INTO workload_runs
            SELECT 'run-' || i, 'wl-' || (i % 20000), 'job-' || (i % 20000),
                   'project-' || (i % 400), 'dept-' || (i % 12),
                   ['training', 'workspace', 'distributed', 'inference'][1 + i % 4],
                   CASE WHEN i % 2 = 0 THEN 'Failed' ELSE 'Completed' END, ts, ts,
                   'node-' || (i % 600), 'registry.local/team/img:' || (i % 60), 1 + i % 8, ts
            FROM (SELECT i, ?::TIMESTAMPTZ - to_seconds((i * 104729) % (90 * 86400)) AS ts
                  FROM range({runs}) t(i))
            ORDER BY ts
            """,
            [now],
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_agent(db: Path) -> tuple[subprocess.Popen[bytes], str]:
    api_port, ui_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("NVIDIA_API_KEY", "OPENAI_API_KEY")}
    process = subprocess.Popen(
        [sys.executable, "-m", "agent", "serve", "--host", "127.0.0.1", "--db", str(db),
         "--api-port", str(api_port), "--ui-port", str(ui_port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{api_port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the agent did not start")


def measure(url: str, question: str, warmup: int, requests: int) -> list[float]:
    timings = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(warmup + requests):
            started = time.perf_counter()
            response = client.post("/api/chat", json={"question": question})
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if response.json()["tool_calls"][0]["status"] != "ok":
                raise RuntimeError(f"{question!r} did not answer from data: {response.text[:200]}")
            if i >= warmup:
                timings.append(elapsed)
    return timings


def measure_in_process(db: Path, question: str, warmup: int, requests: int) -> list[float]:
    """The same answer without HTTP: the baseline that shows what the API itself costs."""
    timings = []
    for i in range(warmup + requests):
        ctx = ToolContext(db_path=str(db), prometheus_url=None, now=datetime.now(UTC))
        started = time.perf_counter()
        respond(question, ctx, LLMSettings())
        if i >= warmup:
            timings.append(time.perf_counter() - started)
    return timings


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agent_latency")
    parser.add_argument("--failures", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 100,000 failures, 10 requests")
    args = parser.parse_args(argv)
    if args.quick:
        args.failures, args.runs, args.requests = 100_000, 200_000, 10
    size = f"{args.failures:,} failures"
    with tempfile.TemporaryDirectory(prefix="agent-latency-") as folder:
        db = Path(folder) / "runai_failure_history.db"
        seed_s = seed(db, args.failures, args.runs, datetime.now(UTC))
        print(f"seeded {size} and {args.runs:,} runs in {seed_s:.1f} s "
              f"({db.stat().st_size / 2**20:.0f} MiB)")  # fmt: skip
        process, url = start_agent(db)
        try:
            results = {q: measure(url, q, args.warmup, args.requests) for q in QUESTIONS}
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
        direct = {q: measure_in_process(db, q, args.warmup, args.requests) for q in QUESTIONS}
    figures = []
    for question, timings in results.items():
        figures.append(
            Figure(f"p50 '{question}'", statistics.median(timings), "s", size,
                   baseline_name="respond() in-process, no HTTP",
                   baseline_value=statistics.median(direct[question]))
        )  # fmt: skip
        worst = p95(timings)
        figures.append(
            Figure(f"p95 '{question}'", worst, "s", size,
                   baseline_name="respond() in-process, no HTTP",
                   baseline_value=p95(direct[question]),
                   bar=f"p95 <= {BAR_S:g} s", passed=worst <= BAR_S)
        )  # fmt: skip
    emit("agent_latency", figures)
    return exit_code(figures)


if __name__ == "__main__":
    raise SystemExit(main())
