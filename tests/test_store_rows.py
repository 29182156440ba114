"""Record encoding and the bulk insert, against the real schema."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from history import connection, row_codec
from history.store import HistoryStore
from tests.fixtures_store import BASE_TIME, make_failure, make_run

NOW = datetime(2026, 11, 26, tzinfo=UTC)


@pytest.mark.parametrize("table", [row_codec.FAILURE_EVENTS, row_codec.WORKLOAD_RUNS])
def test_tables_match_the_schema(history_path: Path, table: row_codec.Table) -> None:
    HistoryStore(history_path).open()
    conn = connection.connect(history_path, read_only=True)
    try:
        described = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = ? ORDER BY ordinal_position",
            [table.name],
        ).fetchall()
    finally:
        conn.close()
    aliases = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ"}
    assert [(n, aliases.get(t, t)) for n, t, _ in described] == list(table.columns)
    assert {n for n, _, nullable in described if nullable == "YES"} == table.nullable


def test_ids_are_built_from_the_utc_instant() -> None:
    paris = timezone(timedelta(hours=1))
    at = datetime(2026, 11, 20, 9, 30, tzinfo=paris)
    assert row_codec.episode_id("wl-1", at) == "wl-1@2026-11-20T08:30:00+00:00"
    assert row_codec.run_id("wl-1", at) == "wl-1@2026-11-20T08:30:00+00:00"


def test_a_timestamp_with_another_offset_is_stored_as_utc() -> None:
    at = datetime(2026, 11, 20, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    record = make_failure("wl-1", at, episode_id=row_codec.episode_id("wl-1", at))
    assert '"timestamp": "2026-11-20T08:30:00+00:00"' in row_codec.encode_failure(record, NOW)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"workload_name": None}, "workload_name is required"),
        ({"project": 7}, "project=7 is not a valid VARCHAR"),
        ({"confidence": "high"}, "confidence='high' is not a valid DOUBLE"),
        ({"exit_code": 2**40}, "exit_code=1099511627776 is not a valid INTEGER"),
        ({"exit_code": True}, "exit_code=True is not a valid INTEGER"),
        ({"logs_available": 1}, "logs_available=1 is not a valid BOOLEAN"),
        ({"confidence": float("inf")}, "NaN or infinite"),
    ],
)
def test_a_row_duckdb_would_reject_fails_at_encoding(
    override: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        row_codec.encode_failure(make_failure(**override), NOW)
    assert str(caught.value).startswith(f"wl-1@{BASE_TIME.isoformat()}: ")


def test_optional_fields_may_be_missing(history_path: Path) -> None:
    HistoryStore(history_path).open()
    failure = replace(
        make_failure(),
        department=None, node=None, pod=None, image=None, gpus_requested=None, exit_code=None,
        cluster_id=None,
    )  # fmt: skip
    run = make_run(department=None, created_at=None, node=None, image=None, gpus_requested=None)
    conn = duckdb.connect(str(history_path))
    try:
        assert (
            row_codec.insert(
                conn,
                row_codec.FAILURE_EVENTS,
                [row_codec.encode_failure(failure, NOW)],
                database=history_path,
            )
            == 1
        )
        assert (
            row_codec.insert(
                conn,
                row_codec.WORKLOAD_RUNS,
                [row_codec.encode_run(run, NOW)],
                database=history_path,
            )
            == 1
        )
        assert conn.execute("SELECT node, exit_code FROM failure_events").fetchall() == [
            (None, None)
        ]
        assert conn.execute("SELECT created_at FROM workload_runs").fetchall() == [(None,)]
    finally:
        conn.close()


def test_insert_counts_only_new_rows(history_path: Path) -> None:
    HistoryStore(history_path).open()
    rows = [row_codec.encode_run(make_run(f"wl-{i}"), NOW) for i in range(5)]
    conn = duckdb.connect(str(history_path))
    try:
        runs = row_codec.WORKLOAD_RUNS
        assert row_codec.insert(conn, runs, rows[:3], database=history_path) == 3
        assert row_codec.insert(conn, runs, rows, database=history_path) == 2
        assert row_codec.insert(conn, runs, [], database=history_path) == 0
    finally:
        conn.close()
    assert row_codec.scratch_files(history_path) == []
    assert sorted(p.name for p in history_path.parent.iterdir()) == [history_path.name]


def test_rows_are_split_into_statements_of_bounded_size() -> None:
    rows = ["a" * 30, "b" * 30, "c" * 100, "d" * 10, "e" * 10, "f" * 10]
    parts = [list(part) for part in row_codec.statements(rows, limit=64)]
    assert parts == [["a" * 30, "b" * 30], ["c" * 100], ["d" * 10, "e" * 10, "f" * 10]]
    assert list(row_codec.statements([], limit=64)) == []


def test_insert_in_several_statements_writes_and_counts_as_one(
    history_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids already written by an earlier statement of the same insert (and transaction) are
    skipped like those already in the file."""
    HistoryStore(history_path).open()
    monkeypatch.setattr(row_codec, "STATEMENT_BYTES", 1000)  # a few runs a statement
    rows = [row_codec.encode_run(make_run(f"wl-{i}"), NOW) for i in range(40)]
    assert len(list(row_codec.statements(rows))) > 5
    runs = row_codec.WORKLOAD_RUNS
    conn = duckdb.connect(str(history_path))
    try:
        conn.begin()
        assert row_codec.insert(conn, runs, rows[:10], database=history_path) == 10
        assert row_codec.insert(conn, runs, rows, database=history_path) == 30
        conn.commit()
        counted = conn.execute("SELECT count(DISTINCT run_id), count(*) FROM workload_runs")
        assert counted.fetchall() == [(40, 40)]
    finally:
        conn.close()
    assert row_codec.scratch_files(history_path) == []


def test_a_record_larger_than_read_jsons_default_limit(history_path: Path) -> None:
    HistoryStore(history_path).open()
    huge_log = "x" * (20 * 1024 * 1024)  # 20 MB on one line; read_json's default cap is 16 MB
    row = row_codec.encode_failure(make_failure(bundle={"logs": huge_log}), NOW)
    conn = duckdb.connect(str(history_path))
    try:
        assert row_codec.insert(conn, row_codec.FAILURE_EVENTS, [row], database=history_path) == 1
        stored = conn.execute("SELECT length(bundle->>'$.logs') FROM failure_events").fetchone()
    finally:
        conn.close()
    assert stored == (len(huge_log),)


def test_open_removes_scratch_files_of_a_killed_writer(history_path: Path) -> None:
    HistoryStore(history_path).open()
    leftover = history_path.with_name(
        f".{history_path.name}.workload_runs.abc{row_codec.SCRATCH_SUFFIX}"
    )
    leftover.write_text('{"run_id": "half"}')
    unrelated = history_path.with_name(".other.db.workload_runs.abc" + row_codec.SCRATCH_SUFFIX)
    unrelated.write_text("{}")
    HistoryStore(history_path).open()
    assert not leftover.exists() and unrelated.exists()
