"""Operator views of the history file: statistics and a consistent backup copy.

Both open the file read-only, so they wait for (and briefly delay) the sidecar's write rather
than race it, and neither can change the file they look at.
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from common.errors import StoreError
from history import connection, lifecycle

_TABLE_TIMES = (("failure_events", '"timestamp"'), ("workload_runs", "finished_at"))


def read_stats(path: str | os.PathLike[str], *, timeout_s: float = 10.0) -> dict[str, Any]:
    """For `db stats`: schema version, row counts, time range, categories, size (JSON-ready)."""
    file = Path(path)
    with lifecycle.open_ours(file, timeout_s=timeout_s) as (conn, version):
        tables: dict[str, Any] = {}
        for table, column in _TABLE_TIMES:
            rows, first, last = _one(
                conn, f"SELECT count(*), min({column}), max({column}) FROM {table}"
            )
            tables[table] = {"rows": rows, "first": _iso(first), "last": _iso(last)}
        stats: dict[str, Any] = {
            "path": str(file),
            "schema_version": version,
            "size_bytes": file.stat().st_size,
            "wal_bytes": _size(file.with_name(file.name + ".wal")),
            "tables": tables,
            "categories": _counts(conn, "category"),
            "kinds": _counts(conn, "kind"),
            "last_prune_at": _last_prune(conn),
        }
    return stats


def backup(
    path: str | os.PathLike[str], dest: str | os.PathLike[str], *, timeout_s: float = 10.0
) -> None:
    """A consistent copy of the history file at `dest`, never replacing an existing file.

    The copy is made through DuckDB while holding the file read-only (so no writer is midway
    through a transaction) and includes what is still in the write-ahead log; it is built under a
    temporary name and linked into place only when complete.
    """
    source, target = Path(path), Path(dest)
    if target.exists():
        raise StoreError(f"Backup destination exists, not overwritten: {target}")
    lifecycle.check_directory(target)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _remove_staging(staging)  # left by a killed backup with the same process id
    try:
        with lifecycle.open_ours(source, timeout_s=timeout_s) as (conn, _):
            expected = _row_counts(conn)
            try:
                _copy_into(conn, staging)
            except duckdb.Error as exc:
                raise lifecycle.store_error(target, exc) from exc
        _verify_copy(staging, target, expected, timeout_s)
        if not lifecycle.link_no_replace(staging, target):
            raise StoreError(f"Backup destination exists, not overwritten: {target}")
    except OSError as exc:
        raise lifecycle.store_error(target, exc) from exc
    finally:
        _remove_staging(staging)


def _remove_staging(staging: Path) -> None:
    for leftover in (staging, staging.with_name(staging.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


def _copy_into(conn: duckdb.DuckDBPyConnection, staging: Path) -> None:
    name = _one(conn, "SELECT current_database()")[0]
    conn.execute(f"ATTACH '{_quote(staging)}' AS backup_target (READ_WRITE)")
    try:
        conn.execute(f'COPY FROM DATABASE "{name}" TO backup_target')
    finally:
        conn.execute("DETACH backup_target")


def _verify_copy(copy: Path, target: Path, expected: list[int], timeout_s: float) -> None:
    """The copy is ours and holds as many rows as the source did while it was copied."""
    try:
        copy_conn = connection.connect(copy, read_only=True, timeout_s=timeout_s)
        try:
            lifecycle.version_of(copy_conn, target)
            got = _row_counts(copy_conn)
        finally:
            copy_conn.close()
    except duckdb.Error as exc:
        raise lifecycle.store_error(target, exc) from exc
    if got != expected:
        raise StoreError(f"Backup copy is incomplete ({got} rows, expected {expected}): {copy}")


def _row_counts(conn: duckdb.DuckDBPyConnection) -> list[int]:
    return [int(_one(conn, f"SELECT count(*) FROM {table}")[0]) for table, _ in _TABLE_TIMES]


def _one(conn: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    row = conn.execute(sql).fetchone()
    assert row is not None  # an aggregate always returns a row
    return tuple(row)


def _counts(conn: duckdb.DuckDBPyConnection, column: str) -> dict[str, int]:
    rows = conn.execute(
        f"SELECT {column}, count(*) FROM failure_events GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    return {str(key): int(count) for key, count in rows}


def _last_prune(conn: duckdb.DuckDBPyConnection) -> str | None:
    has_table = _one(
        conn, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'maintenance'"
    )[0]
    if not has_table:  # a schema 1 file, not migrated yet
        return None
    row = conn.execute("SELECT max(last_run_at) FROM maintenance").fetchone()
    return _iso(row[0] if row else None)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


BACKUP_PREFIX = "runai_failure_history-"


def backup_into(
    path: str | os.PathLike[str], folder: str | os.PathLike[str], *, keep: int | None,
    timeout_s: float = 10.0, now: datetime | None = None,
) -> tuple[Path, list[Path]]:
    """A backup named by the UTC time in `folder`, then (with `keep`) the older ones beyond the
    `keep` newest deleted. The names sort by time, so "newest" is the last by name."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    target = Path(folder) / f"{BACKUP_PREFIX}{moment:%Y%m%dT%H%M%SZ}.db"
    backup(path, target, timeout_s=timeout_s)
    removed: list[Path] = []
    if keep is not None:
        ours = sorted(p for p in Path(folder).glob(f"{BACKUP_PREFIX}*.db") if p.is_file())
        for old in ours[:-keep]:
            old.unlink(missing_ok=True)
            removed.append(old)
    return target, removed
