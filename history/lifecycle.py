"""Is the file at a path our history file? Create it, migrate it forward, or refuse it.

A file that is not ours (foreign, corrupt, empty, newer than this code) is never written,
truncated or deleted: the operator decides what to do with it. A new file is built under a
temporary name beside the target and linked into place, so a crash during creation never leaves
a half-made file at the path itself.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from common.errors import (
    StoreCorrupt,
    StoreError,
    StoreForeign,
    StorePermissionError,
)
from history import connection
from history.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

# DuckDB's wording for failures that retrying cannot fix, mapped to our errors.
_PERMISSION_MARKERS = ("permission denied", "read-only file system")
_CORRUPT_MARKERS = ("not a valid duckdb database", "checksum", "corrupt")
_DUCKDB_MAGIC = b"DUCK"  # at byte 8 of every DuckDB database file
_MAGIC_OFFSET = 8


def store_error(path: str | os.PathLike[str], exc: BaseException) -> StoreError:
    """One clear StoreError for a DuckDB or OS failure on the history file."""
    if isinstance(exc, StoreError):
        return exc
    text = str(exc)
    first_line = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
    if isinstance(exc, duckdb.DataError | duckdb.IntegrityError | duckdb.ProgrammingError):
        # Errors about rows or statements may quote row data (a log line saying "corrupt"):
        # only file-level errors are judged by their wording.
        return StoreError(f"{path}: {first_line}")
    lower = text.lower()
    if isinstance(exc, PermissionError) or "permission denied" in lower:
        return StorePermissionError(f"Permission denied: {path}")
    if "read-only file system" in lower:
        return StorePermissionError(f"Read-only file system: {path}")
    if "no space left" in lower:
        return StoreError(f"No space left on device: {path}")
    if any(marker in lower for marker in _CORRUPT_MARKERS):
        return StoreCorrupt(f"Not a readable DuckDB file (left untouched): {path}")
    return StoreError(f"{path}: {first_line}")


def check_directory(path: Path) -> None:
    """The folder must exist and take new files (DuckDB writes a .wal file beside the db)."""
    folder = path.parent
    if not folder.is_dir():
        raise StoreError(f"Directory does not exist: {folder}")
    probe = folder / f".{path.name}.probe-{os.getpid()}"
    try:
        # Not O_EXCL: in a container the sidecar is often PID 1 every time, so a probe left by a
        # killed start must not block the next one.
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise _os_error(path, exc) from exc
    os.close(fd)
    os.unlink(probe)


def check_no_orphan_wal(path: Path) -> None:
    """A log left by a deleted history file would be replayed into a new one (DuckDB refuses)."""
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        raise StoreError(
            f"A write-ahead log without its database file: {wal} (left untouched; move it away "
            f"to start a new history, or restore {path.name} beside it)"
        )


def check_file_writable(path: Path) -> None:
    """Opening for writing (without writing) catches a read-only file or mount."""
    try:
        with open(path, "r+b"):
            pass
    except OSError as exc:
        raise _os_error(path, exc) from exc


def _os_error(path: Path, exc: OSError) -> StoreError:
    if isinstance(exc, PermissionError):
        return StorePermissionError(f"Permission denied: {path}")
    if exc.errno == 30:  # EROFS
        return StorePermissionError(f"Read-only file system: {path}")
    return StoreError(f"{exc.strerror or exc}: {path}")


def read_version(path: Path, *, timeout_s: float) -> int:
    """Schema version of our existing file; StoreForeign / StoreCorrupt if it is not ours.

    Opens read-only, so a foreign file is not touched even by DuckDB's own housekeeping.
    """
    with open_ours(path, timeout_s=timeout_s) as (_, version):
        return version


@contextlib.contextmanager
def open_ours(path: Path, *, timeout_s: float) -> Iterator[tuple[duckdb.DuckDBPyConnection, int]]:
    """A read-only connection to an existing history file of ours, and its schema version.

    DuckDB errors inside the block become StoreErrors; the file is closed on the way out.
    """
    _check_existing(path)
    try:
        conn = connection.connect(path, read_only=True, timeout_s=timeout_s)
    except duckdb.Error as exc:
        raise store_error(path, exc) from exc
    try:
        yield conn, version_of(conn, path)
    except duckdb.Error as exc:
        raise store_error(path, exc) from exc
    finally:
        conn.close()


def _check_existing(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise StoreError(f"No such file: {path}") from None
    except OSError as exc:  # a folder on the way that cannot be searched
        raise _os_error(path, exc) from exc
    if stat.S_ISDIR(info.st_mode):
        raise StoreForeign(f"Is a directory, not a DuckDB file: {path}")
    if info.st_size == 0:
        raise StoreCorrupt(
            f"Empty file (0 bytes), not a DuckDB file (left untouched; remove it to start a new "
            f"history): {path}"
        )
    try:
        with open(path, "rb") as handle:
            header = handle.read(16)
    except OSError as exc:
        raise _os_error(path, exc) from exc
    # Checked before DuckDB sees the file: DuckDB would hand a SQLite file to its sqlite extension.
    if header.startswith(b"SQLite format 3\x00"):
        raise StoreForeign(
            f"A SQLite file, not a failure history (left untouched): {path}; if it is the earlier "
            f"agent's history, move it aside and import it with `runai-failure-exporter db "
            f"import-sqlite FILE` (docs/coming-from-the-guide.md)"
        )
    if header[_MAGIC_OFFSET : _MAGIC_OFFSET + len(_DUCKDB_MAGIC)] != _DUCKDB_MAGIC:
        raise StoreCorrupt(f"Not a DuckDB file (left untouched): {path}")


def version_of(conn: duckdb.DuckDBPyConnection, path: str | os.PathLike[str]) -> int:
    """Schema version recorded in an open file; StoreForeign if it is not ours."""
    found = conn.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_name = 'schema_info' AND table_schema = 'main'"
    ).fetchone()
    if not found or not found[0]:
        raise StoreForeign(f"A DuckDB file that is not a failure history (left untouched): {path}")
    rows = conn.execute(
        "SELECT application_id, max(version) FROM schema_info GROUP BY application_id"
    ).fetchall()
    versions = [int(version) for app, version in rows if app == APPLICATION_ID]
    if len(rows) != 1 or not versions:
        raise StoreForeign(f"A DuckDB file of another application (left untouched): {path}")
    return versions[0]


def check_known_version(path: Path, version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"Schema version {version} is newer than this exporter knows ({SCHEMA_VERSION}); "
            f"upgrade the exporter (file left untouched): {path}"
        )


def migrate(conn: duckdb.DuckDBPyConnection, path: Path, current: int) -> int:
    """Apply every migration after `current` in one transaction; return the new version."""
    conn.begin()
    try:
        for version in range(current + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[version - 1])
            conn.execute(
                "INSERT INTO schema_info VALUES (?, ?, ?)",
                [APPLICATION_ID, version, datetime.now(UTC)],
            )
        conn.commit()
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            conn.rollback()
        raise
    return SCHEMA_VERSION


def create(path: Path, *, timeout_s: float) -> None:
    """Build a new file with the full schema beside `path`, then link it into place.

    Linking never replaces an existing file: if another process created the path meanwhile,
    ours is discarded and theirs is checked like any existing file.
    """
    staging = path.with_name(f".{path.name}.creating-{os.getpid()}")
    _remove_quietly(staging)
    try:
        conn = connection.connect(staging, read_only=False, timeout_s=timeout_s)
        try:
            migrate(conn, staging, 0)
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        link_no_replace(staging, path)  # if another process won the race, theirs stays
    except duckdb.Error as exc:
        raise store_error(path, exc) from exc
    except OSError as exc:
        raise _os_error(path, exc) from exc
    finally:
        _remove_quietly(staging)


def link_no_replace(source: Path, target: Path) -> bool:
    """Give `source` the name `target` unless something is there already; False if it was."""
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError:
        # Volumes without hard links: rename, having checked nothing is in the way.
        if target.exists():
            return False
        os.rename(source, target)
    return True


def _remove_quietly(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()
