"""HistoryStore against real DuckDB files: open, enqueue, flush, known ids, locks, retention."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from freezegun import freeze_time

from common.errors import StoreCorrupt, StoreError, StoreForeign
from history import connection, row_codec
from history.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from history.store import FlushResult, HistoryStore
from tests.fixtures_store import BASE_TIME, KNOWN_FAILURES, KNOWN_RUNS, make_failure, make_run


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = connection.connect(path, read_only=True, timeout_s=5)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_open_creates_the_file_with_the_current_schema(history_path: Path) -> None:
    HistoryStore(history_path).open()
    assert rows(
        history_path, "SELECT application_id, max(version) FROM schema_info GROUP BY 1"
    ) == [(APPLICATION_ID, SCHEMA_VERSION)]
    assert not history_path.with_name(history_path.name + ".wal").exists()
    assert [p.name for p in history_path.parent.iterdir()] == [history_path.name]


def test_open_migrates_a_version_1_file_forward_and_keeps_its_rows(history_path: Path) -> None:
    conn = duckdb.connect(str(history_path))
    conn.execute(MIGRATIONS[0])
    conn.execute("INSERT INTO schema_info VALUES (?, 1, now())", [APPLICATION_ID])
    conn.execute(
        "INSERT INTO workload_runs (run_id, workload_id, workload_name, project, workload_type, "
        "phase, finished_at, recorded_at) VALUES ('old@x', 'old', 'old', 'p', 'training', "
        "'Completed', now(), now())"
    )
    conn.close()
    store = HistoryStore(history_path)
    store.open()
    assert rows(history_path, "SELECT max(version) FROM schema_info") == [(SCHEMA_VERSION,)]
    assert rows(history_path, "SELECT count(*) FROM maintenance") == [(0,)]
    assert store.known_run_ids() == {"old@x"}


def test_open_refuses_a_newer_schema_and_leaves_it_alone(history_path: Path) -> None:
    HistoryStore(history_path).open()
    conn = duckdb.connect(str(history_path))
    conn.execute(
        "INSERT INTO schema_info VALUES (?, ?, now())", [APPLICATION_ID, SCHEMA_VERSION + 1]
    )
    conn.close()
    before = history_path.read_bytes()
    with pytest.raises(StoreError, match=f"newer than this exporter knows \\({SCHEMA_VERSION}\\)"):
        HistoryStore(history_path).open()
    assert history_path.read_bytes() == before


def test_open_refuses_a_foreign_duckdb_file(history_path: Path) -> None:
    conn = duckdb.connect(str(history_path))
    conn.execute("CREATE TABLE sales (id INTEGER)")
    conn.close()
    before = history_path.read_bytes()
    with pytest.raises(StoreForeign, match="not a failure history"):
        HistoryStore(history_path).open()
    assert history_path.read_bytes() == before


def test_open_refuses_a_file_of_another_application(history_path: Path) -> None:
    conn = duckdb.connect(str(history_path))
    conn.execute(MIGRATIONS[0])
    conn.execute("INSERT INTO schema_info VALUES ('someone-else', 1, now())")
    conn.close()
    with pytest.raises(StoreForeign, match="another application"):
        HistoryStore(history_path).open()


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (b"", StoreCorrupt, "Empty file \\(0 bytes\\)"),
        (b"just some text\n" * 100, StoreCorrupt, "Not a DuckDB file"),
        (b"SQLite format 3\x00" + b"\x01" * 4000, StoreForeign, "A SQLite file"),
        (b"GG+3\xc2\x8d\x18XDUCK" + b"\xff" * 5000, StoreCorrupt, "Not a readable DuckDB file"),
    ],
)
def test_open_refuses_an_empty_or_unreadable_file_and_never_writes_it(
    history_path: Path, content: bytes, error: type[Exception], message: str
) -> None:
    history_path.write_bytes(content)
    with pytest.raises(error, match=message):
        HistoryStore(history_path).open()
    assert history_path.read_bytes() == content
    assert sorted(p.name for p in history_path.parent.iterdir()) == [history_path.name]


def test_open_refuses_an_orphaned_write_ahead_log(history_path: Path) -> None:
    wal = history_path.with_name(history_path.name + ".wal")
    wal.write_bytes(b"left behind by a deleted history file")
    with pytest.raises(StoreError, match="A write-ahead log without its database file"):
        HistoryStore(history_path).open()
    assert not history_path.exists()
    assert wal.read_bytes() == b"left behind by a deleted history file"


def test_open_reports_a_missing_directory_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        HistoryStore(tmp_path / "absent" / "history.db").open()
    assert str(caught.value) == f"Directory does not exist: {tmp_path / 'absent'}"


def test_flush_writes_every_field_and_reads_back_as_utc(history_path: Path) -> None:
    store = HistoryStore(history_path)
    store.open()
    bundle = {
        "workload": {"name": "job"},
        "logs": "line\n" * 500,
        "events": [{"reason": "BackOff"}],
    }
    failure = make_failure("wl-9", BASE_TIME, bundle=bundle, details={"xid": 79, "rank": 0})
    store.enqueue([failure], [make_run("wl-9", BASE_TIME, phase="Failed")])
    result = store.flush()
    assert result == FlushResult(
        failures_written=1, runs_written=1, duplicates=0, pending=0, error=None
    )
    (row,) = rows(
        history_path,
        'SELECT episode_id, "timestamp", workload_id, workload_name, project, department, '
        "workload_type, kind, category, confidence, summary, evidence, evidence_source, "
        "recommendation, node, pod, image, gpus_requested, exit_code, details, logs_available, "
        "bundle, cluster_id FROM failure_events",
    )
    assert row[:19] == (
        failure.episode_id, BASE_TIME, "wl-9", "job-wl-9", "team-a", "research", "training",
        "failed", "gpu_oom", 0.9, failure.summary, failure.evidence, "log",
        failure.recommendation, "gpu-node-1", "job-wl-9-0", failure.image, 1.0, 1,
    )  # fmt: skip
    assert row[1].tzinfo is not None and row[1].utcoffset() == timedelta(0)
    assert json.loads(row[19]) == {"xid": 79, "rank": 0}
    assert row[20] is True
    assert json.loads(row[21]) == bundle
    assert rows(history_path, "SELECT json_extract_string(bundle, '$.events[0].reason') "
                "FROM failure_events") == [("BackOff",)]  # fmt: skip
    (run,) = rows(history_path, "SELECT run_id, phase, finished_at, created_at FROM workload_runs")
    assert run == (
        f"wl-9@{BASE_TIME.isoformat()}",
        "Failed",
        BASE_TIME,
        BASE_TIME - timedelta(hours=1),
    )


def test_flush_is_idempotent_and_counts_duplicates(history_db: Path) -> None:
    store = HistoryStore(history_db)
    store.open()
    store.enqueue(KNOWN_FAILURES[:2], KNOWN_RUNS)
    store.enqueue([make_failure("wl-new", BASE_TIME)])
    store.enqueue([make_failure("wl-new", BASE_TIME)])  # the same episode queued twice
    assert store.pending == 2 + len(KNOWN_RUNS) + 1
    result = store.flush()
    assert result == FlushResult(1, 0, 2 + len(KNOWN_RUNS) + 1, 0, None)
    assert rows(history_db, "SELECT count(*) FROM failure_events") == [(len(KNOWN_FAILURES) + 1,)]
    assert rows(history_db, "SELECT count(*) FROM workload_runs") == [(len(KNOWN_RUNS),)]


def test_known_ids_are_the_ids_in_the_file(history_db: Path) -> None:
    store = HistoryStore(history_db)
    store.open()
    store.enqueue([make_failure("queued-only")])
    assert store.known_episode_ids() == {f.episode_id for f in KNOWN_FAILURES}
    assert store.known_run_ids() == {r.run_id for r in KNOWN_RUNS}


def test_flush_with_nothing_queued_does_not_open_the_file(history_path: Path) -> None:
    store = HistoryStore(history_path)
    store.open()
    history_path.unlink()  # any attempt to open would fail or recreate it
    assert store.flush() == FlushResult(0, 0, 0, 0, None)
    assert not history_path.exists()


def test_a_missing_file_keeps_records_queued(history_path: Path) -> None:
    store = HistoryStore(history_path)
    store.open()
    history_path.unlink()
    store.enqueue([make_failure()])
    result = store.flush()
    assert result.pending == 1 and result.error is not None and "missing" in result.error
    assert not history_path.exists()


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (make_failure(timestamp=datetime(2026, 1, 1)), "has no time zone"),
        (make_failure(episode_id="wl-1@yesterday"), "episode_id 'wl-1@yesterday' should be"),
        (make_failure(confidence=float("nan")), "NaN"),
    ],
)
def test_enqueue_rejects_a_record_it_could_not_store_and_queues_nothing(
    history_path: Path, record: object, message: str
) -> None:
    store = HistoryStore(history_path)
    with pytest.raises(ValueError, match=message):
        store.enqueue([make_failure("good"), record])  # type: ignore[list-item]
    assert store.pending == 0


def test_mangled_log_text_cannot_block_the_queue(history_path: Path) -> None:
    store = HistoryStore(history_path)
    store.open()
    store.enqueue([make_failure(bundle={"logs": "bad \ud800 surrogate and \x00 nul"})])
    assert store.flush().failures_written == 1
    (bundle,) = rows(history_path, "SELECT bundle FROM failure_events")[0]
    assert json.loads(bundle)["logs"] == "bad ? surrogate and \x00 nul"


def test_a_reader_holding_the_file_delays_the_write_and_loses_nothing(history_db: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_READ_ONLY, str(history_db), "2.0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        store = HistoryStore(history_db, lock_timeout_s=0.3)
        store.enqueue([make_failure("late")], [make_run("late")])
        started = time.monotonic()
        blocked = store.flush()
        assert time.monotonic() - started < 1.5
        assert blocked.pending == 2 and blocked.failures_written == 0
        assert blocked.error is not None and "locked" in blocked.error
        assert holder.wait(timeout=10) == 0
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert store.flush() == FlushResult(1, 1, 0, 0, None)
    assert "late@" + BASE_TIME.isoformat() in store.known_episode_ids()


HOLD_READ_ONLY = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def test_prune_deletes_rows_older_than_the_cutoff(history_db: Path) -> None:
    store = HistoryStore(history_db)
    store.open()
    cutoff = BASE_TIME + timedelta(hours=2)
    result = store.prune(cutoff)
    assert (result.cutoff, result.failures_deleted, result.runs_deleted) == (cutoff, 1, 2)
    assert rows(history_db, 'SELECT min("timestamp") FROM failure_events') == [
        (BASE_TIME + timedelta(hours=3),)
    ]
    assert rows(history_db, "SELECT min(finished_at) FROM workload_runs") == [(cutoff,)]


def test_prune_if_due_runs_at_most_once_a_day_across_restarts(history_db: Path) -> None:
    with freeze_time(BASE_TIME + timedelta(days=40)) as clock:
        store = HistoryStore(history_db)
        store.open()
        now = datetime.now(UTC)
        first = store.prune_if_due(now, retention_days=30)
        assert first is not None and first.cutoff == now - timedelta(days=30)
        assert first.failures_deleted == len(KNOWN_FAILURES)
        assert first.runs_deleted == len(KNOWN_RUNS)
        assert store.prune_if_due(now + timedelta(hours=23), 30) is None

        clock.tick(timedelta(hours=23))
        restarted = HistoryStore(history_db)  # remembers the last run from the file
        restarted.open()
        assert restarted.prune_if_due(datetime.now(UTC), 30) is None

        clock.tick(timedelta(hours=1))
        again = restarted.prune_if_due(datetime.now(UTC), 30)
        assert again is not None and again.failures_deleted == 0
    assert rows(history_db, "SELECT task, last_run_at FROM maintenance") == [
        ("retention", BASE_TIME + timedelta(days=41))
    ]


def test_prune_if_due_with_zero_days_keeps_everything(history_db: Path) -> None:
    store = HistoryStore(history_db)
    store.open()
    assert store.prune_if_due(datetime.now(UTC), 0) is None
    with pytest.raises(ValueError, match="retention_days"):
        store.prune_if_due(datetime.now(UTC), -1)
    assert rows(history_db, "SELECT count(*) FROM failure_events") == [(len(KNOWN_FAILURES),)]


def test_open_folds_the_doubled_rows_an_older_writer_left_keeping_the_better_one(
    history_path: Path,
) -> None:
    """A schema-2 file written by the old code's writer (row_codec, the same row format): one
    failure and one run each recorded twice, under the listing's and the timeline's stamps."""
    conn = duckdb.connect(str(history_path))
    for version in (1, 2):
        conn.execute(MIGRATIONS[version - 1])
        conn.execute("INSERT INTO schema_info VALUES (?, ?, now())", [APPLICATION_ID, version])
    listed, logged = BASE_TIME + timedelta(seconds=0.412), BASE_TIME + timedelta(seconds=1.377)
    later = BASE_TIME + timedelta(minutes=40)
    failures = [
        make_failure("wl-1", listed, category="unknown", logs_available=False),
        make_failure("wl-1", logged, category="gpu_oom", logs_available=True),  # kept
        make_failure("wl-1", later),  # resubmitted and failed again: its own episode
        # Degraded 2 s before it failed: another kind, however near
        make_failure("wl-1", logged - timedelta(seconds=2), kind="degraded"),
        make_failure("wl-2", listed),
    ]
    runs = [
        make_run("wl-1", BASE_TIME - timedelta(seconds=1.2), phase="Failed", node=None),
        make_run("wl-1", logged, phase="Failed", node="dgx-07"),  # kept: it knows the node
        make_run("wl-1", later, phase="Failed"),
    ]
    now = datetime.now(UTC)
    conn.begin()
    row_codec.insert(conn, row_codec.FAILURE_EVENTS,
                     [row_codec.encode_failure(f, now) for f in failures], database=history_path)
    row_codec.insert(conn, row_codec.WORKLOAD_RUNS,
                     [row_codec.encode_run(r, now) for r in runs], database=history_path)
    conn.commit()
    conn.close()

    store = HistoryStore(history_path)
    store.open()
    assert store.known_episodes() == {
        f"wl-1@{logged.isoformat()}": "failed",
        f"wl-1@{later.isoformat()}": "failed",
        f"wl-1@{(logged - timedelta(seconds=2)).isoformat()}": "degraded",
        f"wl-2@{listed.isoformat()}": "failed",
    }
    assert rows(history_path, "SELECT category FROM failure_events WHERE episode_id = "
                f"'wl-1@{logged.isoformat()}'") == [("gpu_oom",)]
    assert sorted(rows(history_path, "SELECT finished_at, node FROM workload_runs")) == [
        (logged, "dgx-07"), (later, runs[2].node),
    ]


def test_one_large_write_is_not_refused_for_memory(tmp_path: Path) -> None:
    """A mass failure's cycle writes at once whatever it found: the writer's DuckDB settings
    must not refuse it (a 96 MB memory_limit answered 'Out of Memory' to this write)."""
    store = HistoryStore(tmp_path / "big.db")
    store.open()
    at = [BASE_TIME + timedelta(seconds=i) for i in range(100_000)]
    store.enqueue([make_failure(f"f{i}", at[i], bundle={"logs": "x" * 3000})
                   for i in range(5_000)],
                  [make_run(f"r{i}", at[i]) for i in range(100_000)])
    result = store.flush()
    assert result.error is None and result.runs_written == 100_000


FLUSH_PEAK = """
import random, string, sys
from datetime import timedelta
from history.store import HistoryStore
from tests.fixtures_store import BASE_TIME, make_failure, make_run

def peak_mib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024

rng = random.Random(7)
def log_tail():  # 8 KB that compresses as badly as a real log tail
    return "\\n".join("".join(rng.choices(string.ascii_letters, k=80)) for _ in range(100))

store = HistoryStore(sys.argv[1])
store.open()
at = [BASE_TIME + timedelta(seconds=i) for i in range(50_000)]
store.enqueue([make_failure(f"f{i}", at[i], bundle={"logs": log_tail()}) for i in range(3_000)],
              [make_run(f"r{i}", at[i]) for i in range(50_000)])
with open("/proc/self/clear_refs", "w") as refs:  # the peak from here on is the flush's
    refs.write("5")
before = peak_mib()
result = store.flush()
print(result.error, result.failures_written, result.runs_written, peak_mib() - before)
"""


def test_a_large_flush_stays_within_the_writers_memory_cap(tmp_path: Path) -> None:
    """The writer's DuckDB memory is capped and a flush is inserted in statements that fit the
    cap: 25 MB of log tails and 50,000 runs at once took 158 MiB beyond the process's
    memory before, 71 MiB now (the cap is 64 MB)."""
    done = subprocess.run(
        [sys.executable, "-c", FLUSH_PEAK, str(tmp_path / "peak.db")],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    error, failures, runs, grown_mib = done.stdout.split()
    assert (error, failures, runs) == ("None", "3000", "50000")
    assert float(grown_mib) <= 100, f"the flush took {float(grown_mib):.0f} MiB"


def test_a_record_too_large_for_the_cap_is_written_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A log tail of megabytes needs more than the writer's cap: the flush is retried once
    without it rather than keeping the record queued for ever."""
    store = HistoryStore(tmp_path / "huge.db")
    store.open()
    store.enqueue([make_failure(bundle={"logs": "Traceback (most recent call last):\n" * 120_000})])
    result = store.flush()
    assert (result.error, result.failures_written, result.pending) == (None, 1, 0)
    assert "too large for the writer's 64MB memory cap" in caplog.text
