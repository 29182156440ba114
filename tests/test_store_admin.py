"""read_stats and backup against real files, including a crashed writer's WAL and a held lock."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from common.errors import StoreError, StoreLocked
from history import connection
from history.schema import APPLICATION_ID, MIGRATIONS
from history.store import HistoryStore, backup, read_stats
from tests.fixtures_store import COMMIT_THEN_DIE, KNOWN_FAILURES, KNOWN_RUNS

REPO = Path(__file__).resolve().parent.parent

HOLD_WRITE = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def test_backup_includes_rows_still_in_the_write_ahead_log(
    history_path: Path, tmp_path: Path
) -> None:
    HistoryStore(history_path).open()
    subprocess.run([sys.executable, "-c", COMMIT_THEN_DIE, str(history_path)], cwd=REPO, timeout=60)
    assert history_path.with_name(history_path.name + ".wal").exists()
    dest = tmp_path / "backup" / "copy.db"
    dest.parent.mkdir()
    backup(history_path, dest)
    conn = connection.connect(dest, read_only=True)
    try:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM failure_events), (SELECT count(*) FROM workload_runs)"
        ).fetchone()
    finally:
        conn.close()
    assert counts == (len(KNOWN_FAILURES), len(KNOWN_RUNS))
    assert sorted(p.name for p in dest.parent.iterdir()) == ["copy.db"]  # no staging leftovers


def test_backup_waits_for_a_writer_and_then_copies(history_db: Path, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE, str(history_db), "0.6"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        backup(history_db, tmp_path / "copy.db", timeout_s=10)
        assert time.monotonic() - started >= 0.3
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert read_stats(tmp_path / "copy.db")["tables"]["failure_events"]["rows"] == len(
        KNOWN_FAILURES
    )


def test_backup_gives_up_on_a_lock_held_too_long(history_db: Path, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE, str(history_db), "10"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        with pytest.raises(StoreLocked):
            backup(history_db, tmp_path / "copy.db", timeout_s=0.3)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert not (tmp_path / "copy.db").exists()


def test_backup_replaces_its_own_leftover_staging_file(history_db: Path, tmp_path: Path) -> None:
    dest = tmp_path / "copy.db"
    leftover = tmp_path / f".copy.db.partial-{os.getpid()}"
    backup(history_db, tmp_path / "first.db")
    (tmp_path / "first.db").rename(leftover)  # a complete database: COPY into it would clash
    backup(history_db, dest)
    assert read_stats(dest)["tables"]["workload_runs"]["rows"] == len(KNOWN_RUNS)
    assert not leftover.exists()


def test_backup_into_a_missing_folder_is_one_clear_error(history_db: Path, tmp_path: Path) -> None:
    with pytest.raises(
        StoreError, match=f"^Directory does not exist: {re.escape(str(tmp_path / 'nope'))}$"
    ):
        backup(history_db, tmp_path / "nope" / "copy.db")


def test_stats_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"^No such file: "):
        read_stats(tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()


def test_stats_of_a_version_1_file_reads_without_migrating(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = duckdb.connect(str(path))
    conn.execute(MIGRATIONS[0])
    conn.execute("INSERT INTO schema_info VALUES (?, 1, now())", [APPLICATION_ID])
    conn.close()
    stats = read_stats(path)
    assert stats["schema_version"] == 1 and stats["last_prune_at"] is None
    assert stats["tables"]["failure_events"] == {"rows": 0, "first": None, "last": None}
    assert stats["categories"] == {}
