"""Opening the shared DuckDB file, as one of several processes.

DuckDB lets one process write a file and no other process open it meanwhile, even read-only.
So every opener (the sidecar writing a cycle, the agent reading, a person's `duckdb`) holds the
file briefly and retries a lock conflict with bounded, jittered backoff.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

import duckdb

from common.errors import StoreLocked

T = TypeVar("T")
_LOCK_MARKERS = ("could not set lock", "conflicting lock")

# DuckDB would otherwise try to download extensions from the internet, for instance when the
# path holds a SQLite file. Bundled extensions (json, icu) need no download.
CONFIG: dict[str, str | bool | int | float | list[str]] = {"autoinstall_known_extensions": False}


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
    conn = retry_locked(
        lambda: duckdb.connect(str(path), read_only=read_only, config=CONFIG),
        path,
        timeout_s=timeout_s,
        initial_backoff_s=initial_backoff_s,
        max_backoff_s=max_backoff_s,
    )
    return _in_utc(conn)


def retry_locked(
    open_once: Callable[[], T],
    path: str | os.PathLike[str],
    *,
    timeout_s: float = 10.0,
    initial_backoff_s: float = 0.02,
    max_backoff_s: float = 0.5,
) -> T:
    """Run open_once (a connect, an ATTACH) until no other process holds the file's lock."""
    deadline = time.monotonic() + timeout_s
    backoff = initial_backoff_s
    while True:
        try:
            return open_once()
        except duckdb.Error as exc:
            if not is_lock_conflict(exc):
                raise
            if time.monotonic() + backoff > deadline:
                raise StoreLocked(
                    f"database {path} stayed locked by another process for {timeout_s:g}s"
                ) from exc
            time.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, max_backoff_s)


def _in_utc(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """TIMESTAMPTZ values come back as UTC datetimes, whatever the host's local time zone."""
    try:
        conn.execute("SET TimeZone = 'UTC'")
    except BaseException:
        conn.close()
        raise
    return conn
