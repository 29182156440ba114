"""The sidecar and its readers as separate processes on one file, as in the pod.

A writer process flushes batches in a loop with HistoryStore; two reader processes open the same
file read-only through history.connection.connect and count rows, all at once. Nobody may see an
error at the end, no row may be lost or doubled, and no reader may see counts go backwards or a
batch written in part.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from history import connection
from history.store import HistoryStore

REPO = Path(__file__).resolve().parent.parent
BATCHES = 20
RUNS_PER_BATCH = 200
FAILURES_PER_BATCH = 10

WRITER = """
import json, sys, time
from datetime import timedelta
from history.store import HistoryStore
from tests.fixtures_store import BASE_TIME, make_failure, make_run

path, batches, runs, failures = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
store = HistoryStore(path, lock_timeout_s=2)
postponed, written = [], [0, 0]
for batch in range(batches):
    at = BASE_TIME + timedelta(minutes=batch)
    store.enqueue(
        [make_failure(f"b{batch}-f{i}", at) for i in range(failures)],
        [make_run(f"b{batch}-r{i}", at) for i in range(runs)],
    )
    result = store.flush()
    if result.error:
        postponed.append(result.error)
    written[0] += result.failures_written
    written[1] += result.runs_written
    time.sleep(0.02)
deadline = time.monotonic() + 10
while store.pending and time.monotonic() < deadline:
    result = store.flush()
    written[0] += result.failures_written
    written[1] += result.runs_written
print(json.dumps({"postponed": postponed, "pending": store.pending, "written": written}))
"""

READER = """
import json, os, sys, time
from history import connection

path, stop = sys.argv[1], sys.argv[2]
seen, errors = [], []
while not os.path.exists(stop) or not seen:
    try:
        conn = connection.connect(path, read_only=True, timeout_s=10)
        try:
            seen.append(conn.execute(
                "SELECT (SELECT count(*) FROM failure_events), (SELECT count(*) FROM workload_runs)"
            ).fetchone())
        finally:
            conn.close()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    time.sleep(0.005)
print(json.dumps({"seen": seen, "errors": errors}))
"""


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_writer_and_two_readers_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    stop = tmp_path / "stop"
    HistoryStore(path).open()

    def start(code: str, *args: object) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", code, *map(str, args)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    readers = [start(READER, path, stop) for _ in range(2)]
    writer = start(WRITER, path, BATCHES, RUNS_PER_BATCH, FAILURES_PER_BATCH)
    try:
        out, err = writer.communicate(timeout=40)
        assert writer.returncode == 0, err
        stop.touch()
        reports = []
        for reader in readers:
            r_out, r_err = reader.communicate(timeout=20)
            assert reader.returncode == 0, r_err
            reports.append(json.loads(r_out))
    finally:
        for process in (writer, *readers):
            process.kill()
            process.communicate()

    summary = json.loads(out)
    total_failures, total_runs = BATCHES * FAILURES_PER_BATCH, BATCHES * RUNS_PER_BATCH
    assert summary["pending"] == 0
    assert summary["written"] == [total_failures, total_runs]

    conn = connection.connect(path, read_only=True, timeout_s=10)
    try:
        final = (
            conn.execute(
                "SELECT count(*), count(DISTINCT episode_id) FROM failure_events"
            ).fetchone(),
            conn.execute("SELECT count(*), count(DISTINCT run_id) FROM workload_runs").fetchone(),
        )
    finally:
        conn.close()
    assert final == ((total_failures, total_failures), (total_runs, total_runs))

    for report in reports:
        assert report["errors"] == []
        seen = [tuple(counts) for counts in report["seen"]]
        assert len(seen) >= 5, "the reader hardly ran alongside the writer"
        assert seen == sorted(seen), "a reader saw the counts go backwards"
        for failures, runs in seen:  # a batch is one transaction: never seen in part
            assert failures * (RUNS_PER_BATCH // FAILURES_PER_BATCH) == runs
    observed = {counts for report in reports for counts in map(tuple, report["seen"])}
    assert len(observed) >= 3, f"readers saw too few intermediate states: {sorted(observed)}"
