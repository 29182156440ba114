"""The read side of the history file: the read-only connection, filters, names.

The file is opened read-only for one question at a time (the sidecar needs it between its
writes) through history.connection.connect, which retries a lock conflict. Every query of the
agent's tools, the `db` commands and the benchmarks is an aggregate statement DuckDB runs
column-wise; Python only shapes the few rows that come back. A missing or empty file is
NoHistory ("no data"), never an error. `db_path` may also name several histories (a fleet,
history.sources): then the connection is an in-memory view over all of them, tables alike.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import duckdb

from history import sources
from history.connection import connect
from history.fleet import open_fleet

NO_HISTORY = "no failures recorded yet; is the sidecar running?"

NONE_KEY = "(none)"  # the group of rows without a value (no node: never scheduled)
# Group-by keys a caller may ask for -> SQL expression (nullable columns get a visible "(none)").
GROUP_KEYS: dict[str, str] = {
    "category": "category",
    "project": "project",
    "workload_type": "workload_type",
    "node": f"coalesce(node, '{NONE_KEY}')",
    "image": f"coalesce(image, '{NONE_KEY}')",
    "kind": "kind",
    "workload_name": "workload_name",
    "department": f"coalesce(department, '{NONE_KEY}')",
}
RUN_KEYS = {"project", "workload_type", "node", "image", "workload_name", "department"}


class NoHistory(Exception):
    """The file is missing, empty, or has no tables yet: nothing recorded, not an error."""


FilterValue = str | tuple[str, ...]


def _values(value: Any) -> FilterValue | None:
    """One value as a string, several ("X or Y") as a sorted tuple; empty means no filter."""
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted({str(v) for v in value if v not in (None, "")})
        if not items:
            return None
        return items[0] if len(items) == 1 else tuple(items)
    return None if value in (None, "") else str(value)


@dataclass(frozen=True)
class Filters:
    """Exact-match filters; None means "any", a tuple means any of those values ("X or Y").
    Names are data, always bound as parameters. `xid` keeps only rows that carry an Xid;
    `xid_code` only those carrying one of these Xid numbers ("Xid 79")."""

    project: FilterValue | None = None
    workload_type: FilterValue | None = None
    category: FilterValue | None = None
    node: FilterValue | None = None
    image: FilterValue | None = None
    kind: FilterValue | None = None
    workload_name: FilterValue | None = None
    department: FilterValue | None = None
    xid_code: FilterValue | None = None
    xid: bool = False

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Filters:
        values = {f.name: _values(args.get(f.name)) for f in fields(cls) if f.name != "xid"}
        return cls(
            **{k: v for k, v in values.items() if v is not None},
            xid=bool(args.get("xid")),
        )

    def active(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def sql(self, *, runs: bool = False) -> tuple[str, list[Any]]:
        """` AND col = ?` clauses for failure_events (or, with runs, for workload_runs, whose
        rows have no category, kind or details)."""
        clauses: list[str] = []
        params: list[Any] = []
        for f in fields(self):
            name, value = f.name, getattr(self, f.name)
            if not value or (runs and name not in RUN_KEYS):
                continue
            if name == "xid":
                clauses.append(" AND json_extract(details, '$.xid') IS NOT NULL")
            elif name == "xid_code":
                codes = value if isinstance(value, tuple) else (value,)
                marks = ", ".join("?" for _ in codes)
                clauses.append(f" AND json_extract_string(details, '$.xid') IN ({marks})")
                params.extend(codes)
            elif isinstance(value, tuple):
                clauses.append(f" AND {name} IN ({', '.join('?' for _ in value)})")
                params.extend(value)
            else:
                clauses.append(f" AND {name} = ?")
                params.append(value)
        return "".join(clauses), params

    def applies_to_runs(self) -> bool:
        return self.category is None and self.kind is None and not self.xid and not self.xid_code

    def has_rate(self) -> bool:
        """Degraded or pending episodes are not failed runs: no failure rate for them."""
        return self.kind in (None, "failed")


class _Shared:
    """The connection shared by one answer's reads, opened on first use."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.conn: duckdb.DuckDBPyConnection | None = None


# While one answer is composed, its reads share one read-only connection (opened on first use,
# closed at its end), so the open cost is paid once per answer.
_SHARED: ContextVar[_Shared | None] = ContextVar("history_reader_connection", default=None)


def _connect(db_path: str, timeout_s: float) -> duckdb.DuckDBPyConnection:
    if sources.is_fleet(db_path):  # several histories: one view over all (history.fleet)
        return open_fleet(sources.resolve(db_path), timeout_s=timeout_s)
    if not os.path.exists(db_path) or os.path.getsize(db_path) == 0:
        raise NoHistory(f"{NO_HISTORY} (no history file at {db_path})")
    conn = connect(db_path, read_only=True, timeout_s=timeout_s)
    conn.execute("SET TimeZone = 'UTC'")
    return conn


@contextmanager
def open_history(db_path: str, *, timeout_s: float = 5.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection in UTC (the shared one inside one_connection); NoHistory when
    there is nothing to read yet."""
    shared = _SHARED.get()
    if shared is not None and shared.db_path == db_path:
        if shared.conn is None:
            shared.conn = _connect(db_path, timeout_s)
        yield shared.conn
        return
    conn = _connect(db_path, timeout_s)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def one_connection(db_path: str) -> Iterator[None]:
    """Share one read-only connection among the reads inside the block. It is opened by the
    first read of the history (none for a PromQL-only answer) and closed here."""
    shared = _Shared(db_path)
    token = _SHARED.set(shared)
    try:
        yield
    finally:
        _SHARED.reset(token)
        if shared.conn is not None:
            shared.conn.close()


def is_empty(conn: duckdb.DuckDBPyConnection) -> bool:
    row = conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM failure_events)"
        " AND NOT EXISTS (SELECT 1 FROM workload_runs)"
    ).fetchone()
    return bool(row and row[0])


def empty_window_message(conn: duckdb.DuckDBPyConnection, window_label: str, what: str) -> str:
    """Why a window came back empty: nothing recorded at all, or where the data is."""
    if is_empty(conn):
        return NO_HISTORY
    row = conn.execute('SELECT max("timestamp") FROM failure_events').fetchone()
    latest = row[0] if row else None
    hint = f"; the newest recorded failure is from {latest:%Y-%m-%d %H:%M} UTC" if latest else ""
    return f"{what} in {window_label}{hint}"


def iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


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
