"""The DuckDB history file's schema, as forward migrations.

People query this file by hand (`duckdb /data/runai_failure_history.db`), so table and column
names of `failure_events` are a contract. Every timestamp is TIMESTAMPTZ (UTC).
A migration is appended, never edited: version N is MIGRATIONS[N - 1].
"""

from __future__ import annotations

from datetime import timedelta

from history.identity import SAME_ENTRY_TOLERANCE

# Marks the file as ours; a DuckDB file without it (or with another application id) is foreign.
APPLICATION_ID = "runai-failure-analysis"


def _seconds(span: timedelta) -> int:
    return int(span.total_seconds())


MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE IF NOT EXISTS schema_info (
        application_id VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        migrated_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE IF NOT EXISTS failure_events (
        episode_id VARCHAR PRIMARY KEY,
        "timestamp" TIMESTAMPTZ NOT NULL,
        workload_id VARCHAR NOT NULL,
        workload_name VARCHAR NOT NULL,
        project VARCHAR NOT NULL,
        department VARCHAR,
        workload_type VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        category VARCHAR NOT NULL,
        confidence DOUBLE NOT NULL,
        summary VARCHAR NOT NULL,
        evidence VARCHAR NOT NULL,
        evidence_source VARCHAR NOT NULL,
        recommendation VARCHAR NOT NULL,
        node VARCHAR,
        pod VARCHAR,
        image VARCHAR,
        gpus_requested DOUBLE,
        exit_code INTEGER,
        details JSON,
        logs_available BOOLEAN NOT NULL,
        bundle JSON,
        cluster_id VARCHAR,
        recorded_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE IF NOT EXISTS workload_runs (
        run_id VARCHAR PRIMARY KEY,
        workload_id VARCHAR NOT NULL,
        workload_name VARCHAR NOT NULL,
        project VARCHAR NOT NULL,
        department VARCHAR,
        workload_type VARCHAR NOT NULL,
        phase VARCHAR NOT NULL,
        finished_at TIMESTAMPTZ NOT NULL,
        created_at TIMESTAMPTZ,
        node VARCHAR,
        image VARCHAR,
        gpus_requested DOUBLE,
        recorded_at TIMESTAMPTZ NOT NULL
    );
    """,
    # version 2: when housekeeping (retention) last ran, so it runs once a day across restarts
    """
    CREATE TABLE IF NOT EXISTS maintenance (
        task VARCHAR PRIMARY KEY,
        last_run_at TIMESTAMPTZ NOT NULL
    );
    """,
    # version 3: one row per episode and per run. Before, an episode seen in the listing
    # (keyed on phaseUpdatedAt) and in the timeline (keyed on the history record's
    # creationTimestamp) was written twice when the stamps differed, and so was a run
    # (completedAt / creationTimestamp). Rows of one workload and kind (phase) whose
    # timestamps lie within the identity tolerance of the previous one are one entry; the
    # better-evidenced row stays: a named cause over `unknown`, logs read, higher confidence,
    # a node, a longer quote, then the first recorded.
    f"""
    DELETE FROM failure_events WHERE episode_id IN (
        SELECT episode_id FROM (
            SELECT episode_id, row_number() OVER (
                PARTITION BY workload_id, kind, entry
                ORDER BY (category <> 'unknown') DESC, logs_available DESC, confidence DESC,
                    (node IS NOT NULL) DESC, length(evidence) DESC, recorded_at, episode_id
            ) AS rank
            FROM (
                SELECT *, sum(starts) OVER (
                    PARTITION BY workload_id, kind ORDER BY "timestamp", episode_id
                    ROWS UNBOUNDED PRECEDING
                ) AS entry
                FROM (
                    SELECT *, CASE WHEN lag("timestamp") OVER (
                        PARTITION BY workload_id, kind ORDER BY "timestamp", episode_id
                    ) >= "timestamp" - INTERVAL {_seconds(SAME_ENTRY_TOLERANCE)} SECOND
                    THEN 0 ELSE 1 END AS starts
                    FROM failure_events
                )
            )
        ) WHERE rank > 1
    );
    DELETE FROM workload_runs WHERE run_id IN (
        SELECT run_id FROM (
            SELECT run_id, row_number() OVER (
                PARTITION BY workload_id, phase, entry
                ORDER BY (node IS NOT NULL) DESC, (created_at IS NOT NULL) DESC, recorded_at,
                    run_id
            ) AS rank
            FROM (
                SELECT *, sum(starts) OVER (
                    PARTITION BY workload_id, phase ORDER BY finished_at, run_id
                    ROWS UNBOUNDED PRECEDING
                ) AS entry
                FROM (
                    SELECT *, CASE WHEN lag(finished_at) OVER (
                        PARTITION BY workload_id, phase ORDER BY finished_at, run_id
                    ) >= finished_at - INTERVAL {_seconds(SAME_ENTRY_TOLERANCE)} SECOND
                    THEN 0 ELSE 1 END AS starts
                    FROM workload_runs
                )
            )
        ) WHERE rank > 1
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
