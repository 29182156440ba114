"""The eval runner: case files, seeded histories, pass rate by tag, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agent.answer.planner import answer_deterministic
from agent.cli.run_evals import main
from agent.evals.runner import (
    CASES_DIR,
    HELDOUT_DIR,
    PHRASING_TAGS,
    Histories,
    check,
    derivation_problems,
    heldout_min_pass_rate,
    load_case,
    load_cases,
    load_expected_failures,
    run_cases,
)
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


def test_150_cases_a_third_held_out_every_intent_in_three_phrasings() -> None:
    dev, held = load_cases(CASES_DIR), load_cases(HELDOUT_DIR)
    assert len(dev) + len(held) >= 150 and len(held) >= 50
    assert len(held) < len(dev)  # about a third held out, two thirds to develop against
    assert not {c.name for c in dev} & {c.name for c in held}
    assert [c.name for c in dev + held if not c.tags] == []
    per_tag = Counter(t for c in dev + held for t in c.tags)
    thin = {t: n for t, n in per_tag.items() if t not in PHRASING_TAGS and n < 3}
    assert thin == {}, "every intent needs at least three phrasings"
    # the phrasings the issue asks for are all represented, in both parts
    wanted = {"typo", "abbreviation", "nonexistent", "comparison", "offtopic", "or_filter",
              "synonym", "top_n", "time_expression", "project_name_form"}  # fmt: skip
    assert wanted <= {t for c in dev for t in c.tags}
    assert wanted - {"top_n"} <= {t for c in held for t in c.tags}
    assert (HELDOUT_DIR / "README.md").is_file()


def test_expected_failures_name_development_cases_with_reasons() -> None:
    expected = load_expected_failures()
    dev_names = {c.name for c in load_cases(CASES_DIR)}
    assert set(expected) <= dev_names, set(expected) - dev_names
    assert all(len(reason) > 10 for reason in expected.values())


@pytest.mark.slow
def test_deterministic_mode_passes_every_development_case_not_listed() -> None:
    """The planner passes every development case but those in expected_failures.txt, and each
    listed case still fails (when one starts to pass, its line goes: the list only shrinks)."""
    expected = load_expected_failures()
    report = run_cases(load_cases(CASES_DIR), answer_deterministic)
    failing = [(r.case.name, r.problems) for r in report.results if not r.passed]
    assert [f for f in failing if f[0] not in expected] == []
    now_passing = sorted(
        r.case.name for r in report.results if r.passed and r.case.name in expected
    )
    assert now_passing == [], "these pass now: remove them from agent/evals/expected_failures.txt"


@pytest.mark.slow
def test_held_out_pass_rate_reaches_the_floor() -> None:
    report = run_cases(load_cases(HELDOUT_DIR), answer_deterministic)
    rate = report.passed / len(report.results)
    assert rate >= heldout_min_pass_rate(), f"held-out pass rate {rate:.1%}"


def test_every_expected_number_follows_from_its_history(tmp_path: Path) -> None:
    """Each case's `derive` queries, re-run against the seeded file, give the value the case
    says, and every number a case expects the answer to state is backed by such a query."""
    histories = Histories(tmp_path)
    cases = load_cases(CASES_DIR) + load_cases(HELDOUT_DIR)
    derived = [c for c in cases if c.derive]
    assert len(derived) >= 100
    problems = {c.name: derivation_problems(c, histories.path_for(c)) for c in derived}
    assert {name: p for name, p in problems.items() if p} == {}
    unbacked = {
        (c.name, stated.number)
        for c in cases
        for stated in c.must_state
        if not any(_same(stated.number, d.value) for d in c.derive)
    }
    assert unbacked == set(), "every number a case expects needs the SQL that derives it"


def _same(number: str, value: object) -> bool:
    return isinstance(value, int | float) and float(number.rstrip("%")) == float(value)


def test_wrong_number_for_the_window_is_caught(tmp_path: Path) -> None:
    """A derivation that disagrees with the history is reported, with the query and both values."""
    case = load_case(_write(tmp_path, "d.json", {
        "question": "q", "tags": ["statistics"], "history": "fleet",
        "must_state": [{"number": "5", "near": "today"}],
        "derive": [{"sql": "SELECT count(*) FROM failure_events WHERE timestamp >= '2026-11-26'",
                    "value": 6}],
    }))  # fmt: skip
    (problem,) = derivation_problems(case, Histories(tmp_path).path_for(case))
    assert "gives 5" in problem and "says 6" in problem


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
    out = done.stdout
    assert "== development" in out and "== held-out" in out and out.count("ALL") == 2
    development = out.split("== held-out")[0]
    # only the cases listed in expected_failures.txt may fail (the list is empty now)
    assert "FAIL " not in development.replace("XFAIL ", "")


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


def _write(folder: Path, name: str, body: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(json.dumps(body))
    return path


def _case(tmp_path: Path, **checks: Any) -> Any:
    return load_case(_write(tmp_path, "c.json", {"question": "q", "tags": ["t"], **checks}))


def test_must_contain_any_takes_one_of_the_alternatives(tmp_path: Path) -> None:
    case = _case(tmp_path, must_contain_any=[["does not exist", "no node", "unknown node"]])
    assert check(case, Answer("There is no node dgx-h200-99 in the history.")).passed
    result = check(case, Answer("19 failures in the last 7 days."))
    assert result.problems == ("missing one of ['does not exist', 'no node', 'unknown node']",)


def test_regex_checks(tmp_path: Path) -> None:
    case = _case(tmp_path, must_match=[r"^\s*1[.)][^\n]*gpu.hardware"],
                 must_not_match=[r"(?<![\d.])100(\.0+)?\s*%"])  # fmt: skip
    assert check(case, Answer("What to do first\n1. **GPU hardware fault** (6)")).passed
    bad = check(case, Answer("1. app_error\n2. gpu_hardware\nrate 100.0 %"))
    assert len(bad.problems) == 2 and bad.problems[1].startswith("must not match")
    with pytest.raises(ValueError, match=r"bad eval case c\.json"):
        _case(tmp_path, must_match=["(unclosed"])


@pytest.mark.parametrize(
    ("text", "stated"),
    [
        ("| `dgx-a100-02` | 4 | 21.1% |", True),
        ("dgx-a100-02: 4 failures", True),
        ("**4 failures** on dgx-a100-02", True),
        ("4.0 failures on dgx-a100-02", True),
        ("dgx-a100-02 failed 14 times", False),  # part of a longer number
        ("dgx-a100-02 last failed 2026-11-04", False),  # part of a date
        ("dgx-a100-02 at 04:00", False),  # part of a time
        ("dgx-a100-02 failed 4.5% of runs", False),  # a percentage, not a count
        ("dgx-a100-02 over the last 4 days", False),  # a window, not a count
        ("dgx-a100-02: Tried to allocate 4.00 GiB", False),  # a size in evidence, not a count
        ("4 failures\ndgx-a100-02", False),  # a different line
        ("4 failures " + "x" * 80 + " dgx-a100-02", False),  # too far away
    ],
)
def test_a_stated_number_is_a_whole_number_near_its_word(
    tmp_path: Path, text: str, stated: bool
) -> None:
    case = _case(tmp_path, must_state=[{"number": "4", "near": ["dgx-a100-02"]}])
    assert check(case, Answer(text)).passed is stated


def test_stated_percentages_and_wrong_numbers(tmp_path: Path) -> None:
    case = _case(
        tmp_path,
        must_state=[{"number": "50%", "near": "team-nlp"}],
        must_not_state=[{"number": "19", "near": ["fail"]}],
    )
    assert check(case, Answer("| team-nlp | 5 | 10 | 50.0% |")).passed
    assert not check(case, Answer("team-nlp: 50 failures")).passed  # a count is not a rate
    result = check(case, Answer("team-nlp 50 %\n**19 failures** in the last 7 days"))
    assert result.problems == ("states 19 near fail",)
    with pytest.raises(ValueError, match="near"):
        _case(tmp_path, must_state=[{"number": "1", "near": []}])


def test_expected_failures_and_threshold_files(tmp_path: Path) -> None:
    listed = tmp_path / "expected.txt"
    listed.write_text("# comment\n\nfleet-a: reads November as the last 7 days\n")
    assert load_expected_failures(listed) == {"fleet-a": "reads November as the last 7 days"}
    listed.write_text("fleet-a\n")
    with pytest.raises(ValueError, match="line 1: expected `case-name: reason`"):
        load_expected_failures(listed)
    assert load_expected_failures(tmp_path / "absent.txt") == {}
    floor = tmp_path / "thresholds.json"
    floor.write_text('{"heldout_min_pass_rate": 1.5}')
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        heldout_min_pass_rate(floor)
    assert 0.0 <= heldout_min_pass_rate() <= 1.0


def test_cli_listed_failure_is_xfail_and_a_pass_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import agent.cli.run_evals as eval_cli

    help_case = {"question": "What can you do?", "tags": ["help"]}
    _write(tmp_path, "known-gap.json", {**help_case, "must_contain": ["nope"]})
    _write(tmp_path, "fixed.json", {**help_case, "must_contain": ["I can answer"]})
    listed = {"known-gap": "not built yet", "fixed": "was broken"}
    monkeypatch.setattr(eval_cli, "load_expected_failures", lambda: listed)
    assert main(["--cases", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "XFAIL known-gap" in out and "XPASS fixed" in out


def test_cli_held_out_part_is_judged_by_the_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import agent.cli.run_evals as eval_cli

    held = tmp_path / "heldout"
    held.mkdir()
    _write(held, "a.json", {"question": "What can you do?", "tags": ["help"],
                            "must_contain": ["I can answer"]})  # fmt: skip
    _write(held, "b.json", {"question": "What can you do?", "tags": ["help"],
                            "must_contain": ["nope"]})  # fmt: skip
    monkeypatch.setattr(eval_cli, "HELDOUT_DIR", held)
    monkeypatch.setattr(eval_cli, "heldout_min_pass_rate", lambda: 0.5)
    assert main(["--heldout"]) == 0
    out = capsys.readouterr().out
    assert "== held-out" in out and "50.0%" in out and "== development" not in out
    monkeypatch.setattr(eval_cli, "heldout_min_pass_rate", lambda: 0.75)
    assert main(["--heldout"]) == 1
    assert main(["--heldout", "--tag", "help"]) == 0  # the floor is for the whole part
