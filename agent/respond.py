"""The one entry point the API, the UI and the CLIs use to answer a question.

With an LLM configured, the tool-calling loop answers; if it cannot (timeout, rate limit, step
limit), the deterministic planner answers and the note says why. Without an LLM, the planner
answers directly. Either way the caller gets an Answer whose tool calls show the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from agent import telemetry
from agent.answer.planner import answer_deterministic
from agent.llm.loop import EventSink, LLMUnavailable, answer_with_llm
from agent.llm.settings import LLMSettings
from agent.tools.catalog import TOOLS
from agent.tools.sql import SQL_TOOL
from agent.types import Answer, ToolContext, ToolSpec
from history import sources

LLM_TOOLS: tuple[ToolSpec, ...] = (*TOOLS, SQL_TOOL)


def respond(
    question: str,
    ctx: ToolContext,
    settings: LLMSettings,
    *,
    history: Sequence[Mapping[str, str]] = (),
    on_event: EventSink | None = None,
) -> Answer:
    """Answer `question`; `history` is earlier user/assistant turns (LLM mode only)."""
    mode = ["llm" if settings.enabled else "deterministic"]
    with telemetry.timed_answer(lambda: mode[0]):
        answer = _with_clusters(_respond(question, ctx, settings, history, on_event, mode), ctx)
    for call in answer.tool_calls:
        telemetry.TOOL_CALLS.labels(call.name, call.result.status).inc()
    return answer


def _respond(
    question: str,
    ctx: ToolContext,
    settings: LLMSettings,
    history: Sequence[Mapping[str, str]],
    on_event: EventSink | None,
    mode: list[str],
) -> Answer:
    if settings.enabled:
        try:
            return answer_with_llm(
                question, ctx, settings, LLM_TOOLS, history=history, on_event=on_event
            )
        except LLMUnavailable as exc:
            mode[0] = "fallback"
            answer = answer_deterministic(question, ctx)
            _replay(answer, on_event)
            note = f"LLM unavailable: {exc}; answered deterministically"
            return replace(answer, note=f"{note}. {answer.note}" if answer.note else note)
    answer = answer_deterministic(question, ctx)
    _replay(answer, on_event)
    return answer


def _with_clusters(answer: Answer, ctx: ToolContext) -> Answer:
    """An answer over several clusters' histories ends by naming them (one line); an answer
    from one history file stays as it is."""
    line = sources.clusters_line(ctx.db_path)
    if line is None or answer.markdown.rstrip().endswith(line):
        return answer
    return replace(answer, markdown=f"{answer.markdown.rstrip()}\n\n{line}")


def _replay(answer: Answer, on_event: EventSink | None) -> None:
    """The planner calls its tools before it returns; tell the stream afterwards, in order."""
    if on_event is None:
        return
    for i, call in enumerate(answer.tool_calls):
        payload: dict[str, Any] = {"id": f"det_{i}", "name": call.name}
        on_event("tool_call", {**payload, "arguments": dict(call.arguments)})
        on_event("tool_result", {**payload, **call.result.to_dict()})
