"""`db export --parquet`: a history file as a Parquet dataset partitioned by cluster and day,
read back by DuckDB as one fleet-wide dataset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from common.errors import StoreError
from history.export import export_parquet
from tests.fixtures_store import KNOWN_FAILURES, KNOWN_RUNS

ROOT = Path(__file__).resolve().parent.parent


def read(dataset: Path, table: str, sql: str) -> list[tuple[object, ...]]:
    conn = duckdb.connect()
    try:
        conn.execute("SET TimeZone = 'UTC'")
        source = f"read_parquet('{dataset}/{table}/**/*.parquet', hive_partitioning = true)"
        return conn.execute(sql.format(source=source)).fetchall()
    finally:
        conn.close()


def test_two_clusters_exports_are_one_dataset_partitioned_by_day(
    history_db: Path, tmp_path: Path
) -> None:
    dataset = tmp_path / "fleet"
    first = export_parquet(history_db, dataset, "east")
    export_parquet(history_db, dataset, "west")
    assert first.rows == {"failure_events": len(KNOWN_FAILURES), "workload_runs": len(KNOWN_RUNS)}
    per_cluster = read(dataset, "failure_events",
                       "SELECT cluster, count(*) FROM {source} GROUP BY 1 ORDER BY 1")
    assert per_cluster == [("east", len(KNOWN_FAILURES)), ("west", len(KNOWN_FAILURES))]
    days = {p.name for p in (dataset / "failure_events" / "cluster=east").iterdir()}
    expected = {f"day={f.timestamp:%Y-%m-%d}" for f in KNOWN_FAILURES}
    assert days == expected
    # The rows are the history's own, with their UTC instants.
    stamps = read(dataset, "failure_events",
                  'SELECT episode_id, "timestamp" FROM {source} WHERE cluster = \'east\'')
    assert {(e, t) for e, t in stamps} == {(f.episode_id, f.timestamp) for f in KNOWN_FAILURES}
    runs = read(dataset, "workload_runs", "SELECT count(*) FROM {source} WHERE cluster = 'west'")
    assert runs == [(len(KNOWN_RUNS),)]


def test_a_reexport_replaces_only_its_own_cluster(history_db: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "fleet"
    export_parquet(history_db, dataset, "east")
    export_parquet(history_db, dataset, "west")
    export_parquet(history_db, dataset, "east")  # again: no doubles, west untouched
    counts = read(dataset, "failure_events",
                  "SELECT cluster, count(*) FROM {source} GROUP BY 1 ORDER BY 1")
    assert counts == [("east", len(KNOWN_FAILURES)), ("west", len(KNOWN_FAILURES))]
    assert not list((dataset / "failure_events").glob(".*staging"))


def test_a_file_that_is_not_a_history_is_refused(tmp_path: Path) -> None:
    stranger = tmp_path / "other.db"
    duckdb.connect(str(stranger)).close()
    with pytest.raises(StoreError):
        export_parquet(stranger, tmp_path / "fleet", "east")
    with pytest.raises(ValueError, match="invalid cluster name"):
        export_parquet(stranger, tmp_path / "fleet", "east/../../etc")


def test_the_db_command_exports_and_says_what(history_db: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "db", "export", str(history_db),
         "--parquet", str(tmp_path / "fleet"), "--cluster", "east"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"exported {len(KNOWN_FAILURES)} failure_events, {len(KNOWN_RUNS)} workload_runs "
        f"of cluster east to {tmp_path / 'fleet'}"
    )
