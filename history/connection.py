"""Opening the shared DuckDB file, as one of several processes.

DuckDB lets one process write a file and no other process open it meanwhile, even read-only.
So every opener (the sidecar writing a cycle, the agent reading, a person's `duckdb`) holds the
file briefly and retries a lock conflict with bounded, jittered backoff.
"""

from __future__ import annotations

import os
import random
import time

import duckdb

from common.errors import StoreLocked

_LOCK_MARKERS = ("could not set lock", "conflicting lock")

# DuckDB would otherwise try to download extensions from the internet, for instance when the
# path holds a SQLite file. Bundled extensions (json, icu) need no download.
_CONFIG: dict[str, str | bool | int | float | list[str]] = {"autoinstall_known_extensions": False}


def is_lock_conflict(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _LOCK_MARKERS)


def connect(
    path: str | os.PathLike[str],
    *,
    read_only: bool,
    timeout_s: float = 10.0,
    initial_backoff_s: float = 0.02,
    max_backoff_s: float = 0.5,
) -> duckdb.DuckDBPyConnection:
    """Connect, retrying while another process holds the lock; StoreLocked after timeout_s.

    Other errors (corrupt file, permission) propagate at once: retrying cannot fix them.
    The session time zone is UTC, so TIMESTAMPTZ values come back as UTC datetimes.
    """
    deadline = time.monotonic() + timeout_s
    backoff = initial_backoff_s
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=read_only, config=_CONFIG)
        except duckdb.IOException as exc:
            if not is_lock_conflict(exc):
                raise
            if time.monotonic() + backoff > deadline:
                raise StoreLocked(
                    f"database {path} stayed locked by another process for {timeout_s:g}s"
                ) from exc
            time.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, max_backoff_s)
            continue
        return _in_utc(conn)


def _in_utc(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """TIMESTAMPTZ values come back as UTC datetimes, whatever the host's local time zone."""
    try:
        conn.execute("SET TimeZone = 'UTC'")
    except BaseException:
        conn.close()
        raise
    return conn
