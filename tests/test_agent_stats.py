"""Statistics and listings on a real seeded DuckDB file, checked against independent SQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from agent.time_windows import Window, resolve_window
from agent.tools import stats
from agent.tools.reading import run_query
from agent.types import ToolResult
from history.reader import Filters
from tests.fixtures_agent import AGENT_NOW, AgentHistory, make_agent_history


def week(h: AgentHistory) -> Window:
    return resolve_window("last 7 days", h.now)


NO_FILTERS = Filters()


def statistics(
    h: AgentHistory, filters: Filters = NO_FILTERS, group_by: str = "category"
) -> ToolResult:
    return run_query(h.ctx, lambda c: stats.statistics(c, week(h), filters, group_by))


def test_statistics_by_category_equal_sql(agent_history: AgentHistory) -> None:
    h = agent_history
    w = week(h)
    result = statistics(h)
    assert result.status == "ok"
    truth = dict(
        h.sql(
            'SELECT category, count(*) FROM failure_events WHERE "timestamp" >= ? AND '
            '"timestamp" < ? GROUP BY category',
            [w.start, w.end],
        )
    )
    assert {g["key"]: g["failures"] for g in result.data["groups"]} == truth
    assert result.data["total_failures"] == sum(truth.values())
    finished, failed = h.sql(
        "SELECT count(*), count(*) FILTER (WHERE phase = 'Failed') FROM workload_runs "
        "WHERE finished_at >= ? AND finished_at < ? AND phase IN ('Completed', 'Failed')",
        [w.start, w.end],
    )[0]
    assert (result.data["finished_runs"], result.data["failed_runs"]) == (finished, failed)
    assert result.data["failure_rate"] == pytest.approx(failed / finished, abs=1e-6)
    for group in result.data["groups"]:  # category rate: its failed episodes over all runs
        assert group["failure_rate"] == pytest.approx(group["failed"] / finished, abs=1e-6)


def test_project_rate_is_failed_runs_over_finished_runs(agent_history: AgentHistory) -> None:
    h = agent_history
    w = week(h)
    result = statistics(h, group_by="project")
    rows = h.sql(
        "SELECT project, count(*), count(*) FILTER (WHERE phase = 'Failed') FROM workload_runs "
        "WHERE finished_at >= ? AND finished_at < ? AND phase IN ('Completed', 'Failed') "
        "GROUP BY project",
        [w.start, w.end],
    )
    truth = {p: (n, f) for p, n, f in rows}
    for group in result.data["groups"]:
        finished, failed = truth[group["key"]]
        assert (group["finished_runs"], group["failed_runs"]) == (finished, failed)
        assert group["failure_rate"] == pytest.approx(failed / finished, abs=1e-6)
        assert group["failure_rate"] < 1.0  # never failures over failures


def test_category_filter_by_node_uses_runs_on_the_node(agent_history: AgentHistory) -> None:
    h = agent_history
    w = week(h)
    result = statistics(h, Filters(category="gpu_hardware"), group_by="node")
    (group,) = result.data["groups"]
    assert group["key"] == "node-gpu-03"
    runs = h.scalar(
        "SELECT count(*) FROM workload_runs WHERE node = 'node-gpu-03' AND finished_at >= ? "
        "AND finished_at < ? AND phase IN ('Completed', 'Failed')",
        [w.start, w.end],
    )
    assert group["finished_runs"] == runs
    assert group["failure_rate"] == pytest.approx(3 / runs, abs=1e-6)


def test_filters_are_parameters_not_sql(agent_history: AgentHistory) -> None:
    result = statistics(agent_history, Filters(project="team-a' OR '1'='1"))
    assert result.status == "no_data"
    assert result.data["total_failures"] == 0


def test_list_is_newest_first_with_total(agent_history: AgentHistory) -> None:
    h = agent_history
    result = run_query(
        h.ctx, lambda c: stats.list_failures(c, week(h), Filters(project="team-a"), limit=2)
    )
    assert result.status == "ok"
    assert result.data["total"] == 6 and result.data["shown"] == 2
    times = [f["timestamp"] for f in result.data["failures"]]
    assert times == sorted(times, reverse=True)


def test_window_bounds_are_half_open(tmp_path: Path) -> None:
    spec = {
        "failures": [{"workload_name": "edge", "at": "-7d"}, {"workload_name": "in", "at": "-1m"}]
    }
    h = make_agent_history(tmp_path, spec)
    w = Window(AGENT_NOW - timedelta(days=7), AGENT_NOW, "last 7 days")
    result = run_query(h.ctx, lambda c: stats.statistics(c, w, Filters(), "workload_name"))
    assert {g["key"] for g in result.data["groups"]} == {"edge", "in"}  # start is included
    shifted = Window(w.start + timedelta(microseconds=1), w.end, "x")
    result = run_query(h.ctx, lambda c: stats.statistics(c, shifted, Filters(), "workload_name"))
    assert {g["key"] for g in result.data["groups"]} == {"in"}


def test_empty_window_says_where_the_data_is(agent_history: AgentHistory) -> None:
    h = agent_history
    old = Window(h.now - timedelta(days=400), h.now - timedelta(days=399), "a day last year")
    result = run_query(h.ctx, lambda c: stats.statistics(c, old, Filters()))
    assert result.status == "no_data"
    assert result.message == (
        "no failures and no finished runs in a day last year; the newest recorded failure is "
        "from 2026-11-26 09:00 UTC"
    )
