"""Statistics and listings over a window: counts, shares, failure rates, newest evidence.

Failure rate = failed runs / finished runs (workload_runs with phase Completed or Failed) in the
window. Failures by category have no run of their own, so their rate is category failures of
kind "failed" over all finished runs that match the other filters. Degraded and pending episodes
are not failed runs: selections of those kinds carry no rate.
"""

from __future__ import annotations

from typing import Any

import duckdb

from agent.time_windows import Window
from agent.types import ToolResult
from history.reader import (
    GROUP_KEYS,
    RUN_KEYS,
    Filters,
    empty_window_message,
    iso,
    ratio,
)


def failure_counts(
    conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters, group_by: str
) -> list[dict[str, Any]]:
    where, params = filters.sql()
    rows = conn.execute(
        f"""
        SELECT {GROUP_KEYS[group_by]} AS key, count(*) AS failures,
               count(*) FILTER (WHERE kind = 'failed') AS failed,
               count(*) FILTER (WHERE kind = 'degraded') AS degraded,
               count(*) FILTER (WHERE kind = 'pending') AS pending
        FROM failure_events
        WHERE "timestamp" >= ? AND "timestamp" < ?{where}
        GROUP BY ALL ORDER BY failures DESC, key
        """,
        [window.start, window.end, *params],
    ).fetchall()
    names = ("key", "failures", "failed", "degraded", "pending")
    return [dict(zip(names, row, strict=True)) for row in rows]


def run_counts(
    conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters, group_by: str | None
) -> dict[str | None, tuple[int, int]]:
    """{group key: (finished runs, failed runs)}; key None when not grouped."""
    where, params = filters.sql(runs=True)
    key = GROUP_KEYS[group_by] if group_by in RUN_KEYS else "NULL"
    rows = conn.execute(
        f"""
        SELECT {key} AS key, count(*), count(*) FILTER (WHERE phase = 'Failed')
        FROM workload_runs
        WHERE finished_at >= ? AND finished_at < ? AND phase IN ('Completed', 'Failed'){where}
        GROUP BY ALL
        """,
        [window.start, window.end, *params],
    ).fetchall()
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}


def latest_evidence(
    conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters
) -> dict[str, dict[str, Any]]:
    """Per category, the newest failure's quoted evidence: every cause shown with its proof."""
    where, params = filters.sql()
    rows = conn.execute(
        f"""SELECT category, arg_max(evidence, "timestamp"), arg_max(evidence_source, "timestamp"),
               arg_max(workload_name, "timestamp"), max("timestamp")
        FROM failure_events WHERE "timestamp" >= ? AND "timestamp" < ?{where}
        GROUP BY category""",
        [window.start, window.end, *params],
    ).fetchall()
    return {
        category: {
            "evidence": evidence,
            "evidence_source": source,
            "workload_name": workload,
            "timestamp": iso(at),
        }
        for category, evidence, source, workload, at in rows
    }


def statistics(
    conn: duckdb.DuckDBPyConnection,
    window: Window,
    filters: Filters,
    group_by: str = "category",
    top: int = 20,
) -> ToolResult:
    groups = failure_counts(conn, window, filters, group_by)
    runs = run_counts(conn, window, filters, group_by)
    total = sum(g["failures"] for g in groups)
    finished = sum(r[0] for r in runs.values())
    failed_runs = sum(r[1] for r in runs.values())
    for group in groups:
        group["share"] = ratio(group["failures"], total)
        if group_by in RUN_KEYS and filters.applies_to_runs():
            group_finished, group_failed = runs.get(group["key"], (0, 0))
            group["finished_runs"], group["failed_runs"] = group_finished, group_failed
            group["failure_rate"] = ratio(group_failed, group_finished)
        elif group_by in RUN_KEYS:  # a category filter: its failures over the group's runs
            group_finished = runs.get(group["key"], (0, 0))[0]
            group["finished_runs"], group["failed_runs"] = group_finished, None
            group["failure_rate"] = (
                ratio(group["failed"], group_finished) if filters.has_rate() else None
            )
        else:  # category / kind: failures of kind "failed" over all finished runs
            group["finished_runs"], group["failed_runs"] = finished, None
            group["failure_rate"] = ratio(group["failed"], finished) if filters.has_rate() else None
    if group_by == "category":
        examples = latest_evidence(conn, window, filters)
        for group in groups:
            group["example"] = examples.get(group["key"])
    shown, rest = groups[:top], groups[top:]
    data = {
        "window": window.to_dict(),
        "filters": filters.active(),
        "group_by": group_by,
        "total_failures": total,
        "by_kind": {k: sum(g[k] for g in groups) for k in ("failed", "degraded", "pending")},
        "finished_runs": finished,
        "failed_runs": failed_runs,
        "failure_rate": ratio(failed_runs, finished) if filters.applies_to_runs() else None,
        "groups": shown,
        "other_groups": len(rest),
        "other_failures": sum(g["failures"] for g in rest),
    }
    if total == 0 and finished == 0:
        message = empty_window_message(conn, window.label, "no failures and no finished runs")
        return ToolResult("no_data", data, message)
    message = f"{total} failures and {finished} finished runs in {window.label}"
    return ToolResult("ok", data, message)


_LIST_COLUMNS = (
    "episode_id", "timestamp", "workload_name", "project", "workload_type", "kind", "category",
    "node", "image", "summary", "evidence",
)  # fmt: skip


def list_failures(
    conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters, limit: int = 20
) -> ToolResult:
    where, params = filters.sql()
    columns = ", ".join(f'"{c}"' for c in _LIST_COLUMNS)
    bounds = [window.start, window.end, *params]
    rows = conn.execute(
        f"""SELECT {columns} FROM failure_events
        WHERE "timestamp" >= ? AND "timestamp" < ?{where}
        ORDER BY "timestamp" DESC, episode_id LIMIT ?""",
        [*bounds, limit],
    ).fetchall()
    total_row = conn.execute(
        f"""SELECT count(*) FROM failure_events
        WHERE "timestamp" >= ? AND "timestamp" < ?{where}""",
        bounds,
    ).fetchone()
    total = int(total_row[0]) if total_row else 0
    failures = [{c: iso(v) for c, v in zip(_LIST_COLUMNS, row, strict=True)} for row in rows]
    data = {
        "window": window.to_dict(),
        "filters": filters.active(),
        "total": total,
        "shown": len(failures),
        "failures": failures,
    }
    if not failures:
        message = empty_window_message(conn, window.label, "no failures matched")
        return ToolResult("no_data", data, message)
    return ToolResult("ok", data, f"{total} failures matched; newest {len(failures)} shown")
