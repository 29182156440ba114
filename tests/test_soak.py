"""Soak: the sidecar, the agent answering questions and a DuckDB reader on one file, together.

For SOAK_S seconds the simulator's clock jumps ahead every CHURN_EVERY_S (new failures, runs,
resubmissions and deletions at every poll), the real sidecar polls twice a second and writes
each cycle, the real agent answers a rotating set of chat questions and API calls as fast as it
can, and a separate process opens the file read-only and runs a person's queries in a loop.
Zero errors reach a user: every agent answer is a 200 with no tool in error, the reader never
fails, the sidecar never fails a cycle or a write. At the end the file is exactly the
simulator's truth. Bounded: it stops by itself after SOAK_S (about 80 s in all).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures_processes import (
    Agent,
    Processes,
    assert_file_is_truth,
    file_rows,
    reader_summary,
    sim_start,
)

SOAK_S = 60.0
CHURN_EVERY_S = 0.25
CHURN_STEP_S = 1800  # simulated seconds per jump: 4 days of history over the soak
SCALE = 300

QUESTIONS = (
    "How many workloads failed in the last 7 days?",
    "What are the top failure categories this week?",
    "Show me the latest failures",
    "Which nodes have the most failures in the last 30 days?",
    "Failure rate by project over the last 30 days",
    "What should I fix first?",
)
CALLS: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
    *(("POST", "/api/chat", {"question": q}) for q in QUESTIONS),
    ("GET", "/api/stats?window=last%2030%20days&group_by=category", None),
    ("GET", "/api/failures?limit=20", None),
    ("GET", "/api/failures-per-day", None),
    ("POST", "/v1/chat/completions",
     {"model": "runai-failure-analysis", "messages": [{"role": "user", "content": QUESTIONS[0]}]}),
)


def user_errors(path: str, response: httpx.Response) -> list[str]:
    """What a person would see as an error in this answer (empty when it is a good answer)."""
    if response.status_code != 200:
        return [f"{path}: HTTP {response.status_code} {response.text[:200]}"]
    body = response.json()
    found = []
    results = body.get("tool_calls", []) if path == "/api/chat" else [body]
    if path.startswith("/v1/"):
        results = []
        if not body["choices"][0]["message"]["content"]:
            found.append(f"{path}: empty completion")
    for result in results:
        if result.get("status") == "error":
            found.append(f"{path}: {result.get('name', 'tool')} error: {result.get('message')}")
    return found


def ask_loop(agent: Agent, stop: threading.Event) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    with httpx.Client(base_url=agent.base, timeout=60) as client:
        i = 0
        while not stop.is_set():
            method, path, body = CALLS[i % len(CALLS)]
            i += 1
            t0 = time.monotonic()
            try:
                response = client.request(method, path, json=body)
            except httpx.HTTPError as exc:
                errors.append(f"{path}: {type(exc).__name__}: {exc}")
                continue
            latencies.append(time.monotonic() - t0)
            errors.extend(user_errors(path.split("?")[0], response))
    return latencies, errors


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sidecar_agent_and_reader_share_one_file_under_churn(
    make_simulator: Callable[..., Any], processes: Processes, tmp_path: Path
) -> None:
    sim = make_simulator(scale=SCALE, start=sim_start(days_ago=6))
    db = tmp_path / "history.db"
    car = processes.sidecar(sim, db)
    car.wait_polls(success=1)
    agent = processes.agent(db)
    reader = processes.reader(db, seconds=SOAK_S)

    stop = threading.Event()
    jumps = 0

    def churn() -> None:
        nonlocal jumps
        while not stop.wait(CHURN_EVERY_S):
            sim.advance(CHURN_STEP_S)
            jumps += 1

    churner = threading.Thread(target=churn, name="churn", daemon=True)
    churner.start()
    timer = threading.Timer(SOAK_S, stop.set)
    timer.start()
    try:
        latencies, errors = ask_loop(agent, stop)
    finally:
        stop.set()
        timer.cancel()
        churner.join(10)

    read = reader_summary(reader)
    car.settle()
    episodes, runs = file_rows(db)
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 20 else max(latencies)
    print(f"soak {SOAK_S:g}s: {jumps} clock jumps, {car.polls('success'):g} cycles, "
          f"{episodes.total()} episodes and {runs.total()} runs recorded; agent "
          f"{len(latencies)} answers, p50 {statistics.median(latencies):.3f}s p95 {p95:.3f}s; "
          f"reader {read['sessions']} sessions, worst {read['worst_session_s']}s")

    assert not errors, errors[:10]
    assert read["error_count"] == 0, read["errors"]
    assert car.polls("failure") == 0, car.logs()[-3000:]
    assert car.sample("runai_failure_exporter_db_write_errors_total") == 0
    assert len(latencies) >= 30 and read["sessions"] >= 30 and jumps >= 0.8 * SOAK_S / 0.5
    assert "Traceback" not in agent.logs() and "ERROR" not in agent.logs()
    assert_file_is_truth(db, sim.truth())
    assert agent.stop() == 0 and car.stop() == 0
