"""`db import-sqlite`: the earlier agent's SQLite history, imported through the real command.

The source file is built by Python's sqlite3 with that agent's schema
(../shared/reference/seed-era-history.md): the three tables, its indexes, its defaults, and
rows as it wrote them (phase strings as failure_type, `unknown` placeholders, `Unknown failure`
messages, empty snippets). The product's own classifier judges each row.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from history.connection import connect

ROOT = Path(__file__).resolve().parent.parent

SEED_SCHEMA = """
CREATE TABLE failure_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_name TEXT NOT NULL,
    project TEXT NOT NULL,
    failure_type TEXT NOT NULL,
    phase TEXT,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
    pod_name TEXT,
    node_name TEXT,
    container_image TEXT,
    error_message TEXT,
    logs_snippet TEXT,
    events_snippet TEXT,
    gpu_count INTEGER,
    memory_request TEXT,
    cpu_request TEXT,
    resolved BOOLEAN DEFAULT 0,
    auto_remediated BOOLEAN DEFAULT 0,
    resolution_type TEXT,
    resolution_timestamp DATETIME
);
CREATE TABLE failure_solutions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    failure_type TEXT NOT NULL,
    solution_description TEXT NOT NULL,
    success_count INTEGER DEFAULT 0,
    failure_count INTEGER DEFAULT 0,
    last_used DATETIME,
    created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(failure_type, solution_description)
);
CREATE TABLE failure_correlations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    correlation_type TEXT NOT NULL,
    correlation_value TEXT NOT NULL,
    failure_count INTEGER DEFAULT 1,
    first_seen DATETIME DEFAULT CURRENT_TIMESTAMP,
    last_seen DATETIME DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(correlation_type, correlation_value)
);
CREATE INDEX idx_failure_timestamp ON failure_events(timestamp);
CREATE INDEX idx_failure_project ON failure_events(project);
CREATE INDEX idx_failure_type ON failure_events(failure_type);
CREATE INDEX idx_failure_node ON failure_events(node_name);
"""

NOW = datetime.now(UTC).replace(microsecond=0)


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")  # SQLite's own format


# (job, project, failure_type, timestamp, error_message, logs_snippet, events_snippet, pod,
#  node, gpus): the expected category, or None for a row that cannot be imported.
ROWS: list[tuple[tuple[Any, ...], str | None]] = [
    (("llm-pretrain", "team-a", "ImagePullBackOff", ago(3),
      'Back-off pulling image "nvcr.io/acme/trainer:v9": ErrImagePull: manifest unknown',
      "", "", "unknown", "unknown", 8), "image_pull"),
    (("vit-finetune", "team-a", "Failed", ago(2),
      "Failed", "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB "
      "total capacity)", "", "vit-finetune-0-0", "dgx-07", 1), "gpu_oom"),
    (("bert-sweep", "team-b", "Error", ago(1),
      "Unknown failure", "", "0/12 nodes are available: 12 Insufficient nvidia.com/gpu.",
      "unknown", "unknown", 4), "unschedulable"),
    # Rows whose only facts are a phase string and the placeholders: the cause stays unknown.
    (("etl-nightly", "team-b", "OOMKilled", ago(5), "Unknown failure", "", "",
      "unknown", "unknown", 0), "unknown"),
    (("notebook-7", "team-c", "CrashLoopBackOff", ago(6), None, None, None,
      None, None, 0), "unknown"),
    # Unusable rows: no job name; a timestamp nobody can read.
    (("", "team-c", "Failed", ago(4), "boom", "", "", "unknown", "unknown", 0), None),
    (("resnet", "team-c", "Failed", "last tuesday", "boom", "", "", "unknown", "unknown", 0),
     None),
]


def build_seed_file(path: Path, rows: list[tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SEED_SCHEMA)
        conn.executemany(
            "INSERT INTO failure_events (job_name, project, failure_type, phase, timestamp, "
            "error_message, logs_snippet, events_snippet, pod_name, node_name, gpu_count) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(job, project, ftype, ftype, ts, msg, logs, events, pod, node, gpus)
             for job, project, ftype, ts, msg, logs, events, pod, node, gpus in rows],
        )
        conn.execute("INSERT INTO failure_solutions (failure_type, solution_description) "
                     "VALUES ('OOMKilled', 'Increase memory limit')")
        conn.commit()
    finally:
        conn.close()


def exporter(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exporter", *map(str, argv)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def report(stdout: str) -> dict[str, int]:
    """The numbers of the import report, by their label."""
    numbers: dict[str, int] = {}
    for line in stdout.splitlines():
        label, _, value = line.rpartition(" ")
        if value.isdigit() and not line.startswith("  "):
            numbers[label.strip()] = int(value)
    return numbers


def history_rows(db: Path) -> list[dict[str, Any]]:
    conn = connect(str(db), read_only=True)
    try:
        cursor = conn.execute("SELECT workload_name, project, category, kind, details, summary, "
                              "\"timestamp\", node, pod, gpus_requested FROM failure_events "
                              "ORDER BY workload_name")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed-history.sqlite"
    build_seed_file(path, [row for row, _ in ROWS])
    return path


def test_import_classifies_what_the_rows_say_and_keeps_the_phase(
    seed_file: Path, tmp_path: Path
) -> None:
    db = tmp_path / "runai_failure_history.db"
    before = hashlib.sha256(seed_file.read_bytes()).hexdigest()
    done = exporter("db", "import-sqlite", seed_file, "--db", db)
    assert done.returncode == 0, done.stderr
    numbers = report(done.stdout)
    usable = [expected for _, expected in ROWS if expected is not None]
    assert numbers["rows read"] == len(ROWS)
    assert numbers["imported"] == len(usable)
    assert numbers["classified"] == sum(1 for c in usable if c != "unknown")
    assert numbers["unknown (phase kept)"] == usable.count("unknown")
    assert numbers["skipped"] == 2
    assert "no job name: 1" in done.stdout and "no readable timestamp: 1" in done.stdout

    rows = {r["workload_name"]: r for r in history_rows(db)}
    for (job, project, ftype, ts, *_), expected in ROWS:
        if expected is None:
            assert job not in rows
            continue
        row = rows[job]
        assert (row["project"], row["category"], row["kind"]) == (project, expected, "failed")
        imported = json.loads(row["details"])["imported"]
        assert imported["failure_type"] == ftype and imported["phase"] == ftype  # kept as is
        assert row["timestamp"] == datetime.strptime(ts, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    # The earlier agent's placeholders are not carried over as facts.
    assert rows["llm-pretrain"]["node"] is None and rows["llm-pretrain"]["pod"] is None
    assert rows["vit-finetune"]["node"] == "dgx-07"
    assert rows["etl-nightly"]["gpus_requested"] is None
    assert "OOMKilled" in rows["etl-nightly"]["summary"]
    assert hashlib.sha256(seed_file.read_bytes()).hexdigest() == before  # source untouched


def test_a_rerun_and_a_grown_file_import_nothing_twice(seed_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "runai_failure_history.db"
    assert exporter("db", "import-sqlite", seed_file, "--db", db).returncode == 0
    first = len(history_rows(db))

    again = exporter("db", "import-sqlite", seed_file, "--db", db)
    assert again.returncode == 0, again.stderr
    assert report(again.stdout)["imported"] == 0
    assert report(again.stdout)["already there"] == first
    assert len(history_rows(db)) == first

    # The old agent ran on and wrote one more row, and one row twice: only the new one comes in.
    conn = sqlite3.connect(seed_file)
    conn.execute("INSERT INTO failure_events (job_name, project, failure_type, timestamp, "
                 "error_message) VALUES ('late-job', 'team-a', 'Failed', ?, 'Unknown failure')",
                 (ago(0.5),))
    conn.execute("INSERT INTO failure_events (job_name, project, failure_type, timestamp) "
                 "SELECT job_name, project, failure_type, timestamp FROM failure_events "
                 "WHERE job_name = 'late-job'")
    conn.commit()
    conn.close()
    grown = exporter("db", "import-sqlite", seed_file, "--db", db)
    assert grown.returncode == 0, grown.stderr
    numbers = report(grown.stdout)
    assert (numbers["imported"], numbers["already there"], numbers["doubles in the file"]) == (
        1, first, 1)
    assert len(history_rows(db)) == first + 1


def test_dry_run_writes_nothing(seed_file: Path, tmp_path: Path) -> None:
    db = tmp_path / "runai_failure_history.db"
    done = exporter("db", "import-sqlite", "--dry-run", seed_file, "--db", db)
    assert done.returncode == 0, done.stderr
    assert report(done.stdout)["would import"] == 5
    assert not db.exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"not a database at all" * 10), "Not a SQLite file"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE other (x)").connection.commit(),
         "No failure_events table"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE failure_events (job_name TEXT)")
         .connection.commit(), "has no project, failure_type, timestamp column"),
    ],
)
def test_a_file_that_is_not_that_history_is_one_clear_line(
    tmp_path: Path, make: Any, message: str
) -> None:
    source = tmp_path / "other.db"
    make(source)
    done = exporter("db", "import-sqlite", source, "--db", tmp_path / "h.db")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("ERROR: ")
    assert message in done.stderr


def test_the_sidecar_on_a_sqlite_history_names_the_import(seed_file: Path, tmp_path: Path) -> None:
    env = {**os.environ, "RUNAI_BASE_URL": "https://runai.example.com",
           "RUNAI_CLIENT_ID": "id", "RUNAI_CLIENT_SECRET": "secret-value"}
    done = subprocess.run([sys.executable, "-m", "exporter", "--once", "--db", str(seed_file)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("ERROR: A SQLite file, not a failure history (left untouched)")
    assert "db import-sqlite FILE" in line


def test_importing_the_file_onto_itself_says_to_move_it_first(seed_file: Path) -> None:
    done = exporter("db", "import-sqlite", seed_file, "--db", seed_file)
    assert done.returncode == 1
    assert done.stderr.startswith(f"ERROR: {seed_file} is where the new history goes: move it")
