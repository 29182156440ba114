"""`python -m agent ask`, run as a real subprocess against a seeded history file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures_agent import AgentHistory
from tests.fixtures_llm import ScriptedLLM, answer, call

ROOT = Path(__file__).resolve().parents[1]
LLM_ENV = ("NVIDIA_API_KEY", "OPENAI_API_KEY", "LLM_BASE_URL", "LLM_MODEL")


def run_ask(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, with no LLM configured unless `env` sets one."""
    clean = {k: v for k, v in os.environ.items() if k not in LLM_ENV}
    return subprocess.run(
        [sys.executable, "-m", "agent", "ask", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **(env or {})},
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


def test_missing_history_is_friendly_and_fails(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    done = run_ask("Show me failure statistics", "--db", str(missing))
    assert done.returncode == 1  # a script sees the wrong path (it exited 0)
    assert "no failures recorded yet; is the sidecar running?" in done.stdout
    assert done.stderr.strip() == f"ERROR: no history file at {missing}"
    assert not missing.exists()  # reading never creates the file


def test_unanswered_questions_exit_non_zero(agent_history: AgentHistory) -> None:
    for question in (
        "tell me a joke",  # not recognised
        "what is wrong with node-gpu-99",  # a name the history does not hold
        "failures from 2026-11-20 to 2026-11-10",  # a range that ends before it starts
    ):
        done = run_ask(question, "--db", str(agent_history.path), "--now", "2026-11-26T12:00:00Z")
        assert done.returncode == 1, (question, done.stdout)
    empty_window = run_ask(
        "failures on 2026-11-01", "--db", str(agent_history.path), "--now", "2026-11-26T12:00:00Z"
    )
    assert empty_window.returncode == 0, empty_window.stdout  # no failures is an answer


def test_bad_now_is_a_one_line_error(agent_history: AgentHistory) -> None:
    done = run_ask("stats", "--db", str(agent_history.path), "--now", "teatime")
    assert done.returncode == 2
    assert done.stderr.strip() == "ERROR: --now 'teatime' is not an ISO-8601 time"


def test_tool_error_sets_exit_status(agent_history: AgentHistory) -> None:
    done = run_ask("Run PromQL `up`", "--db", str(agent_history.path), "--prometheus-url", "")
    assert done.returncode == 1
    assert "no Prometheus configured" in done.stdout


def test_llm_mode_through_respond(agent_history: AgentHistory, scripted_llm: ScriptedLLM) -> None:
    scripted_llm.play(
        call("failure_statistics", {"window": "last 7 days"}),
        answer("There were 11 failures in the last 7 days; GPU hardware led."),
    )
    env = {"OPENAI_API_KEY": "sk-test-not-real", "LLM_BASE_URL": scripted_llm.base_url,
           "LLM_MODEL": "scripted"}  # fmt: skip
    done = run_ask(
        "Show me failure statistics", "--json", "--db", str(agent_history.path),
        "--now", agent_history.now.isoformat(), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["mode"] == "llm"
    assert "11 failures" in result["markdown"]
    assert [c["name"] for c in result["tool_calls"]] == ["failure_statistics"]
    assert "sk-test-not-real" not in done.stdout + done.stderr
    forced = run_ask(
        "Show me failure statistics", "--deterministic", "--db", str(agent_history.path),
        "--now", agent_history.now.isoformat(), env=env,
    )  # fmt: skip
    assert forced.returncode == 0 and "**11 failures**" in forced.stdout


def test_bad_llm_config_is_a_one_line_error(agent_history: AgentHistory) -> None:
    done = run_ask(
        "stats", "--db", str(agent_history.path),
        env={"OPENAI_API_KEY": "x", "LLM_BASE_URL": "ftp://nowhere"},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("ERROR: LLM_BASE_URL must be an http(s) URL")
    assert len(done.stderr.strip().splitlines()) == 1
