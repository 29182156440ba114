"""Failures per day by category: the data behind the web UI's stacked bar chart.

Every day of the window is present (zeros included) so the chart's axis has no gaps, and
categories follow the contract's order so colours stay put between refreshes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import duckdb

from agent.time_windows import Window
from agent.tools.reading import run_query
from agent.types import ToolContext, ToolResult
from history.categories import BY_NAME, CATEGORIES

MAX_DAYS = 92


def failures_per_day(ctx: ToolContext, window: Window) -> ToolResult:
    first = window.start.replace(hour=0, minute=0, second=0, microsecond=0)
    days: list[str] = []
    day = first
    while day < window.end and len(days) < MAX_DAYS:
        days.append(day.strftime("%Y-%m-%d"))
        day += timedelta(days=1)
    start = max(window.start, window.end - timedelta(days=MAX_DAYS))

    def query(conn: duckdb.DuckDBPyConnection) -> ToolResult:
        rows = conn.execute(
            """SELECT strftime(date_trunc('day', "timestamp"), '%Y-%m-%d') AS day, category,
                      count(*) FROM failure_events
               WHERE "timestamp" >= ? AND "timestamp" < ? GROUP BY ALL""",
            [start, window.end],
        ).fetchall()
        return _shape(window, days[-MAX_DAYS:], rows)

    return run_query(ctx, query)


def _shape(window: Window, days: list[str], rows: list[tuple[Any, ...]]) -> ToolResult:
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[int]] = {}
    for day, category, count in rows:
        if day in index:
            series.setdefault(category, [0] * len(days))[index[day]] = int(count)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    categories = sorted(series, key=lambda c: (order.get(c, len(order)), c))
    data = {
        "window": window.to_dict(),
        "days": days,
        "categories": categories,
        "series": {c: series[c] for c in categories},
        # The chart's colours come from the category table, as the dashboards' do.
        "colours": {c: BY_NAME[c].colour for c in categories if c in BY_NAME},
        "total": sum(sum(v) for v in series.values()),
    }
    if not series:
        return ToolResult("no_data", data, f"no failures in {window.label}")
    return ToolResult("ok", data, f"{data['total']} failures over {len(days)} days")
