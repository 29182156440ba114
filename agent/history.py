"""Read-only queries over the sidecar's DuckDB history file.

The file is opened read-only for one question at a time (the sidecar needs it between its
writes) through exporter.dbfile.connect, which retries a lock conflict. Every query is one
aggregate statement DuckDB runs column-wise; Python only shapes the few rows that come back.

Failure rate = failed runs / finished runs (workload_runs with phase Completed or Failed) in the
window. Failures by category have no run of their own, so their rate is category failures of
kind "failed" over all finished runs that match the other filters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import duckdb

from agent.types import ToolContext, ToolResult
from agent.windows import Window
from exporter.dbfile import connect
from exporter.errors import StoreLocked

NO_HISTORY = "no failures recorded yet; is the sidecar running?"

# Group-by keys a caller may ask for -> SQL expression (nullable columns get a visible "(none)").
GROUP_KEYS: dict[str, str] = {
    "category": "category",
    "project": "project",
    "workload_type": "workload_type",
    "node": "coalesce(node, '(none)')",
    "image": "coalesce(image, '(none)')",
    "kind": "kind",
    "workload_name": "workload_name",
    "department": "coalesce(department, '(none)')",
}
_RUN_KEYS = {"project", "workload_type", "node", "image", "workload_name", "department"}


class NoHistory(Exception):
    """The file is missing, empty, or has no tables yet: nothing recorded, not an error."""


@dataclass(frozen=True)
class Filters:
    """Exact-match filters; None means "any". Names are data, always bound as parameters."""

    project: str | None = None
    workload_type: str | None = None
    category: str | None = None
    node: str | None = None
    image: str | None = None
    kind: str | None = None
    workload_name: str | None = None
    department: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Filters:
        values = {f.name: args.get(f.name) for f in fields(cls)}
        return cls(**{k: str(v) for k, v in values.items() if v not in (None, "")})

    def active(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def sql(self, *, runs: bool = False) -> tuple[str, list[Any]]:
        """` AND col = ?` clauses for failure_events (or, with runs, for workload_runs, whose
        rows have no category or kind)."""
        clauses, params = [], []
        for name, value in self.active().items():
            if runs and name not in _RUN_KEYS:
                continue
            clauses.append(f" AND {name} = ?")
            params.append(value)
        return "".join(clauses), params

    def applies_to_runs(self) -> bool:
        return self.category is None and self.kind is None

    def has_rate(self) -> bool:
        """Degraded or pending episodes are not failed runs: no failure rate for them."""
        return self.kind in (None, "failed")


class _Shared:
    """The connection shared by one answer's tool calls, opened on first use."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.conn: duckdb.DuckDBPyConnection | None = None


# While a turn of the deterministic planner runs, its tool calls share one read-only connection
# (opened per question, closed at its end), so the open cost is paid once per answer.
_SHARED: ContextVar[_Shared | None] = ContextVar("agent_history_connection", default=None)


def _connect(ctx: ToolContext) -> duckdb.DuckDBPyConnection:
    path = ctx.db_path
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        raise NoHistory(f"{NO_HISTORY} (no history file at {path})")
    conn = connect(path, read_only=True, timeout_s=ctx.db_timeout_s)
    conn.execute("SET TimeZone = 'UTC'")
    return conn


@contextmanager
def open_history(ctx: ToolContext) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection in UTC (the answer's shared one inside one_connection); NoHistory
    when there is nothing to read yet."""
    shared = _SHARED.get()
    if shared is not None and shared.db_path == ctx.db_path:
        if shared.conn is None:
            shared.conn = _connect(ctx)
        yield shared.conn
        return
    conn = _connect(ctx)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def one_connection(ctx: ToolContext) -> Iterator[None]:
    """Share one read-only connection among the tool calls inside the block. It is opened by
    the first call that reads the history (none for a PromQL-only answer) and closed here."""
    shared = _Shared(ctx.db_path)
    token = _SHARED.set(shared)
    try:
        yield
    finally:
        _SHARED.reset(token)
        if shared.conn is not None:
            shared.conn.close()


def run_query(
    ctx: ToolContext, query: Callable[[duckdb.DuckDBPyConnection], ToolResult]
) -> ToolResult:
    """Run one query function on a read-only connection; every failure becomes a status."""
    try:
        with open_history(ctx) as conn:
            return query(conn)
    except NoHistory as exc:
        return ToolResult("no_data", {"history": "missing"}, str(exc))
    except duckdb.CatalogException:  # the sidecar created the file but no tables yet
        return ToolResult(
            "no_data", {"history": "missing"}, f"{NO_HISTORY} (the history file has no tables yet)"
        )
    except StoreLocked as exc:
        return ToolResult("error", None, f"{exc}; try again in a moment")
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ToolResult("error", None, f"cannot read the history file: {first_line}")


def is_empty(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM failure_events)"
        " AND NOT EXISTS (SELECT 1 FROM workload_runs)"
    ).fetchone()
    return bool(row and row[0])


def empty_window_message(conn: duckdb.DuckDBPyConnection, window: Window, what: str) -> str:
    """Why a window came back empty: nothing recorded at all, or where the data is."""
    if is_empty(conn):
        return NO_HISTORY
    row = conn.execute('SELECT max("timestamp") FROM failure_events').fetchone()
    latest = row[0] if row else None
    hint = f"; the newest recorded failure is from {latest:%Y-%m-%d %H:%M} UTC" if latest else ""
    return f"{what} in {window.label}{hint}"


def iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


# ---------------------------------------------------------------- statistics


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
    key = GROUP_KEYS[group_by] if group_by in _RUN_KEYS else "NULL"
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
        if group_by in _RUN_KEYS and filters.applies_to_runs():
            group_finished, group_failed = runs.get(group["key"], (0, 0))
            group["finished_runs"], group["failed_runs"] = group_finished, group_failed
            group["failure_rate"] = ratio(group_failed, group_finished)
        elif group_by in _RUN_KEYS:  # a category filter: its failures over the group's runs
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
        message = empty_window_message(conn, window, "no failures and no finished runs")
        return ToolResult("no_data", data, message)
    message = f"{total} failures and {finished} finished runs in {window.label}"
    return ToolResult("ok", data, message)


# ---------------------------------------------------------------- listing and detail

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
        message = empty_window_message(conn, window, "no failures matched")
        return ToolResult("no_data", data, message)
    return ToolResult("ok", data, f"{total} failures matched; newest {len(failures)} shown")


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _timeline(record: Mapping[str, Any], runs: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Events from the stored bundle, the workload's runs and the failure itself, oldest first."""
    items: list[dict[str, Any]] = []
    bundle = record.get("bundle") or {}
    events = bundle.get("events") if isinstance(bundle, Mapping) else None
    for event in (events or [])[:30]:
        if isinstance(event, Mapping):
            items.append(
                {
                    "at": str(event.get("createdAt") or ""),
                    "what": "event",
                    "detail": f"{event.get('reason') or ''}: {event.get('message') or ''}"[:300],
                }
            )
    for phase, finished_at in runs:
        items.append({"at": iso(finished_at), "what": f"run ended {phase}", "detail": ""})
    items.append(
        {
            "at": record["timestamp"],
            "what": f"failure recorded: {record['kind']}, {record['category']}",
            "detail": record["summary"],
        }
    )
    items.sort(key=lambda item: str(item["at"]))
    return items


def failure_detail(
    conn: duckdb.DuckDBPyConnection,
    *,
    workload_name: str | None = None,
    episode_id: str | None = None,
    project: str | None = None,
    window: Window | None = None,
) -> ToolResult:
    """The latest failure of a workload (or one episode): cause, evidence, timeline."""
    clauses: list[str] = []
    params: list[Any] = []
    if episode_id:
        clauses.append("episode_id = ?")
        params.append(episode_id)
    if workload_name:
        clauses.append("workload_name = ?")
        params.append(workload_name)
    if project:
        clauses.append("project = ?")
        params.append(project)
    if window is not None:
        clauses.append('"timestamp" >= ? AND "timestamp" < ?')
        params += [window.start, window.end]
    if not clauses:
        return ToolResult("error", None, "give a workload_name or an episode_id")
    cursor = conn.execute(
        f"""SELECT * FROM failure_events WHERE {" AND ".join(clauses)}
        ORDER BY "timestamp" DESC LIMIT 1""",
        params,
    )
    row = cursor.fetchone()
    subject = episode_id or workload_name
    if row is None:
        message = NO_HISTORY if is_empty(conn) else f"no recorded failure of {subject}"
        return ToolResult("no_data", {"workload_name": workload_name}, message)
    names = [d[0] for d in cursor.description or ()]
    record: dict[str, Any] = {n: iso(v) for n, v in zip(names, row, strict=True)}
    record["details"] = _loads(record["details"]) or {}
    record["bundle"] = _loads(record["bundle"]) or {}
    key = [record["workload_id"]]
    history = conn.execute(
        """SELECT category, count(*), max("timestamp") FROM failure_events
        WHERE workload_id = ? GROUP BY category ORDER BY count(*) DESC, category""",
        key,
    ).fetchall()
    episodes = conn.execute(
        """SELECT "timestamp", kind, category, node FROM failure_events WHERE workload_id = ?
        ORDER BY "timestamp" DESC LIMIT 10""",
        key,
    ).fetchall()
    runs = conn.execute(
        """SELECT phase, finished_at FROM workload_runs WHERE workload_id = ?
        ORDER BY finished_at DESC LIMIT 10""",
        key,
    ).fetchall()
    run_totals = conn.execute(
        """SELECT count(*), count(*) FILTER (WHERE phase = 'Failed') FROM workload_runs
        WHERE workload_id = ? AND phase IN ('Completed', 'Failed')""",
        key,
    ).fetchone() or (0, 0)
    other_projects = conn.execute(
        """SELECT DISTINCT project FROM failure_events
        WHERE workload_name = ? AND project <> ? ORDER BY project""",
        [record["workload_name"], record["project"]],
    ).fetchall()
    bundle = record.pop("bundle")
    data = {
        "failure": record,
        "timeline": _timeline(record | {"bundle": bundle}, runs),
        "failures_by_category": [
            {"category": c, "failures": int(n), "last": iso(last)} for c, n, last in history
        ],
        "recent_episodes": [
            {"timestamp": iso(t), "kind": k, "category": c, "node": n} for t, k, c, n in episodes
        ],
        "finished_runs": int(run_totals[0]),
        "failed_runs": int(run_totals[1]),
        "same_name_in_projects": [p for (p,) in other_projects],
    }
    return ToolResult(
        "ok", data, f"latest failure of {record['workload_name']}: {record['category']}"
    )


# ---------------------------------------------------------------- names in questions

_NAME_COLUMNS = ("workload_name", "project", "node", "image")


def match_names(conn: duckdb.DuckDBPyConnection, candidates: list[str]) -> dict[str, list[str]]:
    """Which candidate strings are known workload, project, node or image names."""
    found: dict[str, list[str]] = {c: [] for c in _NAME_COLUMNS}
    if not candidates:
        return found
    parts = []
    for column in _NAME_COLUMNS:
        for table in ("failure_events", "workload_runs"):
            parts.append(
                f"SELECT DISTINCT '{column}' AS kind, {column} AS name FROM {table}"
                f" WHERE {column} IN (SELECT unnest($names))"
            )
    rows = conn.execute(" UNION ".join(parts), {"names": candidates}).fetchall()
    for kind, name in sorted(rows, key=lambda r: (-len(r[1]), r[1])):
        if name not in found[kind]:
            found[kind].append(name)
    return found
