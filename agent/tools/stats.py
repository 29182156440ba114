"""Statistics and listings over a window: counts, shares, failure rates, newest evidence.

Failure rate = failed runs / finished runs (workload_runs with phase Completed or Failed) in the
window. Failures by category have no run of their own, so their rate is category failures of
kind "failed" over all finished runs that match the other filters. Degraded and pending episodes
are not failed runs: selections of those kinds carry no rate.
"""

from __future__ import annotations

from typing import Any, cast

import duckdb

from agent.time_windows import Window
from agent.tools.shapes import (
    Evidence,
    ListData,
    ListedFailure,
    StatisticsData,
    StatisticsGroup,
    WindowShape,
)
from agent.types import ToolResult
from history.reader import (
    GROUP_KEYS,
    NONE_KEY,
    RUN_KEYS,
    Filters,
    empty_window_message,
    iso,
    ratio,
)

# Workload types whose runs rarely end "Completed": a rate over finished runs is near 100 % by
# construction and says nothing, so it is not printed for them.
NO_DENOMINATOR: dict[str, str] = {
    "workspace": "workspaces rarely complete, so their failures have no meaningful rate",
    "inference": "inference servers rarely complete, so their failures have no meaningful rate",
}


MEASURES: tuple[str, ...] = ("workloads", "gpu_hours")
# What may order the groups of a breakdown ("which project lost the most GPU-hours"), highest
# first; ties by name, the "(none)" group last.
RANKINGS: dict[str, str] = {
    "failures": "failures",
    "gpus_requested": "gpus_requested",
    "gpu_hours_lost": "gpu_hours_lost",
    "workloads": "workloads",
    "failure_rate": "failure_rate",
}


def failure_counts(
    conn: duckdb.DuckDBPyConnection,
    window: Window,
    filters: Filters,
    group_by: str,
    distinct_workloads: bool = False,
) -> list[dict[str, Any]]:
    """Per group: episodes by kind and GPUs requested (and distinct workloads when asked: a
    DISTINCT costs a second pass, so only questions about workloads pay for it). Ordered by
    failures, then key, with the "(none)" group (no node, no image) last."""
    where, params = filters.sql()
    distinct = "count(DISTINCT workload_id)" if distinct_workloads else "NULL"
    rows = conn.execute(
        f"""
        SELECT * FROM (
        SELECT {GROUP_KEYS[group_by]} AS key, count(*) AS failures,
               count(*) FILTER (WHERE kind = 'failed') AS failed,
               count(*) FILTER (WHERE kind = 'degraded') AS degraded,
               count(*) FILTER (WHERE kind = 'pending') AS pending,
               sum(coalesce(gpus_requested, 0)) AS gpus_requested,
               {distinct} AS workloads
        FROM failure_events
        WHERE "timestamp" >= ? AND "timestamp" < ?{where}
        GROUP BY ALL) ORDER BY key = '{NONE_KEY}', failures DESC, key
        """,
        [window.start, window.end, *params],
    ).fetchall()
    names = ("key", "failures", "failed", "degraded", "pending", "gpus_requested", "workloads")
    return [dict(zip(names, row, strict=True)) for row in rows]


def gpu_hours_lost(
    conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters, group_by: str | None
) -> dict[str | None, float]:
    """{group key: GPU-hours of the runs that ended Failed}: GPUs requested x the run's length
    (created to finished). Runs carry no category, so a category filter has no such figure."""
    where, params = filters.sql(runs=True)
    key = GROUP_KEYS[group_by] if group_by in RUN_KEYS else "NULL"
    rows = conn.execute(
        f"""
        SELECT {key} AS key,
               sum(coalesce(gpus_requested, 0)
                   * greatest(epoch(finished_at) - epoch(coalesce(created_at, finished_at)), 0))
               / 3600.0
        FROM workload_runs
        WHERE finished_at >= ? AND finished_at < ? AND phase = 'Failed'{where}
        GROUP BY ALL
        """,
        [window.start, window.end, *params],
    ).fetchall()
    return {row[0]: round(float(row[1] or 0), 1) for row in rows}


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
) -> dict[str, Evidence]:
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
    measures: tuple[str, ...] = (),
    rank_by: str = "failures",
) -> ToolResult:
    """`measures` may add "workloads" (distinct workloads) and "gpu_hours" (GPU-hours of the
    failed runs); failures, kinds, runs and GPUs requested are always there. `rank_by` (a
    RANKINGS key) orders the groups before the top ones are kept."""
    if rank_by not in RANKINGS:
        raise ValueError(f"rank_by must be one of {', '.join(RANKINGS)}, not {rank_by!r}")
    measures = (*measures, *(m for m in _RANK_NEEDS.get(rank_by, ()) if m not in measures))
    groups = failure_counts(conn, window, filters, group_by, "workloads" in measures)
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
    hours: dict[str | None, float] | None = None
    if "gpu_hours" in measures and filters.applies_to_runs():
        hours = gpu_hours_lost(conn, window, filters, group_by)
        for group in groups:
            group["gpu_hours_lost"] = hours.get(group["key"], 0.0) if group_by in RUN_KEYS else None
    selection_reason = _no_rate_reason(filters)
    for group in groups:
        group["gpus_requested"] = float(group["gpus_requested"] or 0)
        group["no_rate_reason"] = selection_reason or (
            NO_DENOMINATOR.get(group["key"]) if group_by == "workload_type" else None
        )
        if group["no_rate_reason"]:
            group["failure_rate"] = None
    if rank_by != "failures":  # failure_counts already orders by failures
        groups.sort(key=lambda g: (g["key"] == NONE_KEY, -(g.get(rank_by) or 0), str(g["key"])))
    shown, rest = groups[:top], groups[top:]
    data: StatisticsData = {
        "window": cast(WindowShape, window.to_dict()),
        "filters": filters.active(),
        "group_by": group_by,
        "total_failures": total,
        "by_kind": {
            "failed": sum(g["failed"] for g in groups),
            "degraded": sum(g["degraded"] for g in groups),
            "pending": sum(g["pending"] for g in groups),
        },
        "finished_runs": finished,
        "failed_runs": failed_runs,
        "failure_rate": (
            ratio(failed_runs, finished)
            if filters.applies_to_runs() and not _no_rate_reason(filters)
            else None
        ),
        "no_rate_reason": _no_rate_reason(filters),
        "gpus_requested": sum(g["gpus_requested"] for g in groups),
        "workloads": _distinct_workloads(conn, window, filters)
        if "workloads" in measures
        else None,
        "gpu_hours_lost": round(sum(hours.values()), 1) if hours is not None else None,
        "groups": cast(list[StatisticsGroup], shown),  # rows of failure_counts, filled above
        "other_groups": len(rest),
        "other_failures": sum(g["failures"] for g in rest),
    }
    if total == 0 and finished == 0:
        message = empty_window_message(conn, window.label, "no failures and no finished runs")
        return ToolResult("no_data", data, message)
    message = f"{total} failures and {finished} finished runs in {window.label}"
    return ToolResult("ok", data, message)


_RANK_NEEDS = {"gpu_hours_lost": ("gpu_hours",), "workloads": ("workloads",)}


def _distinct_workloads(conn: duckdb.DuckDBPyConnection, window: Window, filters: Filters) -> int:
    where, params = filters.sql()
    row = conn.execute(
        f"""SELECT count(DISTINCT workload_id) FROM failure_events
        WHERE "timestamp" >= ? AND "timestamp" < ?{where}""",
        [window.start, window.end, *params],
    ).fetchone()
    return int(row[0]) if row else 0


def _no_rate_reason(filters: Filters) -> str | None:
    """Why a failure rate would mislead for this selection, or None when it means something."""
    types = filters.workload_type
    chosen = (types,) if isinstance(types, str) else types or ()
    reasons = [NO_DENOMINATOR[t] for t in chosen if t in NO_DENOMINATOR]
    return reasons[0] if reasons and len(reasons) == len(chosen) else None


_LIST_COLUMNS = (
    "episode_id", "timestamp", "workload_name", "project", "workload_type", "kind", "category",
    "node", "image", "gpus_requested", "summary", "evidence",
)  # fmt: skip


def _left_pending(
    conn: duckdb.DuckDBPyConnection, episodes: list[tuple[str, Any]]
) -> dict[tuple[str, Any], Any]:
    """For pending episodes (workload_id, entered pending at): the workload's next record in
    the history (a finished run or another episode), when it has one. The history records when
    a workload entered Pending, not when it left; a later record shows it did."""
    if not episodes:
        return {}
    ids = sorted({wid for wid, _ in episodes})
    found = conn.execute(
        """WITH asked(workload_id, since) AS (SELECT unnest(?), unnest(?)),
        later AS (
            SELECT workload_id, "timestamp" AS at FROM failure_events WHERE workload_id IN ?
            UNION ALL
            SELECT workload_id, finished_at FROM workload_runs WHERE workload_id IN ?
        )
        SELECT a.workload_id, a.since, min(l.at) FROM asked a
        JOIN later l ON l.workload_id = a.workload_id AND l.at > a.since
        GROUP BY ALL""",
        [[w for w, _ in episodes], [t for _, t in episodes], ids, ids],
    ).fetchall()
    return {(wid, since): at for wid, since, at in found}


def list_failures(
    conn: duckdb.DuckDBPyConnection,
    window: Window,
    filters: Filters,
    limit: int = 20,
    oldest_first: bool = False,
) -> ToolResult:
    where, params = filters.sql()
    columns = ", ".join(f'"{c}"' for c in _LIST_COLUMNS)
    bounds = [window.start, window.end, *params]
    order = "ASC" if oldest_first else "DESC"
    rows = conn.execute(
        f"""SELECT {columns}, workload_id FROM failure_events
        WHERE "timestamp" >= ? AND "timestamp" < ?{where}
        ORDER BY "timestamp" {order}, episode_id LIMIT ?""",
        [*bounds, limit],
    ).fetchall()
    total_row = conn.execute(
        f"""SELECT count(*) FROM failure_events
        WHERE "timestamp" >= ? AND "timestamp" < ?{where}""",
        bounds,
    ).fetchone()
    total = int(total_row[0]) if total_row else 0
    failures = [{c: iso(v) for c, v in zip(_LIST_COLUMNS, row[:-1], strict=True)} for row in rows]
    left = _left_pending(conn, [(row[-1], row[1]) for row in rows if row[5] == "pending"])
    for failure, row in zip(failures, rows, strict=True):
        if row[5] == "pending":
            failure["next_record"] = iso(left.get((row[-1], row[1])))
    data: ListData = {
        "window": cast(WindowShape, window.to_dict()),
        "filters": filters.active(),
        "total": total,
        "shown": len(failures),
        "failures": cast(list[ListedFailure], failures),  # one row per _LIST_COLUMNS
    }
    if not failures:
        message = empty_window_message(conn, window.label, "no failures matched")
        return ToolResult("no_data", data, message)
    return ToolResult("ok", data, f"{total} failures matched; newest {len(failures)} shown")
