"""Several clusters' histories read as one: the same tables, a `cluster` column more.

An in-memory DuckDB attaches each history file READ_ONLY (through the same lock-retrying open
as one file: a sidecar may be writing it) and reads each Parquet dataset with hive
partitioning; views named like the single file's tables (failure_events, workload_runs) are
UNION ALL BY NAME over the sources, each row carrying its `cluster`. So every tool, the SQL
tool and a person's query run unchanged. The first branch of each union is the schema's own
empty table, which fixes the column types even when a dataset lacks a table.

A Run:ai cluster id found in two sources means one cluster recorded twice (a backup beside its
live file, two sidecars on one cluster): refused, since summing them would double its counts.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from history.connection import CONFIG, retry_locked
from history.schema import APPLICATION_ID, MIGRATIONS
from history.sources import TABLES, HistorySourceError, Source


def open_fleet(sources: list[Source], *, timeout_s: float = 10.0) -> duckdb.DuckDBPyConnection:
    """One read-only view of every source; HistorySourceError or StoreLocked, one line each."""
    conn = duckdb.connect(":memory:", config=CONFIG)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        _contract(conn)
        branches: dict[str, list[str]] = {t: [f"{_typed_empty(t)}"] for t in TABLES}
        for i, source in enumerate(sources):
            if source.kind == "file":
                alias = f"history_{i}"
                _attach(conn, source.path, alias, timeout_s)
                for table in TABLES:
                    branches[table].append(
                        f"SELECT *, {_literal(source.clusters[0])} AS cluster FROM {alias}.{table}"
                    )
            else:
                for table in TABLES:
                    if _has_parquet(source.path / table):
                        branches[table].append(_parquet_branch(source.path / table))
        _create_views(conn, branches, sources)
        _refuse_one_cluster_twice(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def parquet_roots(sources: list[Source]) -> list[str]:
    """The folders a locked-down session (the SQL tool's) must still be allowed to read."""
    return [str(s.path.resolve()) + "/" for s in sources if s.kind == "parquet"]


def _contract(conn: duckdb.DuckDBPyConnection) -> None:
    """The schema's tables, empty, in a database of their own (the column types' anchor)."""
    conn.execute("ATTACH ':memory:' AS contract")
    conn.execute("USE contract")
    for migration in MIGRATIONS:
        conn.execute(migration)
    conn.execute("USE memory")


def _typed_empty(table: str) -> str:
    return f"SELECT *, CAST(NULL AS VARCHAR) AS cluster FROM contract.{table}"


def _attach(conn: duckdb.DuckDBPyConnection, path: Path, alias: str, timeout_s: float) -> None:
    try:
        retry_locked(
            lambda: conn.execute(f"ATTACH {_literal(str(path))} AS {alias} (READ_ONLY)"),
            path,
            timeout_s=timeout_s,
        )
    except duckdb.Error as exc:
        raise HistorySourceError(
            f"{path} is not a readable DuckDB history: {_first_line(exc)}"
        ) from None
    # Ours: both tables, and no other application's mark (a file made from the migrations
    # without the store, as the benchmarks' seeds are, carries no mark and is read).
    tables = {
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
            "AND schema_name = 'main'",
            [alias],
        ).fetchall()
    }
    marks: set[str] = set()
    if "schema_info" in tables:
        rows = conn.execute(f"SELECT DISTINCT application_id FROM {alias}.schema_info")
        marks = {str(r[0]) for r in rows.fetchall()}
    if not set(TABLES) <= tables or marks - {APPLICATION_ID}:
        raise HistorySourceError(f"{path} is a DuckDB file but not a failure history")


def _has_parquet(folder: Path) -> bool:
    return next(folder.glob("cluster=*/**/*.parquet"), None) is not None


def _parquet_branch(folder: Path) -> str:
    files = _literal(f"{folder}/cluster=*/**/*.parquet")
    # `cluster` read as text whatever it looks like (a cluster named 2024 stays '2024');
    # `day` is the partition key only, the rows keep their own instants.
    return (
        f"SELECT * EXCLUDE (day) FROM read_parquet({files}, hive_partitioning = true, "
        "union_by_name = true, hive_types = {'cluster': VARCHAR, 'day': VARCHAR})"
    )


def _create_views(
    conn: duckdb.DuckDBPyConnection, branches: dict[str, list[str]], sources: list[Source]
) -> None:
    """The views, and with a Parquet dataset a count through each (its files' footers), so a
    damaged file is named now rather than in the middle of some answer."""
    datasets = ", ".join(str(s.path) for s in sources if s.kind == "parquet")
    try:
        for table, selects in branches.items():
            conn.execute(f"CREATE VIEW {table} AS " + " UNION ALL BY NAME ".join(selects))
            if datasets:
                conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    except duckdb.Error as exc:
        if not datasets:
            raise
        raise HistorySourceError(
            f"cannot read the Parquet dataset {datasets}: {_first_line(exc)}"
        ) from None


def _refuse_one_cluster_twice(conn: duckdb.DuckDBPyConnection) -> None:
    row = conn.execute(
        "SELECT cluster_id, string_agg(DISTINCT cluster, ' and ' ORDER BY cluster) "
        "FROM failure_events WHERE cluster_id IS NOT NULL "
        "GROUP BY cluster_id HAVING count(DISTINCT cluster) > 1 ORDER BY cluster_id LIMIT 1"
    ).fetchone()
    if row:
        raise HistorySourceError(
            f"histories {row[1]} hold the same Run:ai cluster ({row[0]}): one cluster recorded "
            "twice would be counted twice; give one of them"
        )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
