"""The real agent (`python -m agent serve`) under hostile and heavy questions (issue 18).

- A hostile SQL question (`repeat('A', 1500000000)`) is answered with an error while the
  agent's memory, with its SQL child, stays far under the container's limit (measured here
  from /proc every 20 ms), and the agent keeps answering.
- Eight concurrent SQL questions with /api/stats in between: zero errors (the SQL tool used
  to lock the configuration of the connection every read shares: 6 of 8 failed, stats 503).
- Forty-five slow questions: the pool answers AGENT_MAX_ANSWERS of them, the rest get 429 with
  Retry-After, and /api/stats still answers in under a second (it took 17 s).
- Hostile PromQL from a chat user is refused before it reaches a real Prometheus (its query
  log shows it never arrived; Debian's 2.42 used to die of it).

The LLM is the scripted OpenAI-compatible server of tests/fixtures_llm.py over real HTTP.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures_agent import make_agent_history
from tests.fixtures_llm import ScriptedLLM, answer, call, slow
from tests.fixtures_processes import Agent, Processes, child_env
from tests.fixtures_prometheus import PrometheusServer

MEMORY_LIMIT_BYTES = 1024**3  # the figure the issue measured against (the pod's 1 GiB)
LLM_KEY = "sk-faults-Agent-0123456789"


def agent_env(llm: ScriptedLLM, **extra: str) -> dict[str, str]:
    return child_env(OPENAI_API_KEY=LLM_KEY, LLM_BASE_URL=llm.base_url, LLM_MODEL="scripted",
                     LLM_TIMEOUT_S="30", LLM_MAX_RETRIES="0", **extra)  # fmt: skip


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and all its descendants (the SQL child included)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) * 1024 for line in status.splitlines()
                          if line.startswith("VmRSS:"))  # fmt: skip
            for task in Path(f"/proc/{current}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue  # it ended between two reads
    return total


class PeakRss:
    """Samples tree_rss_bytes(pid) every 20 ms in a thread, keeping the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def sql_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in body["tool_calls"] if c["name"] == "run_sql"]


@pytest.mark.slow
def test_a_hostile_sql_question_is_an_error_and_the_agent_stays_small(
    processes: Processes, scripted_llm: ScriptedLLM, tmp_path: Path
) -> None:
    history = make_agent_history(tmp_path)
    agent = processes.agent(history.path, env=agent_env(scripted_llm))
    scripted_llm.play(
        call("run_sql", {"query": "SELECT length(repeat('A', 1500000000)) AS n"}),
        answer("The query could not run."),
    )
    baseline = tree_rss_bytes(agent.pid)
    with PeakRss(agent.pid) as rss, httpx.Client(base_url=agent.base, timeout=60) as client:
        started = time.monotonic()
        reply = client.post("/api/chat", json={"question": "how long is a very long string?"})
        elapsed = time.monotonic() - started
    assert reply.status_code == 200, reply.text
    [result] = sql_results(reply.json())
    assert result["status"] == "error"
    assert "more memory than the SQL tool allows" in result["message"]
    assert agent.alive() and httpx.get(f"{agent.base}/healthz").status_code == 200
    # The agent and its SQL child together, at their peak: far below the limit (the question
    # used to take the agent from 121 MB to 3.05 GB).
    assert rss.peak < MEMORY_LIMIT_BYTES, rss.peak
    assert rss.peak - baseline < 400 * 1024**2, (baseline, rss.peak)
    assert elapsed < 15
    print(f"agent RSS baseline {baseline / 2**20:.0f} MiB, peak with the SQL child "
          f"{rss.peak / 2**20:.0f} MiB, answered in {elapsed:.2f} s")  # fmt: skip


@pytest.mark.slow
def test_concurrent_sql_questions_and_stats_in_between_have_no_errors(
    processes: Processes, scripted_llm: ScriptedLLM, tmp_path: Path
) -> None:
    history = make_agent_history(tmp_path)
    agent = processes.agent(history.path, env=agent_env(scripted_llm))
    questions = 8
    query = "SELECT category, count(*) AS n FROM failure_events GROUP BY ALL ORDER BY 2 DESC"
    # Every question's first model turn asks for SQL, its second answers.
    scripted_llm.play(*[call("run_sql", {"query": query}) for _ in range(questions)],
                      *[answer("Counted by category.") for _ in range(questions)])  # fmt: skip
    errors: list[str] = []
    sql_ok: list[int] = []

    def ask(i: int) -> None:
        with httpx.Client(base_url=agent.base, timeout=60) as client:
            reply = client.post("/api/chat", json={"question": f"SQL question {i}"})
        if reply.status_code != 200:
            errors.append(f"chat {i}: HTTP {reply.status_code} {reply.text[:200]}")
            return
        for result in sql_results(reply.json()):
            if result["status"] != "ok":
                errors.append(f"chat {i}: run_sql {result['status']}: {result['message']}")
            else:
                sql_ok.append(i)

    askers = [threading.Thread(target=ask, args=(i,)) for i in range(questions)]
    for asker in askers:
        asker.start()
    stats_codes: list[int] = []
    with httpx.Client(base_url=agent.base, timeout=60) as client:
        while any(a.is_alive() for a in askers):
            reply = client.get("/api/stats", params={"window": "last 30 days"})
            stats_codes.append(reply.status_code)
            if reply.status_code != 200:
                errors.append(f"stats: HTTP {reply.status_code} {reply.text[:200]}")
            time.sleep(0.05)
    for asker in askers:
        asker.join(timeout=60)
    assert errors == []
    assert len(sql_ok) == questions and len(stats_codes) >= 3, (sql_ok, stats_codes)


@pytest.mark.slow
def test_forty_five_slow_questions_keep_stats_fast_and_get_429_past_the_pool(
    processes: Processes, scripted_llm: ScriptedLLM, tmp_path: Path
) -> None:
    history = make_agent_history(tmp_path)
    agent = processes.agent(history.path, env=agent_env(scripted_llm, AGENT_MAX_ANSWERS="8"))
    scripted_llm.play(*[slow(5.0, "A slow answer.") for _ in range(45)])
    codes: list[int] = []
    retry_after: set[str] = set()
    ready: list[int] = []  # /readyz right after a 429, while the pool is still full

    def ask(i: int) -> None:
        with httpx.Client(base_url=agent.base, timeout=60) as client:
            reply = client.post("/api/chat", json={"question": f"slow question {i}"})
            if reply.status_code == 429:
                ready.append(client.get("/readyz").status_code)
        codes.append(reply.status_code)
        if reply.status_code == 429:
            retry_after.add(reply.headers.get("retry-after", ""))

    askers = [threading.Thread(target=ask, args=(i,)) for i in range(45)]
    for asker in askers:
        asker.start()
    stats_s: list[float] = []
    with httpx.Client(base_url=agent.base, timeout=60) as client:
        while any(a.is_alive() for a in askers):
            started = time.monotonic()
            reply = client.get("/api/stats")
            stats_s.append(time.monotonic() - started)
            assert reply.status_code == 200, reply.text
            time.sleep(0.1)
    for asker in askers:
        asker.join(timeout=60)
    assert len(codes) == 45 and set(codes) <= {200, 429}, codes
    assert codes.count(200) >= 8 and codes.count(429) >= 45 - 2 * 8, codes
    assert retry_after == {"5"}
    assert max(stats_s) < 1.0, stats_s
    assert 503 in ready  # /readyz said "saturated" while the pool was full
    assert httpx.get(f"{agent.base}/readyz").status_code == 200  # and ready again after
    print(f"45 slow questions: {codes.count(200)} answered, {codes.count(429)} x 429; "
          f"/api/stats worst {max(stats_s):.3f} s over {len(stats_s)} calls")  # fmt: skip


@pytest.mark.slow
@pytest.mark.prometheus
def test_hostile_promql_from_chat_never_reaches_prometheus(
    processes: Processes, make_prometheus: Callable[[dict[str, Any]], PrometheusServer],
    tmp_path: Path,
) -> None:  # fmt: skip
    query_log = tmp_path / "prometheus-queries.jsonl"
    prom = make_prometheus({"global": {"query_log_file": str(query_log)}})
    history = make_agent_history(tmp_path)
    agent: Agent = processes.agent(history.path, env=child_env(PROMETHEUS_URL=prom.url))
    hostile = "count_over_time(up[100000d:1s])"
    with httpx.Client(base_url=agent.base, timeout=60) as client:
        refused = client.post("/api/chat", json={"question": f"promql: {hostile}"})
        fine = client.post("/api/chat", json={"question": "promql: vector(1)"})
    assert refused.status_code == 200 and fine.status_code == 200
    [call_refused] = refused.json()["tool_calls"]
    assert call_refused["status"] == "error"
    assert call_refused["message"].startswith("query refused: the range [100000d] is longer")
    assert fine.json()["tool_calls"][0]["status"] == "ok"
    logged = [json.loads(line)["params"]["query"] for line in query_log.read_text().splitlines()]
    assert "vector(1)" in logged and hostile not in logged, logged
    assert prom.process.poll() is None and agent.alive()
