"""`python -m agent ask`, run as a real subprocess against a seeded history file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures_agent import AgentHistory

ROOT = Path(__file__).resolve().parents[1]


def run_ask(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "ask", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_markdown_answer(agent_history: AgentHistory) -> None:
    done = run_ask(
        "Show", "me", "failure", "statistics", "--db", str(agent_history.path),
        "--now", agent_history.now.isoformat(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "**11 failures**" in done.stdout
    assert "last 7 days (2026-11-19 12:00 to 2026-11-26 12:00 UTC)" in done.stdout


def test_json_answer_with_tool_calls(agent_history: AgentHistory) -> None:
    done = run_ask(
        "Why did train-llama-7b fail?", "--json", "--now", "2026-11-26T12:00:00Z",
        env={"RUNAI_FAILURE_DB_PATH": str(agent_history.path)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["mode"] == "deterministic"
    (call,) = answer["tool_calls"]
    assert call["name"] == "failure_detail"
    assert call["result"]["status"] == "ok"
    assert call["result"]["data"]["failure"]["category"] == "gpu_oom"


def test_missing_history_is_friendly(tmp_path: Path) -> None:
    done = run_ask("Show me failure statistics", "--db", str(tmp_path / "none.db"))
    assert done.returncode == 0
    assert "no failures recorded yet; is the sidecar running?" in done.stdout
    assert "Traceback" not in done.stderr


def test_bad_now_is_a_one_line_error(agent_history: AgentHistory) -> None:
    done = run_ask("stats", "--db", str(agent_history.path), "--now", "teatime")
    assert done.returncode == 2
    assert done.stderr.strip() == "ERROR: --now 'teatime' is not an ISO-8601 time"


def test_tool_error_sets_exit_status(agent_history: AgentHistory) -> None:
    done = run_ask("Run PromQL `up`", "--db", str(agent_history.path), "--prometheus-url", "")
    assert done.returncode == 1
    assert "no Prometheus configured" in done.stdout
