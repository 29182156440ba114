"""The history as a Parquet dataset, partitioned by cluster and day, for a fleet's shared store.

One sidecar runs per cluster, each with its own history file. `db export` writes one file's
rows as Hive-partitioned Parquet (`<dir>/failure_events/cluster=<c>/day=<YYYY-MM-DD>/…`), so
several clusters' exports side by side are one dataset that DuckDB, Spark, Trino or a query
engine over object storage reads with partition pruning. Re-exporting replaces the cluster's
own partitions and leaves other clusters' untouched.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from history.lifecycle import open_ours

# table -> the UTC instant its day partition is taken from
TABLES: dict[str, str] = {"failure_events": '"timestamp"', "workload_runs": "finished_at"}
CLUSTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


@dataclass(frozen=True)
class ExportResult:
    cluster: str
    rows: dict[str, int]


def export_parquet(
    path: str | os.PathLike[str], target: Path, cluster: str, *, timeout_s: float = 10.0
) -> ExportResult:
    """Write the history at `path` under `target` as this cluster's partitions."""
    if not CLUSTER_NAME.fullmatch(cluster):
        raise ValueError(
            f"invalid cluster name {cluster!r}: letters, digits, '.', '_' and '-', at most 63"
        )
    rows: dict[str, int] = {}
    # open_ours refuses a file that is not our history, and turns DuckDB errors into StoreError
    with open_ours(Path(path), timeout_s=timeout_s) as (conn, _):
        conn.execute("SET TimeZone = 'UTC'")
        for table, instant in TABLES.items():
            own = target / table / f"cluster={cluster}"
            staging = target / table / f".cluster={cluster}.staging"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            rows[table] = int(count[0]) if count else 0
            if rows[table]:
                conn.execute(
                    f"COPY (SELECT *, strftime({instant}, '%Y-%m-%d') AS day FROM {table}) "
                    f"TO '{_sql_path(staging)}' (FORMAT PARQUET, PARTITION_BY (day))"
                )
            # Swap in the new partitions whole: a reader never sees half an export.
            shutil.rmtree(own, ignore_errors=True)
            staging.rename(own)
    return ExportResult(cluster, rows)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")
