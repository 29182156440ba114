"""`db sql`: one read-only, row-limited query in the pod, in place of the guide's `sqlite3`.

Run as the real command against a history file written by the product's own store.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from history.records import FailureRecord
from history.store import HistoryStore

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def record(i: int, category: str) -> FailureRecord:
    ts = T0 + timedelta(hours=i)
    return FailureRecord(
        episode_id=f"w{i}@{ts.isoformat()}", timestamp=ts, workload_id=f"w{i}",
        workload_name=f"job-{i}", project="team-a" if i % 2 else "team-b", department=None,
        workload_type="training", kind="failed", category=category, confidence=0.9,
        summary=f"summary {i}, with a comma", evidence="", evidence_source="none",
        recommendation="", node=None, pod=None, image=None, gpus_requested=None, exit_code=None,
        details={}, logs_available=False, bundle={},
    )


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "runai_failure_history.db"
    store = HistoryStore(path)
    store.open()
    store.enqueue([record(i, "gpu_oom" if i < 7 else "image_pull") for i in range(10)])
    assert store.flush().error is None
    return path


def sql(db: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exporter", "db", "sql", "--db", str(db), *argv],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_guides_count_as_a_table(db: Path) -> None:
    done = sql(db, "SELECT COUNT(*) AS n FROM failure_events;")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["n", "--", "10", "(1 row)"]


def test_csv_and_json_carry_whole_values_and_utc_times(db: Path) -> None:
    query = ('SELECT workload_name, summary, "timestamp" FROM failure_events '
             'ORDER BY "timestamp" LIMIT 2')
    rows = list(csv.reader(io.StringIO(sql(db, "--format", "csv", query).stdout)))
    assert rows[0] == ["workload_name", "summary", "timestamp"]
    assert rows[1] == ["job-0", "summary 0, with a comma", "2026-11-20T12:00:00+00:00"]
    objects = json.loads(sql(db, "--format", "json", query).stdout)
    assert objects[1] == {"workload_name": "job-1", "summary": "summary 1, with a comma",
                          "timestamp": "2026-11-20T13:00:00+00:00"}


def test_rows_are_limited_and_the_cut_is_said(db: Path) -> None:
    done = sql(db, "--format", "csv", "--max-rows", "3", "SELECT episode_id FROM failure_events")
    assert done.returncode == 0
    assert len(done.stdout.splitlines()) == 1 + 3
    assert "first 3 rows" in done.stderr


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM failure_events", "only queries run here"),
        ("SELECT 1; DROP TABLE failure_events", "one statement at a time"),
        ("COPY failure_events TO '/tmp/out.csv'", "only queries run here"),
        ("SELECT * FROM read_csv('/etc/passwd')", "/etc/passwd"),
        ("SELEC 1", "not valid SQL"),
    ],
)
def test_anything_but_a_query_is_refused_in_one_line(db: Path, query: str, message: str) -> None:
    done = sql(db, query)
    assert done.returncode == 1
    assert done.stderr.startswith("ERROR: ") and done.stderr.count("\n") == 1
    assert message in done.stderr
    assert sql(db, "SELECT count(*) FROM failure_events").stdout.splitlines()[2] == "10"


def test_external_files_stay_out_of_reach(db: Path) -> None:
    done = sql(db, "SELECT * FROM read_csv('/etc/passwd')")
    assert "external access" in done.stderr.lower() or "disabled" in done.stderr.lower()


def test_a_sqlite_file_names_the_import(tmp_path: Path) -> None:
    import sqlite3

    old = tmp_path / "runai_failure_history.db"
    sqlite3.connect(old).execute("CREATE TABLE failure_events (id INTEGER)").connection.commit()
    done = sql(old, "SELECT count(*) FROM failure_events")
    assert done.returncode == 1 and "db import-sqlite" in done.stderr
