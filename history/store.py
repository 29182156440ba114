"""The sidecar's writer side of the shared DuckDB history file.

DuckDB lets one process write a file and no other process open it meanwhile, so the store holds
the file only while it writes a cycle and closes it at once; the agent and people read it
between writes. Records are queued in memory and written in one transaction per flush; what a
flush cannot write (the file locked past the retry budget, an I/O error) stays queued for the
next one. Every write is idempotent on the record's id.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from common.errors import StoreError
from history import connection, lifecycle, row_codec
from history.admin import backup, read_stats
from history.records import FailureRecord, RunRecord
from history.schema import SCHEMA_VERSION

__all__ = ["FlushResult", "HistoryStore", "PruneResult", "backup", "read_stats"]

log = logging.getLogger(__name__)

PRUNE_TASK = "retention"
PRUNE_INTERVAL = timedelta(days=1)
# Readers share the file and DuckDB's lock is not fair: a writer that retries seldom can miss
# every gap between busy readers. A failed lock attempt is cheap, so the writer retries often.
WRITER_MAX_BACKOFF_S = 0.05
# The writer shares the sidecar's memory with a first start's evidence: one DuckDB thread (its
# per-thread buffers), and a flush caps DuckDB's memory. Without the cap, a flush into a 50,000-
# workload tenant's file took 170-250 MiB beyond the sidecar's own. DuckDB cannot spill one
# INSERT ... ON CONFLICT, so row_codec inserts a flush in statements of bounded size, which
# fit the cap whatever the flush's size (100,000 runs: tests/test_store.py). A record larger
# than the cap can take (megabytes of log tail) gets the flush retried once without it.
# Migrations and retention's deletes, measured on nothing as large, run uncapped.
WRITER_SETTINGS = "SET threads = 1"
FLUSH_MEMORY_LIMIT = "64MB"


@dataclass(frozen=True)
class FlushResult:
    failures_written: int
    runs_written: int
    duplicates: int  # queued records whose id was already in the file (or queued twice)
    pending: int  # records still queued after this flush
    error: str | None  # why nothing was written, when nothing could be


@dataclass(frozen=True)
class PruneResult:
    cutoff: datetime  # rows strictly older than this were deleted
    failures_deleted: int
    runs_deleted: int


class HistoryStore:
    """The sidecar's writer side of the shared DuckDB file. Holds the file only while writing."""

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._failures: dict[str, str] = {}  # episode_id -> encoded row, in arrival order
        self._runs: dict[str, str] = {}  # run_id -> encoded row
        self._queued_twice = 0
        self._last_prune_at: datetime | None = None

    def open(self) -> None:
        """Start-up check: create the file with the schema, or migrate it forward, or refuse it.

        Raises StorePermissionError("Permission denied: <path>"), StoreCorrupt, StoreForeign,
        StoreLocked (common.errors). Closes the file before returning.
        """
        try:
            self._open()
        except OSError as exc:  # e.g. a parent folder that cannot be searched
            raise lifecycle.store_error(self.path, exc) from exc

    def _open(self) -> None:
        lifecycle.check_directory(self.path)
        if not self.path.exists():
            lifecycle.check_no_orphan_wal(self.path)
            lifecycle.create(self.path, timeout_s=self.lock_timeout_s)
            log.info("created history file %s (schema version %d)", self.path, SCHEMA_VERSION)
        lifecycle.check_file_writable(self.path)
        version = lifecycle.read_version(self.path, timeout_s=self.lock_timeout_s)
        lifecycle.check_known_version(self.path, version)
        with self._connect(read_only=False) as conn:
            try:
                current = lifecycle.version_of(conn, self.path)
                if current < SCHEMA_VERSION:
                    lifecycle.migrate(conn, self.path, current)
                    log.info("migrated %s from schema %d to %d", self.path, current, SCHEMA_VERSION)
                self._last_prune_at = _last_run(conn, PRUNE_TASK)
            except duckdb.Error as exc:
                raise lifecycle.store_error(self.path, exc) from exc
        for leftover in row_codec.scratch_files(self.path):  # from a writer killed mid-flush
            leftover.unlink(missing_ok=True)

    def known_episode_ids(self) -> set[str]:
        """Every failure_events.episode_id in the file."""
        return self._ids("SELECT episode_id FROM failure_events")

    def known_run_ids(self) -> set[str]:
        """Every workload_runs.run_id in the file."""
        return self._ids("SELECT run_id FROM workload_runs")

    def known_episodes(self) -> dict[str, str]:
        """episode_id -> kind of every failure_events row: an episode is matched by workload,
        kind and phase entry within a tolerance (history.identity), not by its id alone."""
        return self._pairs("SELECT episode_id, kind FROM failure_events")

    def known_runs(self) -> dict[str, str]:
        """run_id -> phase of every workload_runs row."""
        return self._pairs("SELECT run_id, phase FROM workload_runs")

    def enqueue(
        self, failures: Iterable[FailureRecord] = (), runs: Iterable[RunRecord] = ()
    ) -> None:
        """Queue records for the next flush. ValueError (naming the record) for a record that
        cannot be stored, such as a naive timestamp; then nothing of this call is queued."""
        now = datetime.now(UTC)
        new_failures = [(f.episode_id, row_codec.encode_failure(f, now)) for f in failures]
        new_runs = [(r.run_id, row_codec.encode_run(r, now)) for r in runs]
        for queue, rows in ((self._failures, new_failures), (self._runs, new_runs)):
            for ident, row in rows:
                if ident in queue:
                    self._queued_twice += 1
                    continue
                queue[ident] = row

    @property
    def pending(self) -> int:
        """Records still queued."""
        return len(self._failures) + len(self._runs)

    def flush(self) -> FlushResult:
        """Write everything queued in one transaction (idempotent: an id already in the file is
        skipped), then close the file. A lock conflict past the retry budget, or an I/O error,
        keeps everything queued for the next flush and is reported in the result; never raises
        for those."""
        if not self.pending:
            return FlushResult(0, 0, self._take_queued_twice(), 0, None)
        if not self.path.exists():
            return self._kept(f"History file is missing, records kept queued: {self.path}")
        failures = list(self._failures.values())
        runs = list(self._runs.values())
        try:
            try:
                failures_written, runs_written = self._write(failures, runs, capped=True)
            except duckdb.OutOfMemoryException as exc:
                log.warning("history write too large for the writer's %s memory cap (%s); "
                            "retried without it", FLUSH_MEMORY_LIMIT, str(exc).splitlines()[0])
                failures_written, runs_written = self._write(failures, runs, capped=False)
        except (StoreError, duckdb.Error, OSError) as exc:
            return self._kept(str(lifecycle.store_error(self.path, exc)))
        self._failures.clear()
        self._runs.clear()
        duplicates = len(failures) + len(runs) - failures_written - runs_written
        return FlushResult(
            failures_written, runs_written, duplicates + self._take_queued_twice(), 0, None
        )

    def _write(self, failures: list[str], runs: list[str], *, capped: bool) -> tuple[int, int]:
        """Insert encoded rows in one transaction: (failures, runs) new to the file."""
        with self._connect(read_only=False) as conn:
            if capped:
                conn.execute(f"SET memory_limit = '{FLUSH_MEMORY_LIMIT}'")
            conn.begin()
            try:
                written = (
                    row_codec.insert(conn, row_codec.FAILURE_EVENTS, failures, database=self.path),
                    row_codec.insert(conn, row_codec.WORKLOAD_RUNS, runs, database=self.path),
                )
                conn.commit()
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    conn.rollback()
                raise
        return written

    def prune(self, older_than: datetime, *, ran_at: datetime | None = None) -> PruneResult:
        """Delete failure_events by timestamp and workload_runs by finished_at older than a UTC
        instant, and record when (`ran_at`, default now). Raises StoreLocked / StoreError (the
        caller retries later)."""
        cutoff = _require_utc(older_than, "older_than")
        now = datetime.now(UTC) if ran_at is None else _require_utc(ran_at, "ran_at")
        with self._connect(read_only=False) as conn:
            try:
                conn.begin()
                failures = _count(
                    conn.execute('DELETE FROM failure_events WHERE "timestamp" < ?', [cutoff])
                )
                runs = _count(
                    conn.execute("DELETE FROM workload_runs WHERE finished_at < ?", [cutoff])
                )
                conn.execute(
                    "INSERT INTO maintenance VALUES (?, ?) "
                    "ON CONFLICT (task) DO UPDATE SET last_run_at = excluded.last_run_at",
                    [PRUNE_TASK, now],
                )
                conn.commit()
            except duckdb.Error as exc:
                with contextlib.suppress(duckdb.Error):
                    conn.rollback()
                raise lifecycle.store_error(self.path, exc) from exc
        self._last_prune_at = now
        if failures or runs:
            log.info(
                "retention: deleted %d failures and %d runs older than %s",
                failures,
                runs,
                cutoff.isoformat(),
            )
        return PruneResult(cutoff, failures, runs)

    def prune_if_due(self, now: datetime, retention_days: int) -> PruneResult | None:
        """Prune rows older than `retention_days` at most once a day (the last run is kept in the
        file, so restarts do not repeat it). None when not due; retention_days 0 keeps all."""
        if retention_days < 0:
            raise ValueError(f"retention_days must be 0 (keep all) or more, not {retention_days}")
        now = _require_utc(now, "now")
        if retention_days == 0:
            return None
        if self._last_prune_at is not None and now - self._last_prune_at < PRUNE_INTERVAL:
            return None
        return self.prune(now - timedelta(days=retention_days), ran_at=now)

    @contextlib.contextmanager
    def _connect(self, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            conn = connection.connect(
                self.path,
                read_only=read_only,
                timeout_s=self.lock_timeout_s,
                max_backoff_s=WRITER_MAX_BACKOFF_S,
            )
        except duckdb.Error as exc:
            raise lifecycle.store_error(self.path, exc) from exc
        try:
            if not read_only:
                conn.execute(WRITER_SETTINGS)
            yield conn
        finally:
            conn.close()

    def _ids(self, sql: str) -> set[str]:
        with self._connect(read_only=True) as conn:
            try:
                return {row[0] for row in conn.execute(sql).fetchall()}
            except duckdb.Error as exc:
                raise lifecycle.store_error(self.path, exc) from exc

    def _pairs(self, sql: str) -> dict[str, str]:
        with self._connect(read_only=True) as conn:
            try:
                return {str(a): str(b) for a, b in conn.execute(sql).fetchall()}
            except duckdb.Error as exc:
                raise lifecycle.store_error(self.path, exc) from exc

    def _kept(self, error: str) -> FlushResult:
        # The caller logs and counts the result once; this is for debugging the store itself.
        log.debug("history write postponed: %s (%d records queued)", error, self.pending)
        return FlushResult(0, 0, 0, self.pending, error)

    def _take_queued_twice(self) -> int:
        count, self._queued_twice = self._queued_twice, 0
        return count


def _last_run(conn: duckdb.DuckDBPyConnection, task: str) -> datetime | None:
    row = conn.execute("SELECT last_run_at FROM maintenance WHERE task = ?", [task]).fetchone()
    return None if row is None else _require_utc(row[0], "last_run_at")


def _count(cursor: duckdb.DuckDBPyConnection) -> int:
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def _require_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone; expected UTC")
    return value.astimezone(UTC)
