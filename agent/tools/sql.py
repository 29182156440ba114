"""The LLM-only tool: one read-only SELECT over the failure history.

Defence in depth, each layer enough on its own for its threat:
- the statement is parsed by DuckDB itself and must be exactly one SELECT (WITH ... SELECT is a
  SELECT), so no INSERT, COPY, ATTACH, SET, PRAGMA or a second statement rides along;
- the connection is read-only, so a write cannot happen even if the check above were wrong;
- external access is disabled and the configuration locked before the query runs, so
  read_csv('/etc/passwd'), COPY TO and extension loading are refused and cannot be re-enabled;
- a timer thread interrupts a query that runs past the time limit; rows beyond the cap are
  counted as "more", never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from agent.types import ToolContext, ToolResult, ToolSpec
from common.errors import StoreLocked
from history.connection import connect

ROW_CAP = 200
TIME_LIMIT_S = 10.0
CELL_CHARS = 2000  # long log/bundle cells are cut so one row cannot flood the model's context

_LOCKDOWN = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET lock_configuration = true",
)


class SqlRejected(ValueError):
    """The statement is not a single SELECT."""


def check_select(query: str) -> str:
    """Return the one SELECT statement in `query`, or raise SqlRejected with a one-line reason."""
    if not query.strip():
        raise SqlRejected("empty query")
    try:
        statements = duckdb.connect(":memory:").extract_statements(query)
    except duckdb.Error as exc:
        raise SqlRejected(f"not valid SQL: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise SqlRejected(f"exactly one statement allowed, got {len(statements)}")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        kind = statement.type.name
        raise SqlRejected(f"only SELECT is allowed, got {kind}")
    return statement.query


def run_sql(
    ctx: ToolContext,
    args: Mapping[str, Any],
    *,
    row_cap: int = ROW_CAP,
    time_limit_s: float = TIME_LIMIT_S,
) -> ToolResult:
    query = args.get("query")
    if not isinstance(query, str):
        return ToolResult("error", message="argument 'query' must be a string")
    try:
        statement = check_select(query)
    except SqlRejected as exc:
        return ToolResult("error", message=f"query refused: {exc}")
    if not Path(ctx.db_path).is_file():
        return ToolResult("no_data", message="no failures recorded yet; is the sidecar running?")
    try:
        con = connect(ctx.db_path, read_only=True, timeout_s=ctx.db_timeout_s)
    except StoreLocked as exc:
        return ToolResult("error", message=str(exc))
    except duckdb.Error as exc:
        return ToolResult("error", message=f"cannot open the history: {_first_line(exc)}")
    try:
        for setting in _LOCKDOWN:
            con.execute(setting)
        return _execute(con, statement, row_cap, time_limit_s)
    finally:
        con.close()


def _execute(
    con: duckdb.DuckDBPyConnection, statement: str, row_cap: int, time_limit_s: float
) -> ToolResult:
    timed_out = threading.Event()

    def interrupt() -> None:
        timed_out.set()
        con.interrupt()

    timer = threading.Timer(time_limit_s, interrupt)
    timer.daemon = True
    timer.start()
    try:
        cursor = con.execute(statement)
        columns = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchmany(row_cap + 1)
    except duckdb.Error as exc:
        if timed_out.is_set():
            return ToolResult(
                "error",
                message=f"query stopped after the {time_limit_s:g} s time limit; "
                "aggregate or filter more",
            )
        return ToolResult("error", message=f"query failed: {_first_line(exc)}")
    finally:
        timer.cancel()
    truncated = len(rows) > row_cap
    rows = rows[:row_cap]
    data = {
        "columns": columns,
        "rows": [[_jsonable(v) for v in row] for row in rows],
        "row_count": len(rows),
        "truncated": truncated,
    }
    if not rows:
        return ToolResult("no_data", data, "the query returned no rows")
    if truncated:
        message = (
            f"showing the first {row_cap} rows; there are more: aggregate, filter or add LIMIT"
        )
    else:
        message = f"{len(rows)} row(s)"
    return ToolResult("ok", data, message)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= CELL_CHARS else value[:CELL_CHARS] + "…[cut]"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return _jsonable(str(value))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


SQL_TOOL = ToolSpec(
    name="run_sql",
    description=(
        "Run ONE read-only DuckDB SELECT over the failure history when no other tool answers the "
        "question. Tables: failure_events(episode_id, timestamp TIMESTAMPTZ, workload_id, "
        "workload_name, project, department, workload_type, kind, category, confidence, summary, "
        "evidence, evidence_source, recommendation, node, pod, image, gpus_requested, exit_code, "
        "details JSON, logs_available, bundle JSON, cluster_id, recorded_at) and "
        "workload_runs(run_id, workload_id, workload_name, project, department, workload_type, "
        "phase 'Completed'|'Failed', finished_at TIMESTAMPTZ, created_at, node, image, "
        "gpus_requested, recorded_at). A failure rate is failed runs / finished runs in "
        f"workload_runs. Results are capped at {ROW_CAP} rows and {TIME_LIMIT_S:g} s; aggregate."
    ),
    parameters={
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "a single SELECT (or WITH ... SELECT)"}
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    run=run_sql,
    llm_only=True,
)
