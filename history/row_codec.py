"""Records to rows, and the bulk insert that writes thousands of them in one statement.

DuckDB's executemany runs one INSERT per row (about 1 ms each). Instead each record is encoded
as one line of JSON when it is queued (so a record that cannot be stored fails at once, never
inside a flush), and a flush writes the lines to a scratch file beside the database, which
`read_json` parses with an explicit type for every column in one INSERT ... SELECT.
benchmarks/store_write.py measured this against executemany, multi-row VALUES and one JSON array
parameter through `from_json`; it was the fastest by a factor of 3 or more.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from history.records import FailureRecord, RunRecord


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[tuple[str, str], ...]  # (column, DuckDB type) in table order
    nullable: frozenset[str]  # every other column is NOT NULL in the schema

    @property
    def insert_sql(self) -> str:
        """INSERT from the newline-delimited JSON file $path; ids already present are skipped."""
        names = ", ".join(f'"{name}"' for name, _ in self.columns)
        types = ", ".join(f"'{name}': '{sql_type}'" for name, sql_type in self.columns)
        return (
            f"INSERT INTO {self.name} ({names}) SELECT {names} FROM read_json($path, "
            f"format = 'newline_delimited', columns = {{{types}}}, "
            f"maximum_object_size = $max_size) ON CONFLICT DO NOTHING"
        )


FAILURE_EVENTS = Table(
    "failure_events",
    "episode_id",
    (
        ("episode_id", "VARCHAR"),
        ("timestamp", "TIMESTAMPTZ"),
        ("workload_id", "VARCHAR"),
        ("workload_name", "VARCHAR"),
        ("project", "VARCHAR"),
        ("department", "VARCHAR"),
        ("workload_type", "VARCHAR"),
        ("kind", "VARCHAR"),
        ("category", "VARCHAR"),
        ("confidence", "DOUBLE"),
        ("summary", "VARCHAR"),
        ("evidence", "VARCHAR"),
        ("evidence_source", "VARCHAR"),
        ("recommendation", "VARCHAR"),
        ("node", "VARCHAR"),
        ("pod", "VARCHAR"),
        ("image", "VARCHAR"),
        ("gpus_requested", "DOUBLE"),
        ("exit_code", "INTEGER"),
        ("details", "JSON"),
        ("logs_available", "BOOLEAN"),
        ("bundle", "JSON"),
        ("cluster_id", "VARCHAR"),
        ("recorded_at", "TIMESTAMPTZ"),
    ),
    frozenset(
        (
            "department",
            "node",
            "pod",
            "image",
            "gpus_requested",
            "exit_code",
            "details",
            "bundle",
            "cluster_id",
        )
    ),
)

WORKLOAD_RUNS = Table(
    "workload_runs",
    "run_id",
    (
        ("run_id", "VARCHAR"),
        ("workload_id", "VARCHAR"),
        ("workload_name", "VARCHAR"),
        ("project", "VARCHAR"),
        ("department", "VARCHAR"),
        ("workload_type", "VARCHAR"),
        ("phase", "VARCHAR"),
        ("finished_at", "TIMESTAMPTZ"),
        ("created_at", "TIMESTAMPTZ"),
        ("node", "VARCHAR"),
        ("image", "VARCHAR"),
        ("gpus_requested", "DOUBLE"),
        ("recorded_at", "TIMESTAMPTZ"),
    ),
    frozenset(("department", "created_at", "node", "image", "gpus_requested")),
)


def episode_id(workload_id: str, timestamp: datetime) -> str:
    return f"{workload_id}@{_utc(timestamp, 'timestamp').isoformat()}"


def run_id(workload_id: str, finished_at: datetime) -> str:
    return f"{workload_id}@{_utc(finished_at, 'finished_at').isoformat()}"


def encode_failure(record: FailureRecord, recorded_at: datetime) -> str:
    """One failure_events row as JSON; ValueError names the record when it cannot be stored."""
    expected = episode_id(record.workload_id, record.timestamp)
    if record.episode_id != expected:
        raise ValueError(f"episode_id {record.episode_id!r} should be {expected!r}")
    row = {
        "episode_id": record.episode_id,
        "timestamp": _utc(record.timestamp, "timestamp").isoformat(),
        "workload_id": record.workload_id,
        "workload_name": record.workload_name,
        "project": record.project,
        "department": record.department,
        "workload_type": record.workload_type,
        "kind": record.kind,
        "category": record.category,
        "confidence": record.confidence,
        "summary": record.summary,
        "evidence": record.evidence,
        "evidence_source": record.evidence_source,
        "recommendation": record.recommendation,
        "node": record.node,
        "pod": record.pod,
        "image": record.image,
        "gpus_requested": record.gpus_requested,
        "exit_code": record.exit_code,
        "details": _plain(record.details),
        "logs_available": record.logs_available,
        "bundle": _plain(record.bundle),
        "cluster_id": record.cluster_id,
        "recorded_at": recorded_at.isoformat(),
    }
    return _dumps(FAILURE_EVENTS, row, record.episode_id)


def encode_run(record: RunRecord, recorded_at: datetime) -> str:
    expected = run_id(record.workload_id, record.finished_at)
    if record.run_id != expected:
        raise ValueError(f"run_id {record.run_id!r} should be {expected!r}")
    created = None if record.created_at is None else _utc(record.created_at, "created_at")
    row = {
        "run_id": record.run_id,
        "workload_id": record.workload_id,
        "workload_name": record.workload_name,
        "project": record.project,
        "department": record.department,
        "workload_type": record.workload_type,
        "phase": record.phase,
        "finished_at": _utc(record.finished_at, "finished_at").isoformat(),
        "created_at": None if created is None else created.isoformat(),
        "node": record.node,
        "image": record.image,
        "gpus_requested": record.gpus_requested,
        "recorded_at": recorded_at.isoformat(),
    }
    return _dumps(WORKLOAD_RUNS, row, record.run_id)


SCRATCH_SUFFIX = ".ingest.ndjson"
_MIN_OBJECT_SIZE = 16 * 1024 * 1024  # read_json's default limit for one line
# One INSERT reads at most this much JSON: DuckDB's working memory for one statement grows
# with its input (some 12 MiB a MiB of log tails, measured) and cannot be spilled, so a flush
# goes in statements of bounded size within its one transaction, and fits the writer's memory
# cap (history.store) whatever its size.
STATEMENT_BYTES = 1024 * 1024


def scratch_files(database: Path) -> list[Path]:
    """Scratch files of `database` left behind by a writer that was killed mid-flush."""
    return sorted(database.parent.glob(f".{database.name}.*{SCRATCH_SUFFIX}"))


def statements(rows: Sequence[str], limit: int | None = None) -> Iterator[Sequence[str]]:
    """`rows` in consecutive runs of at most `limit` (default STATEMENT_BYTES) characters (a
    longer row goes alone)."""
    limit = STATEMENT_BYTES if limit is None else limit
    start, size = 0, 0
    for end, row in enumerate(rows):
        if size and size + len(row) > limit:
            yield rows[start:end]
            start, size = end, 0
        size += len(row) + 1
    if start < len(rows):
        yield rows[start:]


def insert(
    conn: duckdb.DuckDBPyConnection, table: Table, rows: Sequence[str], *, database: Path
) -> int:
    """Insert encoded rows, skipping ids already present; return how many were new. Within
    the caller's transaction, in statements of at most STATEMENT_BYTES of JSON each."""
    return sum(_insert_one(conn, table, part, database) for part in statements(rows))


def _insert_one(
    conn: duckdb.DuckDBPyConnection, table: Table, rows: Sequence[str], database: Path
) -> int:
    """One INSERT of `rows`, through a scratch file beside `database` (a folder the writer can
    write by construction, unlike /tmp on a read-only root file system), removed before
    returning."""
    # Created, then written and read inside the try: a full disk fails the write (or the
    # flush at close), and the half-written file must go with it, or each failed flush leaves
    # one more file that eats the space freed for the next.
    handle, scratch = tempfile.mkstemp(
        dir=database.parent, prefix=f".{database.name}.{table.name}.", suffix=SCRATCH_SUFFIX
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write("\n".join(rows))
        # A line may be a record with a large log tail: size the limit to the longest line.
        max_size = max(_MIN_OBJECT_SIZE, 4 * max(map(len, rows)) + 1024)
        result = conn.execute(
            table.insert_sql, {"path": scratch, "max_size": max_size}
        ).fetchone()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
    return int(result[0]) if result else 0


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone; expected UTC")
    return value.astimezone(UTC)


def _plain(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else dict(value)


def _dumps(table: Table, row: dict[str, Any], ident: str) -> str:
    _check(table, row, ident)
    try:
        text = json.dumps(row, ensure_ascii=False, allow_nan=False, default=str)
    except ValueError as exc:
        raise ValueError(f"{ident}: cannot store a NaN or infinite number ({exc})") from exc
    # A lone UTF-16 surrogate (seen in mangled log tails) is not valid UTF-8: DuckDB would reject
    # the whole batch. Replace it so one bad log line cannot block every later write.
    return text.encode("utf-8", "replace").decode("utf-8")


_INT32 = range(-(2**31), 2**31)
_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "VARCHAR": lambda v: isinstance(v, str),
    "TIMESTAMPTZ": lambda v: isinstance(v, str),  # already checked and converted to UTC
    "DOUBLE": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "INTEGER": lambda v: isinstance(v, int) and not isinstance(v, bool) and v in _INT32,
    "BOOLEAN": lambda v: isinstance(v, bool),
    "JSON": lambda v: isinstance(v, dict),
}


def _check(table: Table, row: dict[str, Any], ident: str) -> None:
    """A row DuckDB would reject must fail here, at enqueue: inside a flush it would block every
    later write."""
    for name, sql_type in table.columns:
        value = row[name]
        if value is None:
            if name not in table.nullable:
                raise ValueError(f"{ident}: {name} is required")
        elif not _ACCEPTS[sql_type](value):
            raise ValueError(f"{ident}: {name}={value!r} is not a valid {sql_type}")
