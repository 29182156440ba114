"""`db sql "SELECT ..."`: one read-only query against the history file, from inside the pod.

It takes the place of the earlier agent's `sqlite3 FILE "SELECT ..."`. Only a query runs: the
file is opened read-only, the statement must be one SELECT (or DESCRIBE/SHOW/SUMMARIZE, which
DuckDB parses as one) or EXPLAIN, and the session can neither read other files nor use more
than a bounded share of the container's memory, since it runs beside the sidecar under the
same limit. The result is cut at max_rows, and the caller is told when it was.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from common.errors import StoreError
from history import lifecycle

ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
# Beside the sidecar in a 1 GiB container: a runaway query must not take the sidecar with it.
SESSION_SETTINGS = (
    "SET memory_limit = '256MB'",
    "SET threads = 2",
    "SET enable_external_access = false",  # no read_csv('/etc/...'), ATTACH, COPY, httpfs
    "SET lock_configuration = true",  # and the query cannot undo the three above
)
FORMATS = ("table", "csv", "json")
_CELL_WIDTH = 60  # table format only: csv and json print values whole


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows than max_rows existed


def check_statement(sql: str) -> str:
    """The one read-only statement of `sql`, or ValueError saying why not."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ValueError(f"not valid SQL: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise ValueError(f"one statement at a time, not {len(statements)}")
    kind = statements[0].type
    if kind not in ALLOWED:
        raise ValueError(
            f"only queries run here (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN), not "
            f"{kind.name}; to delete old rows use `db prune`"
        )
    return sql.strip().rstrip(";")


def run_query(
    path: Path, sql: str, *, max_rows: int, timeout_s: float = 30.0, lock_timeout_s: float = 10.0
) -> QueryResult:
    """Run one read-only query; StoreError for the file, ValueError for the statement."""
    statement = check_statement(sql)
    with lifecycle.open_ours(path, timeout_s=lock_timeout_s) as (conn, _version):
        for setting in SESSION_SETTINGS:
            conn.execute(setting)
        # A query that outlives its budget is interrupted, so the file is released for the
        # sidecar's next write instead of held for as long as the query would run.
        timer = threading.Timer(timeout_s, conn.interrupt)
        timer.start()
        try:
            cursor = conn.execute(statement)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchmany(max_rows + 1)
        except duckdb.InterruptException:
            raise StoreError(f"the query ran longer than {timeout_s:g}s and was stopped") from None
        except duckdb.Error as exc:
            raise ValueError(_first_line(exc)) from None
        finally:
            timer.cancel()
    return QueryResult(columns, [tuple(r) for r in rows[:max_rows]], len(rows) > max_rows)


def render(result: QueryResult, fmt: str) -> str:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_plain(v) for v in row] for row in result.rows])
        return out.getvalue().rstrip("\n")
    if fmt == "json":
        objects = [dict(zip(result.columns, (_plain(v) for v in row), strict=True))
                   for row in result.rows]
        return json.dumps(objects, indent=2, ensure_ascii=False)
    return _table(result.columns, result.rows)


def _table(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    """A JSON/CSV-ready value: times as ISO-8601 (UTC, as stored), decimals as numbers."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    plain = _plain(value)
    text = plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False)
    text = " ".join(text.split())  # one row, one line
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "…"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
