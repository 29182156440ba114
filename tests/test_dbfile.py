"""history.connection.connect against a lock held by another real process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from common.errors import StoreLocked
from history import connection

HOLD = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print("holding", flush=True)
time.sleep(float(sys.argv[3]))
conn.close()
"""


@contextmanager
def held(path: Path, mode: str, seconds: float) -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), mode, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        yield child
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "f.db"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE t (seen TIMESTAMPTZ)")
    conn.execute("INSERT INTO t VALUES ('2026-11-20 10:00:00+02:00')")
    conn.close()
    return path


def test_gives_up_with_store_locked_after_the_timeout(db: Path) -> None:
    with held(db, "rw", 10):
        started = time.monotonic()
        with pytest.raises(StoreLocked, match=r"stayed locked by another process for 0\.4s"):
            connection.connect(db, read_only=True, timeout_s=0.4)
        waited = time.monotonic() - started
    assert 0.2 <= waited < 1.5


def test_waits_for_a_writer_to_let_go(db: Path) -> None:
    with held(db, "rw", 0.5):
        started = time.monotonic()
        conn = connection.connect(db, read_only=True, timeout_s=10)
        waited = time.monotonic() - started
        conn.close()
    assert 0.2 <= waited < 5


def test_readers_share_the_file(db: Path) -> None:
    with held(db, "ro", 10):
        started = time.monotonic()
        conn = connection.connect(db, read_only=True, timeout_s=2)
        assert time.monotonic() - started < 1
        conn.close()


def test_a_reader_blocks_a_writer(db: Path) -> None:
    with held(db, "ro", 10), pytest.raises(StoreLocked):
        connection.connect(db, read_only=False, timeout_s=0.3)


def test_timestamps_come_back_in_utc(db: Path) -> None:
    conn = connection.connect(db, read_only=True)
    try:
        row = conn.execute("SELECT seen FROM t").fetchone()
    finally:
        conn.close()
    assert row is not None
    assert row[0].utcoffset() == timedelta(0) and row[0].hour == 8


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    not_db = tmp_path / "text.db"
    not_db.write_text("hello\n" * 1000)
    started = time.monotonic()
    with pytest.raises(duckdb.IOException, match="not a valid DuckDB database"):
        connection.connect(not_db, read_only=True, timeout_s=5)
    assert time.monotonic() - started < 1


def test_a_sqlite_file_triggers_no_extension_download(tmp_path: Path) -> None:
    sqlite_file = tmp_path / "other.db"
    sqlite_file.write_bytes(b"SQLite format 3\x00" + b"\x00" * 4000)
    started = time.monotonic()
    with pytest.raises(duckdb.Error, match=r"(?i)sqlite") as caught:
        connection.connect(sqlite_file, read_only=True, timeout_s=5)
    assert "download" not in str(caught.value).lower()
    assert time.monotonic() - started < 1
