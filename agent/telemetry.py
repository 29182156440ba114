"""The agent's own Prometheus metrics, served on its API port at /metrics.

Answers by mode and status with their latency, LLM calls by outcome, tokens, and tool calls by
status: what an operator needs to see that the agent answers, how fast, and what the LLM costs.
Labels are bounded (modes, outcomes, tool names from the catalog); never a question's text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    make_asgi_app,
)
from starlette.types import ASGIApp

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

ANSWERS = Counter(
    "runai_agent_answers", "Questions answered, by mode (deterministic, llm, fallback: the LLM "
    "failed and the planner answered) and status (ok, error).",
    ["mode", "status"], registry=REGISTRY,
)
ANSWER_SECONDS = Histogram(
    "runai_agent_answer_duration_seconds", "Time to answer one question, by mode.",
    ["mode"], registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
LLM_REQUESTS = Counter(
    "runai_agent_llm_requests", "Calls to the LLM endpoint, by outcome (ok, timeout, "
    "rate_limited, auth_error, http_error, unreachable, error, no_choices).",
    ["outcome"], registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "runai_agent_llm_tokens", "Tokens the LLM endpoint reported, by kind (prompt, completion).",
    ["kind"], registry=REGISTRY,
)
TOOL_CALLS = Counter(
    "runai_agent_tool_calls", "Tool calls, by tool and result status (ok, no_data, error).",
    ["tool", "status"], registry=REGISTRY,
)

@contextmanager
def timed_answer(mode: Callable[[], str]) -> Iterator[None]:
    """Count one answer and its latency; `mode` is read at the end (a fallback is known late)."""
    start = time.perf_counter()
    status = "error"
    try:
        yield
        status = "ok"
    finally:
        answered_as = mode()
        ANSWERS.labels(answered_as, status).inc()
        ANSWER_SECONDS.labels(answered_as).observe(time.perf_counter() - start)


def metrics_app() -> ASGIApp:
    """prometheus_client's own ASGI app: gzip, OpenMetrics negotiation."""
    return make_asgi_app(REGISTRY)
