"""The DuckDB history file's schema, as forward migrations.

People query this file by hand (`duckdb /data/runai_failure_history.db`), so table and column
names of `failure_events` are a contract. Every timestamp is TIMESTAMPTZ (UTC).
A migration is appended, never edited: version N is MIGRATIONS[N - 1].
"""

from __future__ import annotations

# Marks the file as ours; a DuckDB file without it (or with another application id) is foreign.
APPLICATION_ID = "runai-failure-analysis"

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
)

SCHEMA_VERSION = len(MIGRATIONS)
