"""Refusing what cannot be written: permissions and read-only volumes, in real processes.

Root ignores file modes, so when the tests run as root the child process drops the
capabilities that let it (setpriv); a read-only volume is a read-only bind mount inside a
private mount namespace (unshare), which disappears with the child.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from common.errors import StoreCorrupt, StoreError, StorePermissionError
from history import connection, lifecycle
from history.lifecycle import store_error
from history.schema import SCHEMA_VERSION
from history.store import HistoryStore
from tests.fixtures_store import unprivileged

REPO = Path(__file__).resolve().parent.parent

OPEN_STORE = """
import sys
from common.errors import StoreError
from history.store import HistoryStore
try:
    HistoryStore(sys.argv[1], lock_timeout_s=1).open()
except StoreError as exc:
    print(type(exc).__name__, exc)
else:
    print("opened")
"""


def open_in_child(path: Path, prefix: list[str] | None = None) -> str:
    command = [sys.executable, "-c", OPEN_STORE, str(path)]
    command = [*prefix, *command] if prefix else unprivileged(command)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_folder_it_cannot_write_is_a_permission_error(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        path = folder / "history.db"
        assert open_in_child(path) == f"StorePermissionError Permission denied: {path}"
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_a_folder_it_cannot_search_is_a_permission_error(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    (folder / "inner").mkdir(parents=True)
    folder.chmod(0o000)
    try:
        path = folder / "inner" / "history.db"
        assert open_in_child(path) == f"StorePermissionError Permission denied: {path}"
    finally:
        folder.chmod(0o755)


def test_a_file_it_cannot_write_is_a_permission_error(history_db: Path) -> None:
    history_db.chmod(0o444)
    before = history_db.read_bytes()
    assert open_in_child(history_db) == f"StorePermissionError Permission denied: {history_db}"
    assert history_db.read_bytes() == before


def test_a_writable_file_opens_in_the_same_child(history_db: Path) -> None:
    assert open_in_child(history_db) == "opened"  # the harness itself does not cause the errors


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare"
)
def test_a_read_only_volume_is_refused(history_db: Path) -> None:
    folder = history_db.parent
    mount = f'mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && exec "$@"'
    prefix = ["unshare", "--mount", "sh", "-c", mount, "sh"]
    before = history_db.read_bytes()
    out = open_in_child(history_db, prefix)
    assert out == f"StorePermissionError Read-only file system: {history_db}"
    assert history_db.read_bytes() == before


def test_open_leaves_no_staging_files_behind(history_path: Path) -> None:
    HistoryStore(history_path).open()
    HistoryStore(history_path).open()
    assert [p.name for p in history_path.parent.iterdir()] == [history_path.name]


def test_leftovers_of_a_killed_start_with_the_same_pid_do_not_block(history_path: Path) -> None:
    pid = os.getpid()  # in a container the sidecar is PID 1 on every start
    probe = history_path.with_name(f".{history_path.name}.probe-{pid}")
    staging = history_path.with_name(f".{history_path.name}.creating-{pid}")
    probe.write_bytes(b"")
    staging.write_bytes(b"half a database")
    HistoryStore(history_path).open()
    assert [p.name for p in history_path.parent.iterdir()] == [history_path.name]


@pytest.mark.parametrize(
    ("raised", "kind", "message"),
    [
        (
            PermissionError(13, "Permission denied"),
            StorePermissionError,
            "Permission denied: /d/h.db",
        ),
        (OSError("IO Error: Read-only file system"), StorePermissionError, "Read-only file system"),
        (OSError("IO Error: No space left on device"), StoreError, "No space left on device"),
        (OSError("IO Error: block checksum mismatch"), StoreCorrupt, "Not a readable DuckDB file"),
        (OSError("Something new\nwith detail"), StoreError, "/d/h.db: Something new"),
        (
            duckdb.ConversionException("Conversion Error: log says 'corrupt', permission denied"),
            StoreError,
            "/d/h.db: Conversion Error: log says",
        ),
    ],
)
def test_store_error_is_one_clear_line(
    raised: Exception, kind: type[StoreError], message: str
) -> None:
    error = store_error("/d/h.db", raised)
    assert type(error) is kind
    assert message in str(error) and "\n" not in str(error)


def test_processes_racing_to_create_the_file_all_open_one_history(history_path: Path) -> None:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_STORE, str(history_path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [child.communicate(timeout=60) for child in children]
    assert [out.strip() for out, _ in outputs] == ["opened"] * 3, outputs
    conn = connection.connect(history_path, read_only=True)
    try:
        versions = conn.execute("SELECT version FROM schema_info ORDER BY version").fetchall()
    finally:
        conn.close()
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]  # migrated exactly once
    assert [p.name for p in history_path.parent.iterdir()] == [history_path.name]


def test_creation_falls_back_to_rename_where_hard_links_are_refused(
    history_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(source: object, target: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # as on volumes without hard links

    monkeypatch.setattr(lifecycle.os, "link", refuse)
    HistoryStore(history_path).open()
    assert lifecycle.read_version(history_path, timeout_s=5) == SCHEMA_VERSION
    assert [p.name for p in history_path.parent.iterdir()] == [history_path.name]
