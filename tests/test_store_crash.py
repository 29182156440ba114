"""kill -9 during a write: the file reopens with every committed batch exactly once.

A child process flushes numbered batches in a loop and says so before and after each flush; the
parent kills it with SIGKILL shortly after a flush starts, several times on the same file. DuckDB's
write-ahead log must give back each committed batch whole, drop the interrupted one whole (or
keep it whole, if its commit landed before the kill), and never replay a row twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from history import connection, row_codec
from history.store import HistoryStore
from tests.fixtures_store import COMMIT_THEN_DIE, KNOWN_FAILURES, KNOWN_RUNS

REPO = Path(__file__).resolve().parent.parent
RUNS_PER_BATCH = 3000
FAILURES_PER_BATCH = 100

WRITER = """
import sys
from datetime import timedelta
from history.store import HistoryStore
from tests.fixtures_store import BASE_TIME, make_failure, make_run

path, first, runs, failures = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
store = HistoryStore(path, lock_timeout_s=5)
store.open()
bundle = {"logs": "Traceback (most recent call last):\\n" * 80}
batch = first
while True:
    at = BASE_TIME + timedelta(minutes=batch)
    store.enqueue(
        [make_failure(f"b{batch}-f{i}", at, bundle=bundle) for i in range(failures)],
        [make_run(f"b{batch}-r{i}", at) for i in range(runs)],
    )
    print(f"flushing {batch}", flush=True)
    result = store.flush()
    assert result.error is None, result.error
    print(f"committed {batch}", flush=True)
    batch += 1
"""


def counts(path: Path) -> tuple[int, int, int, int]:
    conn = connection.connect(path, read_only=True, timeout_s=10)
    try:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM workload_runs), "
            "(SELECT count(DISTINCT run_id) FROM workload_runs), "
            "(SELECT count(*) FROM failure_events), "
            "(SELECT count(DISTINCT episode_id) FROM failure_events)"
        ).fetchone()
    finally:
        conn.close()
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def batches_in(path: Path) -> set[int]:
    conn = connection.connect(path, read_only=True, timeout_s=10)
    try:
        rows = conn.execute(
            "SELECT split_part(run_id, '-', 1), count(*) FROM workload_runs GROUP BY 1"
        ).fetchall()
    finally:
        conn.close()
    found = {int(prefix[1:]): int(n) for prefix, n in rows}
    assert set(found.values()) <= {RUNS_PER_BATCH}, f"a batch was written in part: {found}"
    return set(found)


def kill_mid_flush(path: Path, first: int, rng: random.Random) -> tuple[set[int], int, bool]:
    """Run the writer from batch `first`; SIGKILL it soon after a flush starts.

    Returns the batches it reported committed, the last batch it said it was flushing, and
    whether the kill landed inside that flush (no "committed" line for it).
    """
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(first), str(RUNS_PER_BATCH),
         str(FAILURES_PER_BATCH)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    committed: set[int] = set()
    target = first + rng.randint(1, 2)
    assert child.stdout is not None
    try:
        for line in child.stdout:
            word, number = line.split()
            if word == "committed":
                committed.add(int(number))
            elif int(number) == target:
                time.sleep(rng.uniform(0.0, 0.15))
                os.kill(child.pid, signal.SIGKILL)
                break
        child.wait(timeout=30)
        # The child keeps writing while the kill is on its way, so under load it may have
        # finished the target and started the next flush: the batch in flight is the last one
        # it said it was flushing, not the target.
        in_flight = target
        for line in child.stdout:
            word, number = line.split()
            if word == "committed":
                committed.add(int(number))
            else:
                in_flight = int(number)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return committed, in_flight, in_flight not in committed


@pytest.mark.slow
def test_kill_9_during_flush_keeps_every_committed_batch_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    rng = random.Random(20261126)
    expected: set[int] = set()
    first = 0
    killed_inside_a_flush = 0
    for _ in range(4):
        committed, in_flight, inside = kill_mid_flush(path, first, rng)
        killed_inside_a_flush += inside
        HistoryStore(path).open()  # replays the WAL; must not refuse the file
        assert row_codec.scratch_files(path) == []  # a killed flush's scratch file is cleared
        found = batches_in(path)
        expected |= committed
        assert expected <= found, f"committed batches lost: {sorted(expected - found)}"
        assert found - expected <= {in_flight}, f"unexpected batches: {sorted(found - expected)}"
        expected = found
        runs, distinct_runs, failures, distinct_failures = counts(path)
        assert runs == distinct_runs == RUNS_PER_BATCH * len(found)
        assert failures == distinct_failures == FAILURES_PER_BATCH * len(found)
        first = in_flight + 1
    assert killed_inside_a_flush >= 1, "no kill landed inside a flush; the test proved nothing"

    # Opening again (read-only, then as the writer) must not replay anything a second time.
    before = counts(path)
    for _ in range(2):
        HistoryStore(path).open()
        assert counts(path) == before
    assert not path.with_name(path.name + ".wal").exists()


def test_wal_replay_after_kill_9_restores_rows_once(history_path: Path) -> None:
    HistoryStore(history_path).open()
    done = subprocess.run(
        [sys.executable, "-c", COMMIT_THEN_DIE, str(history_path)], cwd=REPO, timeout=60
    )
    assert done.returncode == -signal.SIGKILL
    wal = history_path.with_name(history_path.name + ".wal")
    assert wal.stat().st_size > 0  # the rows live only in the log now
    n_failures, n_runs = len(KNOWN_FAILURES), len(KNOWN_RUNS)
    assert counts(history_path) == (n_runs, n_runs, n_failures, n_failures)  # read-only replay

    store = HistoryStore(history_path)
    store.open()  # the writer replays and checkpoints the log
    assert not wal.exists()
    assert counts(history_path) == (n_runs, n_runs, n_failures, n_failures)
    store.enqueue(KNOWN_FAILURES, KNOWN_RUNS)
    result = store.flush()
    assert (result.failures_written, result.runs_written) == (0, 0)
    assert result.duplicates == n_failures + n_runs
    assert counts(history_path) == (n_runs, n_runs, n_failures, n_failures)


SIGTERM_WRITER = """
import signal, sys
from datetime import timedelta
from history.store import HistoryStore
from tests.fixtures_store import BASE_TIME, make_failure, make_run

# The sidecar's pattern: SIGTERM only sets a flag; the loop finishes its write and exits 0.
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
store = HistoryStore(sys.argv[1])
store.open()
batch = 0
while not stopping:
    at = BASE_TIME + timedelta(minutes=batch)
    store.enqueue([make_failure(f"b{batch}-f{i}", at) for i in range(100)],
                  [make_run(f"b{batch}-r{i}", at) for i in range(3000)])
    print(f"flushing {batch}", flush=True)
    result = store.flush()
    assert result.error is None and result.pending == 0, result
    batch += 1
print(f"stopped after {batch}", flush=True)
"""


def test_sigterm_during_a_flush_finishes_the_write(history_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_WRITER, str(history_path)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    try:
        for line in child.stdout:
            if line.strip() == "flushing 1":
                time.sleep(0.05)  # inside the DuckDB write of batch 1
                child.send_signal(signal.SIGTERM)
                break
        rest = child.stdout.read()
        assert child.wait(timeout=30) == 0
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    batches = int(rest.split()[-1])
    assert batches >= 2  # batch 1 was finished, not abandoned
    assert counts(history_path) == (3000 * batches, 3000 * batches, 100 * batches, 100 * batches)
    assert not history_path.with_name(history_path.name + ".wal").exists()  # closed cleanly
