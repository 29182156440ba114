"""What DuckDB buys the agent: the same analytic queries on DuckDB and SQLite, side by side.

    python -m benchmarks.agent_history [--sizes 100000,1000000] [--repeat 15] [--quick]

For each size it generates that many failures (and 1.5x as many finished runs) spread over 90
days straight into a DuckDB history file with SQL (generate_series, no Python loops), in time
order as the sidecar appends them (so DuckDB's per-row-group min/max skip old data), copies the
same rows into SQLite (stdlib sqlite3, same columns, indexes on timestamp, project, category),
then times, in one run:
- the statistics queries ("Show me failure statistics") and the 7-day analysis queries
  ("Analyze failures from the last 7 days") on both engines, same SQL shape;
- the deterministic planner answering both questions end to end in process (open the file
  read-only, plan, query, write markdown): the serving layer adds HTTP on top of this;
- the cost of opening the file read-only, which the agent pays once per tool call.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.answer.planner import answer_deterministic
from agent.evals.seed import create_schema
from agent.types import ToolContext
from benchmarks.report import Figure, emit, exit_code
from history.categories import CATEGORIES
from history.connection import connect

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SPAN_S = 90 * 86400
BAR_S = 0.5

_CATEGORY_ARRAY = "[" + ", ".join(f"'{c}'" for c in CATEGORIES) + "]"


def generate_duckdb(path: Path, failures: int) -> None:
    create_schema(path)
    conn = connect(path, read_only=False)
    try:
        conn.execute(
            f"""
            INSERT INTO failure_events
            SELECT 'wl-' || (i % 20000) || '@' || i, ts, 'wl-' || (i % 20000),
                   'job-' || (i % 20000), 'project-' || (i % 50), NULL,
                   ['training', 'distributed', 'workspace', 'inference'][1 + (i % 4)],
                   CASE WHEN i % 10 = 0 THEN 'pending' WHEN i % 17 = 0 THEN 'degraded'
                        ELSE 'failed' END,
                   {_CATEGORY_ARRAY}[1 + (hash(i * 7) % {len(CATEGORIES)})::INTEGER],
                   0.9, 'summary', 'evidence line ' || i, 'log', 'recommendation',
                   'node-' || (hash(i * 13) % 500), 'pod-' || i,
                   'registry/image:' || (i % 200), (1 + i % 8)::DOUBLE, 1, '{{}}', true,
                   '{{}}', NULL, ts
            FROM (SELECT i, $now::TIMESTAMPTZ - to_seconds((hash(i) % {SPAN_S})::BIGINT) AS ts
                  FROM generate_series(1, {failures}) AS g(i))
            ORDER BY ts
            """,
            {"now": NOW},
        )
        runs = failures * 3 // 2
        conn.execute(
            f"""
            INSERT INTO workload_runs
            SELECT 'run-' || i, 'wl-' || (i % 20000), 'job-' || (i % 20000),
                   'project-' || (i % 50), NULL,
                   ['training', 'distributed', 'workspace', 'inference'][1 + (i % 4)],
                   CASE WHEN hash(i * 3) % 3 = 0 THEN 'Failed' ELSE 'Completed' END,
                   ts, ts - INTERVAL 1 HOUR, 'node-' || (hash(i * 11) % 500),
                   'registry/image:' || (i % 200), 1.0, ts
            FROM (SELECT i, $now::TIMESTAMPTZ - to_seconds((hash(i + 7) % {SPAN_S})::BIGINT) AS ts
                  FROM generate_series(1, {runs}) AS g(i))
            ORDER BY ts
            """,
            {"now": NOW},
        )
        conn.execute("CHECKPOINT")
    finally:
        conn.close()


_SQLITE_DDL = """
CREATE TABLE failure_events (episode_id TEXT PRIMARY KEY, timestamp TEXT NOT NULL,
  workload_id TEXT, workload_name TEXT, project TEXT, workload_type TEXT, kind TEXT,
  category TEXT, node TEXT, image TEXT, gpus_requested REAL, evidence TEXT);
CREATE TABLE workload_runs (run_id TEXT PRIMARY KEY, workload_name TEXT, project TEXT,
  workload_type TEXT, phase TEXT, finished_at TEXT NOT NULL, node TEXT, image TEXT);
CREATE INDEX fe_ts ON failure_events (timestamp);
CREATE INDEX fe_project ON failure_events (project);
CREATE INDEX fe_category ON failure_events (category);
CREATE INDEX wr_finished ON workload_runs (finished_at);
CREATE INDEX wr_project ON workload_runs (project);
"""

_ISO = "strftime({col}, '%Y-%m-%dT%H:%M:%S+00:00')"


def copy_to_sqlite(source: Path, target: Path) -> None:
    src = connect(source, read_only=True)
    dst = sqlite3.connect(target)
    try:
        dst.executescript(_SQLITE_DDL)
        copies = (
            (
                f"""SELECT episode_id, {_ISO.format(col='"timestamp"')}, workload_id,
                workload_name, project, workload_type, kind, category, node, image,
                gpus_requested, evidence FROM failure_events""",
                "INSERT INTO failure_events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            ),
            (
                f"""SELECT run_id, workload_name, project, workload_type, phase,
                {_ISO.format(col="finished_at")}, node, image FROM workload_runs""",
                "INSERT INTO workload_runs VALUES (?,?,?,?,?,?,?,?)",
            ),
        )
        for select, insert in copies:
            cursor = src.execute(select)
            while batch := cursor.fetchmany(100_000):
                dst.executemany(insert, batch)
        dst.commit()
        dst.execute("ANALYZE")
    finally:
        src.close()
        dst.close()


# The planner's queries in a shape both engines run: {hour} differs, the rest is shared.
_WINDOW = '"timestamp" >= :start AND "timestamp" < :end'
_RUNS = "finished_at >= :start AND finished_at < :end AND phase IN ('Completed', 'Failed')"
STATISTICS_SQL = (
    f"""SELECT category, count(*), sum(kind = 'failed') FROM failure_events
    WHERE {_WINDOW} GROUP BY category""",
    f"SELECT count(*), sum(phase = 'Failed') FROM workload_runs WHERE {_RUNS}",
    f"SELECT project, count(*), sum(kind = 'failed') FROM failure_events WHERE {_WINDOW} "
    "GROUP BY project",
    f"SELECT project, count(*), sum(phase = 'Failed') FROM workload_runs WHERE {_RUNS} "
    "GROUP BY project",
)
ANALYSIS_SQL = (
    """SELECT "timestamp" >= :start, count(*), sum(kind = 'failed') FROM failure_events
    WHERE "timestamp" >= :prev AND "timestamp" < :end GROUP BY 1""",
    """SELECT finished_at >= :start, count(*), sum(phase = 'Failed') FROM workload_runs
    WHERE finished_at >= :prev AND finished_at < :end AND phase IN ('Completed', 'Failed')
    GROUP BY 1""",
    """SELECT category, sum("timestamp" >= :start), sum("timestamp" < :start),
           sum(CASE WHEN "timestamp" >= :start THEN gpus_requested ELSE 0 END)
    FROM failure_events WHERE "timestamp" >= :prev AND "timestamp" < :end GROUP BY category""",
    f"""WITH f AS (SELECT node, count(*) AS n FROM failure_events
                   WHERE {_WINDOW} AND node IS NOT NULL GROUP BY node),
        r AS (SELECT node, count(*) AS runs, sum(phase = 'Failed') AS failed FROM workload_runs
              WHERE {_RUNS} AND node IS NOT NULL GROUP BY node)
    SELECT f.node, f.n, r.runs, r.failed FROM f LEFT JOIN r ON f.node = r.node
    ORDER BY 1.0 * r.failed / r.runs DESC LIMIT 5""",
    f"""SELECT workload_name, count(*) AS n FROM failure_events WHERE {_WINDOW}
    GROUP BY workload_name HAVING count(*) >= 2 ORDER BY n DESC LIMIT 5""",
    f"""SELECT image, count(*) AS n, count(DISTINCT workload_id) FROM failure_events
    WHERE {_WINDOW} AND image IS NOT NULL GROUP BY image HAVING count(*) >= 2
    ORDER BY n DESC LIMIT 5""",
    f"""SELECT {{hour}} AS h, count(*) AS n FROM failure_events WHERE {_WINDOW}
    GROUP BY h ORDER BY n DESC LIMIT 3""",
    f"""SELECT {{day}} AS d, category, count(*) FROM failure_events WHERE {_WINDOW}
    GROUP BY d, category""",
)
DIALECT = {
    "duckdb": {"hour": 'hour("timestamp")', "day": "date_trunc('day', \"timestamp\")"},
    "sqlite": {"hour": 'substr("timestamp", 12, 2)', "day": 'substr("timestamp", 1, 10)'},
}


def _params(engine: str) -> dict[str, Any]:
    start, end = NOW - timedelta(days=7), NOW
    values = {"start": start, "end": end, "prev": start - timedelta(days=7)}
    if engine == "sqlite":
        return {k: v.strftime("%Y-%m-%dT%H:%M:%S+00:00") for k, v in values.items()}
    return values


def _run_set(cursor: Any, engine: str, queries: Sequence[str]) -> None:
    params = _params(engine)
    for sql in queries:
        text = sql.replace("{hour}", DIALECT[engine]["hour"]).replace(
            "{day}", DIALECT[engine]["day"]
        )
        wanted = {k: v for k, v in params.items() if f":{k}" in text}
        if engine == "duckdb":
            text = text.replace(":start", "$start").replace(":end", "$end")
            text = text.replace(":prev", "$prev")
        cursor.execute(text, wanted).fetchall()


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm-up: page cache and catalog, as a long-running agent would have
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def bench_size(folder: Path, failures: int, repeat: int) -> list[Figure]:
    size = f"{failures} failures"
    duck_path, lite_path = folder / f"h{failures}.duckdb", folder / f"h{failures}.sqlite"
    started = time.perf_counter()
    generate_duckdb(duck_path, failures)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    copy_to_sqlite(duck_path, lite_path)
    copied = time.perf_counter() - started
    print(f"{size}: DuckDB generated in {generated:.1f} s, copied to SQLite in {copied:.1f} s")

    duck = connect(duck_path, read_only=True)
    lite = sqlite3.connect(lite_path)
    figures = [
        Figure("DuckDB file written with SQL", generated, "s", size),
        Figure(
            "history file size",
            float(duck_path.stat().st_size),
            "bytes",
            size,
            "SQLite file size",
            float(lite_path.stat().st_size),
        ),
    ]
    try:
        for label, queries in (("statistics", STATISTICS_SQL), ("7-day analysis", ANALYSIS_SQL)):
            d = timed(lambda q=queries: _run_set(duck, "duckdb", q), repeat)  # type: ignore[misc]
            s = timed(lambda q=queries: _run_set(lite, "sqlite", q), repeat)  # type: ignore[misc]
            figures.append(
                Figure(
                    f"{label} queries, DuckDB p50",
                    statistics.median(d),
                    "s",
                    size,
                    "SQLite p50",
                    statistics.median(s),
                )
            )
    finally:
        duck.close()
        lite.close()

    ctx = ToolContext(db_path=str(duck_path), prometheus_url=None, now=NOW)
    opened = timed(lambda: connect(duck_path, read_only=True).close(), repeat)
    figures.append(Figure("read-only open + close p50", statistics.median(opened), "s", size))
    for question in ("Show me failure statistics", "Analyze failures from the last 7 days"):
        samples = timed(lambda q=question: answer_deterministic(q, ctx), repeat)  # type: ignore[misc]
        value = p95(samples)
        figures.append(
            Figure(f"planner p50: {question[:30]}", statistics.median(samples), "s", size)
        )
        figures.append(
            Figure(
                f"planner p95: {question[:30]}",
                value,
                "s",
                size,
                bar=f"<= {BAR_S} s (in process)",
                passed=value <= BAR_S,
            )
        )
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.agent_history")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated failures")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10,000 and 100,000")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.quick:
        sizes, args.repeat = [10_000, 100_000], 3
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-agent-history-") as tmp:
        for failures in sizes:
            figures += bench_size(Path(tmp), failures, args.repeat)
    emit("agent_history", figures)
    return exit_code(figures)


if __name__ == "__main__":
    raise SystemExit(main())
