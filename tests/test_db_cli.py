"""`python -m exporter db stats|prune|backup` on real history files."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from freezegun import freeze_time

from history import connection
from history.cli import main
from history.schema import SCHEMA_VERSION
from tests.fixtures_store import BASE_TIME, KNOWN_FAILURES, KNOWN_RUNS, unprivileged

REPO = Path(__file__).resolve().parent.parent


def count(path: Path, table: str) -> int:
    conn = connection.connect(path, read_only=True, timeout_s=5)
    try:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])
    finally:
        conn.close()


def test_stats_json(history_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", str(history_db), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["schema_version"] == SCHEMA_VERSION
    assert stats["tables"]["failure_events"] == {
        "rows": len(KNOWN_FAILURES),
        "first": BASE_TIME.isoformat(),
        "last": (BASE_TIME + timedelta(days=1)).isoformat(),
    }
    assert stats["tables"]["workload_runs"]["rows"] == len(KNOWN_RUNS)
    assert stats["categories"] == {"gpu_oom": 2, "image_pull": 1}
    assert stats["kinds"] == {"failed": 2, "pending": 1}
    assert stats["size_bytes"] == history_db.stat().st_size
    assert stats["last_prune_at"] is None


def test_stats_for_people_runs_as_a_module(history_db: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "db", "stats", str(history_db)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"schema version  {SCHEMA_VERSION}" in done.stdout
    assert "failure_events          3 rows  2026-11-20T08:00:00+00:00" in done.stdout
    assert "gpu_oom" in done.stdout and done.stderr == ""


@pytest.mark.parametrize("flag", ["--older-than-days", "--retention-days"])
def test_prune_deletes_rows_older_than_n_days(
    history_db: Path, capsys: pytest.CaptureFixture[str], flag: str
) -> None:
    with freeze_time(BASE_TIME + timedelta(days=1, minutes=30)):
        assert main(["prune", str(history_db), flag, "1"]) == 0
    assert capsys.readouterr().out == (
        "deleted 1 failure events and 1 runs older than 2026-11-20T08:30:00+00:00\n"
    )
    assert count(history_db, "failure_events") == len(KNOWN_FAILURES) - 1
    assert count(history_db, "workload_runs") == len(KNOWN_RUNS) - 1


def test_prune_refuses_a_missing_file_without_creating_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "history.db"
    assert main(["prune", str(missing), "--older-than-days", "30"]) == 1
    assert capsys.readouterr().err == f"ERROR: No such file: {missing}\n"
    assert not missing.exists()


def test_backup_is_a_complete_history_file(
    history_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "copy.db"
    assert main(["backup", str(history_db), str(dest)]) == 0
    assert capsys.readouterr().out == f"backed up {history_db} to {dest}\n"
    stats = []
    for path in (history_db, dest):
        assert main(["stats", str(path), "--json"]) == 0
        stats.append(json.loads(capsys.readouterr().out))
    for entry in stats:
        del entry["path"], entry["size_bytes"]
    assert stats[0] == stats[1]
    assert stats[1]["tables"]["failure_events"]["rows"] == len(KNOWN_FAILURES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.db", history_db.name]
    conn = duckdb.connect(str(dest))  # the copy keeps the primary keys that make writes idempotent
    try:
        with pytest.raises(duckdb.ConstraintException):
            conn.execute("INSERT INTO failure_events SELECT * FROM failure_events LIMIT 1")
    finally:
        conn.close()


def test_backup_never_overwrites_the_destination(
    history_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "precious.db"
    dest.write_bytes(b"keep me")
    assert main(["backup", str(history_db), str(dest)]) == 1
    assert capsys.readouterr().err == f"ERROR: Backup destination exists, not overwritten: {dest}\n"
    assert dest.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious.db", history_db.name]


def test_commands_refuse_a_foreign_file_and_leave_it_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "sales.db"
    conn = duckdb.connect(str(foreign))
    conn.execute("CREATE TABLE failure_events (id INTEGER)")
    conn.close()
    before = foreign.read_bytes()
    for argv in (
        ["stats", str(foreign)],
        ["prune", str(foreign), "--older-than-days", "1"],
        ["backup", str(foreign), str(tmp_path / "copy.db")],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert (
            err
            == f"ERROR: A DuckDB file that is not a failure history (left untouched): {foreign}\n"
        )
    assert foreign.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sales.db"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["prune", "x.db"], "one of the arguments --older-than-days --retention-days is required"),
        (["prune", "x.db", "--older-than-days", "0"],
         "Invalid --older-than-days '0': must be a whole number from 1 to 36500 (days)"),
        (["prune", "x.db", "--older-than-days", "soon"], "Invalid --older-than-days 'soon'"),
        (["prune", "x.db", "--older-than-days", "1e12"], "Invalid --older-than-days '1e12'"),
        (["stats", "x.db", "--lock-timeout", "nan"], "Invalid --lock-timeout 'nan'"),
        (["vacuum", "x.db"], "invalid choice: 'vacuum'"),
    ],
)
def test_usage_mistakes_are_one_error_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and message in err and err.count("\n") == 1


def test_errors_from_file_modes_are_one_line(history_db: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    hidden = locked / "history.db"
    history_db.rename(hidden)
    backups = tmp_path / "backups"
    backups.mkdir()
    backups.chmod(0o555)
    try:
        locked.chmod(0o000)
        cases = [
            (["stats", str(hidden)], hidden),
            (["backup", str(hidden), str(tmp_path / "copy.db")], hidden),
        ]
        for argv, path in cases:
            done = run_cli(argv)
            assert (done.returncode, done.stderr) == (1, f"ERROR: Permission denied: {path}\n")
        locked.chmod(0o755)
        dest = backups / "copy.db"
        done = run_cli(["backup", str(hidden), str(dest)])
        assert (done.returncode, done.stderr) == (1, f"ERROR: Permission denied: {dest}\n")
        assert list(backups.iterdir()) == []
    finally:
        locked.chmod(0o755)
        backups.chmod(0o755)


def run_cli(argv: list[str]) -> subprocess.CompletedProcess[str]:
    command = unprivileged([sys.executable, "-m", "exporter", "db", *argv])
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60)
