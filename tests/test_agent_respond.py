"""respond(): the deterministic path, the LLM path and the fallback between them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.answer.planner import answer_deterministic
from agent.llm.settings import LLMSettings
from agent.respond import LLM_TOOLS, respond
from tests.fixtures_llm import answer, call, error, model_text, slow

KEY = "nvapi-RESPOND-TEST-KEY-0042"


@pytest.fixture
def llm(scripted_llm) -> LLMSettings:
    return LLMSettings(api_key=KEY, base_url=scripted_llm.base_url, model="scripted",
                       timeout_s=5, max_retries=0)  # fmt: skip


def test_without_a_key_the_planner_answers_and_events_are_replayed(agent_history):
    events: list = []
    result = respond("Why did train-llama-7b fail?", agent_history.ctx, LLMSettings(),
                     on_event=lambda kind, payload: events.append((kind, payload)))  # fmt: skip
    assert result == answer_deterministic("Why did train-llama-7b fail?", agent_history.ctx)
    assert [k for k, _ in events] == ["tool_call", "tool_result"] * len(result.tool_calls)
    assert events[0][1]["name"] == result.tool_calls[0].name


def test_llm_timeout_falls_back_and_says_so(agent_history, scripted_llm, llm):
    scripted_llm.play(slow(2.0))
    result = respond("Show me failure statistics", agent_history.ctx,
                     replace(llm, timeout_s=0.4))  # fmt: skip
    expected = answer_deterministic("Show me failure statistics", agent_history.ctx)
    assert result.mode == "deterministic"
    assert result.markdown == expected.markdown
    assert (
        result.note == "LLM unavailable: the LLM timed out after 0.4 s; answered deterministically"
    )
    assert KEY not in result.note


def test_step_limit_falls_back(agent_history, scripted_llm, llm):
    scripted_llm.play(call("failure_statistics", {}), call("failure_statistics", {}))
    result = respond("Show me failure statistics", agent_history.ctx, replace(llm, max_steps=2))
    assert result.mode == "deterministic"
    assert "no answer within 2 steps" in result.note


def test_llm_answer_is_used_when_it_works(agent_history, scripted_llm, llm):
    scripted_llm.play(answer("Ask me about failures."))
    result = respond("hello", agent_history.ctx, llm)
    assert (result.mode, model_text(result.markdown), result.note) == (
        "llm",
        "Ask me about failures.",
        None,
    )
    scripted_llm.play(error(500))
    assert respond("hello", agent_history.ctx, llm).mode == "deterministic"


def test_llm_tools_include_sql_but_the_planner_never_uses_it(agent_history):
    assert "run_sql" in {t.name for t in LLM_TOOLS}
    for question in ("Show me failure statistics", "Analyze failures from the last 7 days",
                     "Why did notebook-alice fail?"):  # fmt: skip
        used = {c.name for c in respond(question, agent_history.ctx, LLMSettings()).tool_calls}
        assert "run_sql" not in used


def test_injection_in_stored_logs_never_changes_which_tools_run(agent_history):
    # notebook-alice's stored summary and logs tell the reader to call promql_query.
    injected = respond("Why did notebook-alice fail?", agent_history.ctx, LLMSettings())
    clean = respond("Why did bert-finetune fail?", agent_history.ctx, LLMSettings())
    assert [c.name for c in injected.tool_calls] == [c.name for c in clean.tool_calls]
    assert "promql_query" not in {c.name for c in injected.tool_calls}
    assert injected.tool_calls[0].arguments["workload_name"] == "notebook-alice"
