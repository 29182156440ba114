"""Hostile PromQL is refused by the agent before Prometheus sees it (issue 18).

`count_over_time(up[100000d:1s])` from any chat user ran Debian's Prometheus 2.42 out of memory.
The caps are checked in the tool, so every path (planner, LLM, API) gets them; a real Prometheus
with its query log proves the refused queries never arrived while an ordinary one did.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.answer.planner import answer_deterministic
from agent.time_windows import Window
from agent.tools import promql
from agent.types import ToolContext
from tests.fixtures_prometheus import PrometheusServer

HOSTILE = (
    "count_over_time(up[100000d:1s])",
    "max_over_time(max_over_time(up[1d:1m])[1d:1m])",
    "sum_over_time(up[400d])",
    'count_over_time(up{job=~"[a-z]+"}[1h:1ms])',
    "max_over_time(up[1d:])[7d:1m]",
)


@pytest.mark.parametrize("query", HOSTILE)
def test_over_cap_ranges_and_subqueries_are_refused(query: str) -> None:
    with pytest.raises(promql.PromqlRefused):
        promql.check_query(query)


@pytest.mark.parametrize(
    "query",
    [
        "up",
        "sum by (category) (increase(runai_failures_total[7d]))",
        'max_over_time(rate(x{gpu=~"[0-9]+"}[5m])[1h:1m])',  # a regex is not a range
        "avg_over_time(up[1h:])",
        "rate(x[1h30m])",
        "histogram_quantile(0.9, sum by (le) (rate(x_bucket[31d])))",
    ],
)
def test_ordinary_queries_pass(query: str) -> None:
    promql.check_query(query)


def test_parse_duration() -> None:
    assert promql.parse_duration("1h30m") == 5400
    assert promql.parse_duration("90") == 90
    with pytest.raises(promql.PromqlRefused, match="cannot read the duration"):
        promql.parse_duration("5 minutes")


@pytest.mark.prometheus
def test_hostile_promql_never_reaches_prometheus(
    make_prometheus: Callable[[dict[str, Any]], PrometheusServer], tmp_path: Any
) -> None:
    query_log = tmp_path / "queries.jsonl"
    prom = make_prometheus({"global": {"query_log_file": str(query_log)}})
    now = datetime.now(UTC)
    ctx = ToolContext(db_path=str(tmp_path / "none.db"), prometheus_url=prom.url, now=now)
    for query in HOSTILE:
        result = promql.instant_query(ctx, query)
        assert result.status == "error" and result.message.startswith("query refused:"), result
        window = Window(now - timedelta(hours=1), now, "last hour")
        assert promql.range_query(ctx, query, window).message.startswith("query refused:")
    # The chat path a user takes, with no LLM and no token: refused the same way.
    answer = answer_deterministic(f"promql: {HOSTILE[0]}", ctx)
    assert [c.result.status for c in answer.tool_calls] == ["error"], answer.markdown
    assert "query refused" in answer.markdown
    # An ordinary query reaches Prometheus (so the log works) with our timeout and limit.
    assert promql.instant_query(ctx, "vector(1)").status == "ok"
    logged = [json.loads(line) for line in query_log.read_text().splitlines()]
    queries = [entry["params"]["query"] for entry in logged]
    assert "vector(1)" in queries
    assert not any(hostile in queries for hostile in HOSTILE), queries
    assert prom.process.poll() is None
