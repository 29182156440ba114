"""The eval runner: case files, seeded histories, pass rate by tag, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.answer.planner import answer_deterministic
from agent.cli.run_evals import main
from agent.evals.runner import CASES_DIR, check, load_case, load_cases, run_cases
from agent.types import Answer, ToolContext
from tests.fixtures_llm import ScriptedLLM, answer, call

ROOT = Path(__file__).resolve().parents[1]
LLM_ENV = ("NVIDIA_API_KEY", "OPENAI_API_KEY", "LLM_BASE_URL", "LLM_MODEL")


@pytest.fixture(autouse=True)
def _no_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LLM_ENV:
        monkeypatch.delenv(name, raising=False)


def test_at_least_40_cases_covering_every_tool_and_tag() -> None:
    cases = load_cases()
    assert len(cases) >= 40
    tags = {t for c in cases for t in c.tags}
    assert {"statistics", "analysis", "detail", "project", "category", "node", "trend",
            "window", "list", "no_data", "promql", "help", "safety"} <= tags  # fmt: skip
    tools = {t for c in cases for t in c.tools}
    assert {"failure_statistics", "list_failures", "failure_detail", "analyze_failures",
            "promql_query"} <= tools  # fmt: skip


@pytest.mark.slow
def test_deterministic_mode_passes_every_case() -> None:
    report = run_cases(load_cases(), answer_deterministic)
    failing = [(r.case.name, r.problems) for r in report.results if not r.passed]
    assert failing == []


def test_a_wrong_fact_fails_the_case(tmp_path: Path) -> None:
    case_file = tmp_path / "wrong.json"
    case_file.write_text(
        json.dumps(
            {
                "question": "Show me failure statistics",
                "tags": ["statistics"],
                "must_contain": ["**12 failures**"],
                "tools": ["failure_statistics"],
                "forbidden_tools": ["failure_statistics"],
            }
        )
    )
    report = run_cases([load_case(case_file)], answer_deterministic)
    (result,) = report.results
    assert not result.passed
    assert "missing '**12 failures**'" in result.problems
    assert "tool failure_statistics must not run" in result.problems
    assert report.by_tag() == {"statistics": (0, 1)}


def test_check_is_case_insensitive_and_honours_must_not() -> None:
    case = load_case(CASES_DIR / "help.json")
    answer = Answer("I CAN ANSWER QUESTIONS LIKE THESE: show me failure statistics")
    assert check(case, answer).passed
    bad = Answer("I did not recognise that question. I can answer questions like these: "
                 "Show me failure statistics")  # fmt: skip
    assert not check(case, bad).passed


def test_cli_exit_status_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ok.json").write_text(
        json.dumps(
            {"question": "What can you do?", "tags": ["help"], "must_contain": ["I can answer"]}
        )
    )
    assert main(["--cases", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "help" in out and "100.0%" in out
    (tmp_path / "bad.json").write_text(
        json.dumps({"question": "What can you do?", "tags": ["help"], "must_contain": ["nope"]})
    )
    assert main(["--cases", str(tmp_path)]) == 1
    assert "FAIL bad" in capsys.readouterr().out
    assert main(["--cases", str(tmp_path), "--tag", "missing-tag"]) == 2


def test_broken_case_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    assert main(["--cases", str(tmp_path)]) == 2
    assert "bad eval case broken.json" in capsys.readouterr().err


def test_inline_history_and_answer_fn_seam(tmp_path: Path) -> None:
    seen: list[ToolContext] = []

    def fake_llm(question: str, ctx: ToolContext) -> Answer:
        seen.append(ctx)
        return answer_deterministic(question, ctx)

    case = load_case(CASES_DIR / "rates-not-over-failed.json")
    report = run_cases([case], fake_llm)
    assert report.passed == 1 and seen[0].now == case.now


@pytest.mark.slow
def test_python_m_agent_eval_subprocess() -> None:
    env = {k: v for k, v in os.environ.items() if k not in LLM_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "agent", "eval", "--tag", "trend"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ALL" in done.stdout and "100.0%" in done.stdout


def test_llm_mode_is_judged_by_pass_rate(
    tmp_path: Path,
    scripted_llm: ScriptedLLM,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "stats.json").write_text(
        json.dumps({"question": "Show me failure statistics", "tags": ["statistics"],
                    "must_contain": ["11 failures"], "tools": ["failure_statistics"]})
    )  # fmt: skip
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    monkeypatch.setenv("LLM_BASE_URL", scripted_llm.base_url)
    monkeypatch.setenv("LLM_MODEL", "scripted")
    scripted_llm.play(
        call("failure_statistics", {}), answer("There were 11 failures in the last 7 days.")
    )
    assert main(["--cases", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mode: llm") and "100.0%" in out
    scripted_llm.play(answer("I am not sure."))  # no tool, no fact: the case fails
    assert main(["--cases", str(tmp_path)]) == 1
    scripted_llm.play(answer("I am not sure."))
    assert main(["--cases", str(tmp_path), "--min-pass-rate", "0"]) == 0
