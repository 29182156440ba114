"""Analysis of a time window: trend against the previous window, top causes, hot nodes,
repeat offenders, peak hours, failures per day, and what to do first.

Each part is one aggregate query; the current and previous windows are read in the same scan.
A hot node is ranked by its failure rate over all runs on it (failed runs / finished runs),
never over failed runs only.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, cast

import duckdb

from agent.time_windows import Window
from agent.tools.shapes import (
    Action,
    AnalysisData,
    Cause,
    DailyCount,
    HotNode,
    PeakHour,
    Repeater,
    Trend,
    WindowShape,
)
from agent.tools.stats import latest_evidence
from agent.types import ToolResult
from history import categories
from history.reader import Filters, empty_window_message, iso, ratio

TOP_N = 5
_EPOCH_DAY = date(1970, 1, 1)
HOT_NODE_MIN_RUNS = 3  # fewer finished runs than this: ranked after the nodes with enough
REPEAT_MIN = 2  # a workload or image failing at least this often in the window is a repeater


def _both_windows(window: Window) -> list[Any]:
    return [window.start - window.duration, window.end, window.start]


def _totals(conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters) -> dict[str, Any]:
    where, params = filters.sql()
    rows = conn.execute(
        f"""SELECT "timestamp" >= $3 AS current, count(*), count(*) FILTER (WHERE kind='failed'),
               count(*) FILTER (WHERE kind='degraded'), count(*) FILTER (WHERE kind='pending')
        FROM failure_events WHERE "timestamp" >= $1 AND "timestamp" < $2{_dollar(where, 4)}
        GROUP BY ALL""",
        [*_both_windows(window), *params],
    ).fetchall()
    failures = {bool(r[0]): tuple(int(v) for v in r[1:]) for r in rows}
    run_where, run_params = filters.sql(runs=True)
    rows = conn.execute(
        f"""SELECT finished_at >= $3 AS current, count(*), count(*) FILTER (WHERE phase='Failed')
        FROM workload_runs WHERE finished_at >= $1 AND finished_at < $2
        AND phase IN ('Completed', 'Failed'){_dollar(run_where, 4)} GROUP BY ALL""",
        [*_both_windows(window), *run_params],
    ).fetchall()
    runs = {bool(r[0]): (int(r[1]), int(r[2])) for r in rows}
    out: dict[str, Any] = {}
    for name, is_current in (("current", True), ("previous", False)):
        total, failed_kind, degraded, pending = failures.get(is_current, (0, 0, 0, 0))
        finished, failed_runs = runs.get(is_current, (0, 0))
        # With a category filter, the numerator is that category's failed episodes.
        numerator = failed_runs if filters.applies_to_runs() else failed_kind
        out[name] = {
            "failures": total,
            "by_kind": {"failed": failed_kind, "degraded": degraded, "pending": pending},
            "finished_runs": finished,
            "failed_runs": failed_runs if filters.applies_to_runs() else None,
            "failure_rate": ratio(numerator, finished) if filters.has_rate() else None,
        }
    return out


def _dollar(where: str, first: int) -> str:
    """Turn `?` placeholders of a Filters clause into $n, numbered from `first`."""
    parts = where.split("?")
    return "".join(f"{p}${first + i}" for i, p in enumerate(parts[:-1])) + parts[-1]


def _trend(totals: dict[str, Any], window: Window, runs_start: Any) -> Trend:
    """Up, down or flat: by the failure rate where the runs history reaches into the previous
    window, else by the failure count. Runs recorded only from inside the current window leave
    the previous one with failed runs alone (1 failed of 1 finished is no 100 % rate)."""
    now, before = totals["current"], totals["previous"]
    change = now["failures"] - before["failures"]
    rate_now, rate_before = now["failure_rate"], before["failure_rate"]
    rate_change = (
        round(rate_now - rate_before, 6)
        if rate_now is not None and rate_before is not None
        else None
    )
    # Judge by rate when both windows had runs (and the runs history reaches into the
    # previous one); by counts otherwise.
    runs_cover = runs_start is not None and runs_start < window.start
    by_rate = rate_change is not None and runs_cover
    basis = rate_change if by_rate and rate_change is not None else change
    trend: Trend = {
        "failures_change": change,
        "failures_change_pct": (
            round(100 * change / before["failures"], 1) if before["failures"] else None
        ),
        "failure_rate_change": rate_change,
        "direction": "up" if basis > 0 else "down" if basis < 0 else "flat",
        "judged_by": "failure rate" if by_rate else "failure count",
    }
    if rate_change is not None and not by_rate:
        since = f"before {runs_start:%Y-%m-%d %H:%M} UTC" if runs_start is not None else "at all"
        trend["reason"] = (
            f"no completed run is recorded {since}, so the previous window's rate would count "
            "failed runs only"
        )
    return trend


def _causes(conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters) -> list[Cause]:
    where, params = filters.sql()
    rows = conn.execute(
        f"""SELECT category,
               count(*) FILTER (WHERE "timestamp" >= $3) AS current,
               count(*) FILTER (WHERE "timestamp" < $3) AS previous,
               sum(coalesce(gpus_requested, 0)) FILTER (WHERE "timestamp" >= $3) AS gpus
        FROM failure_events WHERE "timestamp" >= $1 AND "timestamp" < $2{_dollar(where, 4)}
        GROUP BY category""",
        [*_both_windows(window), *params],
    ).fetchall()
    # Distinct workloads in their own query: a DISTINCT under FILTER costs more than a rescan.
    workloads = dict(
        conn.execute(
            f"""SELECT category, count(DISTINCT workload_id) FROM failure_events
            WHERE "timestamp" >= ? AND "timestamp" < ?{where} GROUP BY category""",
            [window.start, window.end, *params],
        ).fetchall()
    )
    total = sum(int(r[1]) for r in rows)
    causes: list[Cause] = [
        {
            "category": category,
            "failures": int(current),
            "previous_failures": int(previous),
            "share": ratio(int(current), total),
            "gpus_requested": float(gpus or 0),
            "workloads": int(workloads.get(category, 0)),
        }
        for category, current, previous, gpus in rows
        if current
    ]
    examples = latest_evidence(conn, window, filters)
    for cause in causes:
        cause["example"] = examples.get(cause["category"])
    causes.sort(key=lambda c: (-c["failures"], c["category"]))
    return causes


def _hot_nodes(
    conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters
) -> list[HotNode]:
    where, params = filters.sql()
    run_where, run_params = filters.sql(runs=True)
    n = 3 + len(params)
    rows = conn.execute(
        f"""WITH c AS (
            SELECT node, category, count(*) AS n,
                   count(*) FILTER (WHERE kind = 'failed') AS failed
            FROM failure_events
            WHERE "timestamp" >= $1 AND "timestamp" < $2 AND node IS NOT NULL{_dollar(where, 3)}
            GROUP BY node, category),
        f AS (
            SELECT node, sum(n) AS failures, sum(failed) AS failed,
                   first(category ORDER BY n DESC, category) AS top_category
            FROM c GROUP BY node),
        r AS (
            SELECT node, count(*) AS runs, count(*) FILTER (WHERE phase = 'Failed') AS failed_runs
            FROM workload_runs
            WHERE finished_at >= $1 AND finished_at < $2 AND node IS NOT NULL
              AND phase IN ('Completed', 'Failed'){_dollar(run_where, n)}
            GROUP BY node)
        SELECT f.node, f.failures, f.failed, f.top_category,
               coalesce(r.runs, 0), coalesce(r.failed_runs, 0)
        FROM f LEFT JOIN r USING (node)""",
        [window.start, window.end, *params, *run_params],
    ).fetchall()
    nodes: list[HotNode] = []
    for node, failures, failed, top_category, runs, failed_runs in rows:
        numerator = failed_runs if filters.applies_to_runs() else failed
        rate = ratio(int(numerator), int(runs)) if filters.has_rate() else None
        nodes.append(
            {
                "node": node,
                "failures": int(failures),
                "finished_runs": int(runs),
                "failed_runs": int(failed_runs),
                "failure_rate": rate,
                "top_category": top_category,
            }
        )
    # Rate first, but a node with a handful of runs cannot outrank one with enough to judge.
    nodes.sort(
        key=lambda n: (
            n["finished_runs"] < HOT_NODE_MIN_RUNS,
            -(n["failure_rate"] or 0),
            -n["failures"],
            n["node"],
        )
    )
    return nodes[:TOP_N]


def _repeaters(
    conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters, column: str
) -> list[Repeater]:
    """The most often failing values of `column`: ranked first, then described (main cause,
    workloads, project) for those few only, which keeps the heavy aggregates off the long tail."""
    where, params = filters.sql()
    scope = f'"timestamp" >= $1 AND "timestamp" < $2 AND {column} IS NOT NULL{_dollar(where, 3)}'
    rows = conn.execute(
        f"""WITH top AS (
            SELECT {column} AS name, count(*) AS failures, max("timestamp") AS last
            FROM failure_events WHERE {scope}
            GROUP BY {column} HAVING count(*) >= {REPEAT_MIN}
            ORDER BY failures DESC, name LIMIT {TOP_N}),
        cats AS (
            SELECT {column} AS name, category, count(*) AS n FROM failure_events
            WHERE {scope} AND {column} IN (SELECT name FROM top) GROUP BY ALL),
        main AS (
            SELECT name, {_TOP_CATEGORY} AS top_category FROM cats GROUP BY name)
        SELECT top.name, top.failures, main.top_category, count(DISTINCT f.workload_id),
               min(f.project), top.last
        FROM top JOIN (SELECT * FROM failure_events WHERE {scope}) AS f
          ON f.{column} = top.name
        JOIN main ON main.name = top.name
        GROUP BY top.name, top.failures, top.last, main.top_category
        ORDER BY top.failures DESC, top.name""",
        [window.start, window.end, *params],
    ).fetchall()
    # keyed by the column it ranks (workload_name or image): the shape allows either
    return [
        cast(Repeater, {
            column: name,
            "failures": int(failures),
            "top_category": category,
            "workloads": int(workloads),
            "project": project,
            "last_failure": iso(last),
        })
        for name, failures, category, workloads, project, last in rows
    ]


# The most frequent category of a group, ties to the alphabetically first: mode() picks any of
# the tied values, and the same question then answered differently between runs.
_TOP_CATEGORY = "first(category ORDER BY n DESC, category)"

# Hours and days from epoch seconds: plain integer arithmetic, UTC by definition.
_HOUR = '(epoch("timestamp")::BIGINT % 86400) // 3600'
_DAY = 'epoch("timestamp")::BIGINT // 86400'


def _peak_hours(
    conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters
) -> list[PeakHour]:
    where, params = filters.sql()
    rows = conn.execute(
        f"""SELECT {_HOUR} AS h, count(*) AS failures FROM failure_events
        WHERE "timestamp" >= ? AND "timestamp" < ?{where}
        GROUP BY h ORDER BY failures DESC, h LIMIT 3""",
        [window.start, window.end, *params],
    ).fetchall()
    return [{"hour_utc": int(h), "failures": int(n)} for h, n in rows]


def _daily(
    conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters
) -> list[DailyCount]:
    where, params = filters.sql()
    rows = conn.execute(
        f"""SELECT {_DAY} AS day, category, count(*) FROM failure_events
        WHERE "timestamp" >= ? AND "timestamp" < ?{where}
        GROUP BY ALL ORDER BY day, category""",
        [window.start, window.end, *params],
    ).fetchall()
    return [
        {
            "day": (_EPOCH_DAY + timedelta(days=int(d))).isoformat(),
            "category": c,
            "failures": int(n),
        }
        for d, c, n in rows
    ]


def _actions(
    causes: list[Cause], nodes: list[HotNode], workloads: list[Repeater]
) -> list[Action]:
    """What to do first: one action per cause, ranked by GPUs affected, then failures."""
    ranked = sorted(causes, key=lambda c: (-c["gpus_requested"], -c["failures"], c["category"]))
    actions: list[Action] = []
    for cause in ranked[:TOP_N]:
        category = cause["category"]
        targets: list[str] = []
        label = ""
        if category in ("gpu_hardware", "node_failure", "evicted"):
            targets = [n["node"] for n in nodes if n["top_category"] == category]
            label = "Nodes first"
        elif category != "unknown":
            targets = [w["workload_name"] for w in workloads if w["top_category"] == category][:3]
            label = "Repeating workloads"
        actions.append(
            {
                "category": category,
                "title": categories.label(category),
                "failures": cause["failures"],
                "gpus_requested": cause["gpus_requested"],
                "action": categories.advice(category),
                "targets": targets,
                "targets_label": label,
            }
        )
    return actions


def history_start(conn: duckdb.DuckDBPyConnection) -> Any:
    """The first moment anything was recorded (a failure or a finished run), or None."""
    row = conn.execute(
        """SELECT least((SELECT min("timestamp") FROM failure_events),
                        (SELECT min(finished_at) FROM workload_runs))"""
    ).fetchone()
    return row[0] if row else None


def runs_start(conn: duckdb.DuckDBPyConnection) -> Any:
    """The first completed run recorded, or None: from then on a failure rate has runs to
    count that did not fail."""
    row = conn.execute(
        "SELECT min(finished_at) FROM workload_runs WHERE phase = 'Completed'"
    ).fetchone()
    return row[0] if row else None


def _judge_trend(trend: Trend, window: Window, first: Any) -> Trend:
    """No rise or fall against a window the history does not cover. Entirely before the first
    record there is nothing to compare with; partly before it, counts are short by the missing
    part while a rate (failed over finished runs) still compares like with like."""
    previous_start = window.start - window.duration
    if first is None or first <= previous_start:
        return trend
    if first < window.start and trend["judged_by"] == "failure rate":
        return trend
    return {
        **trend,
        "direction": "unknown",
        "judged_by": "no comparison",
        "reason": f"the history begins {first:%Y-%m-%d %H:%M} UTC, after the start of the "
        "previous window",
    }


def analyze(conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters) -> ToolResult:
    totals = _totals(conn, window, filters)
    causes = _causes(conn, window, filters)
    nodes = _hot_nodes(conn, window, filters)
    workloads = _repeaters(conn, window, filters, "workload_name")
    data: AnalysisData = {
        "window": cast(WindowShape, window.to_dict()),
        "previous_window": cast(WindowShape, window.previous().to_dict()),
        "filters": filters.active(),
        "current": totals["current"],
        "previous": totals["previous"],
        "trend": _judge_trend(
            _trend(totals, window, runs_start(conn)), window, history_start(conn)
        ),
        "top_causes": causes,
        "hot_nodes": nodes,
        "repeating_workloads": workloads,
        "repeating_images": _repeaters(conn, window, filters, "image"),
        "peak_hours_utc": _peak_hours(conn, window, filters),
        "daily": _daily(conn, window, filters),
        "actions": _actions(causes, nodes, workloads),
    }
    current = totals["current"]
    if current["failures"] == 0 and current["finished_runs"] == 0:
        message = empty_window_message(conn, window.label, "no failures or finished runs")
        return ToolResult("no_data", data, message)
    return ToolResult(
        "ok",
        data,
        f"{current['failures']} failures in {window.label}, trend {data['trend']['direction']}",
    )
