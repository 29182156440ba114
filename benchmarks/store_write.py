"""How fast the history store writes the first cycle of a 10,000-workload cluster.

    python -m benchmarks.store_write [--quick]

The first cycle records ~10,000 terminal runs and ~1,000 failures, each failure carrying a JSON
evidence bundle of a few KB. The store writes each table's rows as newline-delimited JSON to a
scratch file and runs one INSERT ... SELECT FROM read_json(...) with explicit column types.
Measured in the same run against the other ways to write the same rows with the dependencies we
have: DuckDB's executemany, one INSERT per row (measured on a tenth of the rows and scaled up: the
full set takes ~10 s), multi-row VALUES statements, and one JSON array parameter through
from_json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from benchmarks.report import Figure, emit, exit_code
from history import connection, row_codec
from history.records import FailureRecord, RunRecord
from history.store import HistoryStore

RUNS = 10_000
FAILURES = 1_000
BASELINE_SHARE = 10  # executemany is measured on 1/10 of the rows
REPEATS = 5  # the machine is shared: report medians
START = datetime(2026, 11, 1, tzinfo=UTC)
SIZE = f"{RUNS} runs + {FAILURES} failures"


def bundle(i: int) -> dict[str, object]:
    """About 4 KB, shaped like failure-signals.md's evidence bundle."""
    return {
        "workload": {"name": f"train-{i}", "type": "Training", "phase": "Failed",
                     "phaseMessage": "BackoffLimitExceeded", "projectName": "team-a"},
        "events": [{"type": "Warning", "reason": "BackOff", "source": "kubelet",
                    "message": f"Back-off restarting failed container trainer in pod train-{i}-0",
                    "createdAt": "2026-11-01T10:00:00Z"}] * 4,
        "pods": [{"name": f"train-{i}-0", "nodeName": "dgx-a100-07",
                  "status": {"phase": "Failed", "containerStatuses": [{"name": "trainer",
                             "restartCount": 3, "state": {"terminated": {"exitCode": 1}}}]}}],
        "logs": "".join(f"step {s}: loss=0.{s:04d} lr=3e-4 tokens/s=18234\n" for s in range(60))
        + "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n",
    }  # fmt: skip


def records() -> tuple[list[FailureRecord], list[RunRecord]]:
    failures, runs = [], []
    for i in range(RUNS):
        finished = START + timedelta(seconds=i)
        runs.append(RunRecord(
            run_id=row_codec.run_id(f"wl-{i}", finished), workload_id=f"wl-{i}",
            workload_name=f"train-{i}", project=f"team-{i % 20}", department="research",
            workload_type="training", phase="Failed" if i < FAILURES else "Completed",
            finished_at=finished, created_at=finished - timedelta(hours=2),
            node=f"dgx-{i % 64}", image="nvcr.io/nvidia/pytorch:24.05-py3", gpus_requested=8.0,
        ))  # fmt: skip
    for i in range(FAILURES):
        at = START + timedelta(seconds=i)
        failures.append(FailureRecord(
            episode_id=row_codec.episode_id(f"wl-{i}", at), timestamp=at, workload_id=f"wl-{i}",
            workload_name=f"train-{i}", project=f"team-{i % 20}", department="research",
            workload_type="training", kind="failed", category="gpu_oom", confidence=0.95,
            summary="The trainer ran out of GPU memory.",
            evidence="torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
            evidence_source="log", recommendation="Lower the per-GPU batch size.",
            node=f"dgx-{i % 64}", pod=f"train-{i}-0", image="nvcr.io/nvidia/pytorch:24.05-py3",
            gpus_requested=8.0, exit_code=1, details={"exit_code": 1}, logs_available=True,
            bundle=bundle(i),
        ))  # fmt: skip
    return failures, runs


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


Writer = Callable[[duckdb.DuckDBPyConnection, row_codec.Table, list[str]], None]


def _values(table: row_codec.Table, rows: list[str]) -> list[list[object]]:
    """Encoded rows as parameter lists in column order; JSON columns as text."""
    out = []
    for row in rows:
        data = json.loads(row)
        out.append([
            json.dumps(data[name]) if sql_type == "JSON" and data[name] is not None else data[name]
            for name, sql_type in table.columns
        ])  # fmt: skip
    return out


def executemany(conn: duckdb.DuckDBPyConnection, table: row_codec.Table, rows: list[str]) -> None:
    marks = ", ".join("?" for _ in table.columns)
    conn.executemany(f"INSERT INTO {table.name} VALUES ({marks})", _values(table, rows))


def values_chunks(
    conn: duckdb.DuckDBPyConnection, table: row_codec.Table, rows: list[str]
) -> None:
    values = _values(table, rows)
    one = "(" + ", ".join("?" for _ in table.columns) + ")"
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        conn.execute(
            f"INSERT INTO {table.name} VALUES {', '.join([one] * len(chunk))} "
            "ON CONFLICT DO NOTHING",
            [value for row in chunk for value in row],
        )


def from_json_param(
    conn: duckdb.DuckDBPyConnection, table: row_codec.Table, rows: list[str]
) -> None:
    struct = json.dumps(dict(table.columns))
    names = ", ".join(f'"{name}"' for name, _ in table.columns)
    conn.execute(
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM "
        f"(SELECT unnest(from_json($rows::JSON, '[{struct}]'), recursive := true)) "
        "ON CONFLICT DO NOTHING",
        {"rows": "[" + ",".join(rows) + "]"},
    )


def write_once(folder: Path, writer: Writer, failures: list[str], runs: list[str]) -> float:
    """Seconds for open, write both tables in one transaction, commit, close: as flush() does."""
    path = folder / f"alt-{time.monotonic_ns()}.db"
    HistoryStore(path).open()

    def write() -> None:
        conn = connection.connect(path, read_only=False)
        conn.begin()
        writer(conn, row_codec.FAILURE_EVENTS, failures)
        writer(conn, row_codec.WORKLOAD_RUNS, runs)
        conn.commit()
        conn.close()

    seconds, _ = timed(write)
    return seconds


def alternatives(
    folder: Path, failures: list[FailureRecord], runs: list[RunRecord], trials: int = 3
) -> dict[str, float]:
    """Median seconds of the other ways to write the same rows (executemany on a tenth, x10)."""
    now = datetime.now(UTC)
    f_rows = [row_codec.encode_failure(f, now) for f in failures]
    r_rows = [row_codec.encode_run(r, now) for r in runs]
    tenth = (f_rows[: FAILURES // BASELINE_SHARE], r_rows[: RUNS // BASELINE_SHARE])
    return {
        "executemany": BASELINE_SHARE * statistics.median(
            write_once(folder, executemany, *tenth) for _ in range(trials)
        ),
        "values": statistics.median(
            write_once(folder, values_chunks, f_rows, r_rows) for _ in range(trials)
        ),
        "from_json": statistics.median(
            write_once(folder, from_json_param, f_rows, r_rows) for _ in range(trials)
        ),
    }  # fmt: skip


def first_cycle(
    folder: Path, failures: list[FailureRecord], runs: list[RunRecord]
) -> dict[str, float]:
    """One fresh file through a first cycle, a repeated cycle, an idle flush and a restart."""
    path = folder / f"history-{time.monotonic_ns()}.db"
    store = HistoryStore(path)
    store.open()
    enqueue_s, _ = timed(lambda: store.enqueue(failures, runs))
    flush_s, first = timed(store.flush)
    assert (first.failures_written, first.runs_written) == (FAILURES, RUNS), first  # type: ignore[attr-defined]
    store.enqueue(failures, runs)
    again_s, again = timed(store.flush)
    assert again.duplicates == FAILURES + RUNS, again  # type: ignore[attr-defined]
    idle_s, _ = timed(store.flush)
    known_s, _ = timed(lambda: (store.known_episode_ids(), store.known_run_ids()))
    return {
        "enqueue": enqueue_s, "flush": flush_s, "again": again_s, "idle": idle_s,
        "known": known_s, "size": float(path.stat().st_size),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_write")
    parser.add_argument("--quick", action="store_true", help="a smoke run: one trial of each")
    repeats = 1 if parser.parse_args(argv).quick else REPEATS
    failures, runs = records()
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        folder = Path(tmp)
        trials = [first_cycle(folder, failures, runs) for _ in range(repeats)]
        other = alternatives(folder, failures, runs, trials=min(3, repeats))
    m = {key: statistics.median(t[key] for t in trials) for key in trials[0]}
    note = f", median of {repeats}"
    figures = [
        Figure("first-cycle flush" + note, m["flush"], "s", SIZE,
               "row-by-row executemany (1/10 measured, x10)", other["executemany"], "< 2 s",
               m["flush"] < 2.0),
        Figure("first-cycle flush" + note, m["flush"], "s", SIZE,
               "multi-row VALUES, 500 rows a statement", other["values"]),
        Figure("first-cycle flush" + note, m["flush"], "s", SIZE,
               "one JSON array parameter via from_json", other["from_json"]),
        Figure(f"first-cycle flush, slowest of {repeats}", max(t["flush"] for t in trials),
               "s", SIZE, bar="< 2 s", passed=max(t["flush"] for t in trials) < 2.0),
        Figure("enqueue (encode rows)" + note, m["enqueue"], "s", SIZE),
        Figure("flush of duplicates" + note, m["again"], "s", SIZE),
        Figure("flush, nothing queued" + note, m["idle"], "s", "0 records",
               bar="does not open the file", passed=m["idle"] < 0.001),
        Figure("known ids at start-up" + note, m["known"], "s", SIZE),
        Figure("file size after first cycle", m["size"], "bytes", SIZE),
    ]  # fmt: skip
    emit("store_write", figures)
    return exit_code(figures)


if __name__ == "__main__":
    raise SystemExit(main())
