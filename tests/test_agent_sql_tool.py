import resource
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from agent.tools import sql
from agent.tools.sql import SQL_TOOL, TIME_LIMIT_S, SqlRejected, check_select, run_sql
from agent.types import ToolContext
from history import reader
from history.schema import MIGRATIONS

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "history.db")
    con = duckdb.connect(path)
    for ddl in MIGRATIONS:
        con.execute(ddl)
    con.execute(
        "INSERT INTO workload_runs SELECT 'r' || i, 'w' || i, 'job-' || i, 'team-a', NULL,"
        " 'training', CASE WHEN i % 4 = 0 THEN 'Failed' ELSE 'Completed' END,"
        " TIMESTAMPTZ '2026-11-25 00:00:00+00', NULL, 'node-1', 'img', 1, now()"
        " FROM range(500) t(i)"
    )
    con.close()
    return path


def ctx(path: str) -> ToolContext:
    return ToolContext(db_path=path, prometheus_url=None, now=NOW)


def test_select_runs_and_counts_are_exact(db):
    result = run_sql(
        ctx(db),
        {"query": "SELECT phase, count(*) AS n FROM workload_runs GROUP BY phase ORDER BY phase"},
    )
    assert result.status == "ok", result.message
    assert result.data["columns"] == ["phase", "n"]
    assert result.data["rows"] == [["Completed", 375], ["Failed", 125]]
    assert result.data["truncated"] is False


def test_with_select_is_a_select(db):
    query = "WITH f AS (SELECT * FROM workload_runs WHERE phase = 'Failed') SELECT count(*) FROM f"
    assert run_sql(ctx(db), {"query": query}).data["rows"] == [[125]]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("DELETE FROM workload_runs", "only SELECT is allowed, got DELETE"),
        ("INSERT INTO workload_runs SELECT * FROM workload_runs", "got INSERT"),
        ("DROP TABLE failure_events", "got DROP"),
        ("SELECT 1; DELETE FROM workload_runs", "exactly one statement allowed, got 2"),
        ("COPY workload_runs TO '/tmp/leak.csv'", "got COPY"),
        ("ATTACH '/tmp/other.db'", "got ATTACH"),
        ("SET enable_external_access = true", "got SET"),
        ("PRAGMA database_list", "got PRAGMA"),
        ("SELEC 1", "not valid SQL"),
        ("  ", "empty query"),
    ],
)
def test_anything_but_one_select_is_refused(db, query, reason):
    result = run_sql(ctx(db), {"query": query})
    assert result.status == "error"
    assert result.message.startswith("query refused:")
    assert reason in result.message
    con = duckdb.connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM workload_runs").fetchone() == (500,)
    con.close()


def test_external_access_is_off_inside_a_select(db, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\nsecret\n")
    for query in (
        f"SELECT * FROM read_csv('{secret}')",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM '{secret}'",
    ):
        result = run_sql(ctx(db), {"query": query})
        assert result.status == "error", query
        assert "secret" not in str(result.data)
        assert "disabled" in result.message or "Permission" in result.message


def test_configuration_is_locked(db):
    result = run_sql(ctx(db), {"query": "SELECT current_setting('lock_configuration')"})
    assert result.data["rows"] == [[True]]
    result = run_sql(ctx(db), {"query": "SELECT current_setting('enable_external_access')"})
    assert result.data["rows"] == [[False]]


def test_row_cap_is_reported_not_silent(db):
    result = run_sql(ctx(db), {"query": "SELECT run_id FROM workload_runs"}, row_cap=50)
    assert result.status == "ok"
    assert result.data["row_count"] == 50
    assert result.data["truncated"] is True
    assert "first 50 rows; there are more" in result.message


def test_long_query_is_interrupted(db):
    query = (
        "SELECT count(*) FROM range(1000000000) a, range(1000) b WHERE (a.range * b.range) % 7 = 3"
    )
    result = run_sql(ctx(db), {"query": query}, time_limit_s=0.3)
    assert result.status == "error"
    assert "time limit" in result.message


def test_missing_file_is_friendly(tmp_path):
    result = run_sql(ctx(str(tmp_path / "absent.db")), {"query": "SELECT 1"})
    assert result.status == "no_data"
    assert "is the sidecar running" in result.message


def test_empty_result_is_no_data(db):
    result = run_sql(ctx(db), {"query": "SELECT * FROM failure_events"})
    assert result.status == "no_data"
    assert result.data["columns"][1] == "timestamp"


def test_bad_argument_type():
    assert run_sql(ctx("x"), {"query": 3}).status == "error"


def test_check_select_returns_the_statement():
    assert check_select("select 1;").strip().rstrip(";") == "select 1"
    with pytest.raises(SqlRejected):
        check_select("EXPLAIN ANALYZE SELECT 1")


def test_spec_is_llm_only():
    assert SQL_TOOL.llm_only
    assert SQL_TOOL.parameters["required"] == ["query"]


# ---- issue 18: one question cannot take the agent's memory or its shared connection -------
HOSTILE = "SELECT length(repeat('A', 1500000000))"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_hostile_function_call_is_an_error_and_costs_the_agent_no_memory(db):
    before = _peak_rss_mb()
    started = time.monotonic()
    result = run_sql(ctx(db), {"query": HOSTILE})
    elapsed = time.monotonic() - started
    assert result.status == "error"
    assert "more memory than the SQL tool allows" in result.message, result.message
    # The 1.5 GB string was the child's problem: this process's peak grew by almost nothing.
    assert _peak_rss_mb() - before < 100, (before, _peak_rss_mb())
    assert elapsed < TIME_LIMIT_S


def test_the_shared_history_connection_is_never_reconfigured(db):
    with reader.one_connection(db):
        with reader.open_history(db) as shared:
            assert run_sql(ctx(db), {"query": "SELECT count(*) FROM workload_runs"}).data[
                "rows"
            ] == [[500]]
            locked = shared.execute("SELECT current_setting('lock_configuration')").fetchone()
            assert locked == (False,)
            shared.execute("SET TimeZone = 'UTC'")  # what every reader does on open
        with reader.open_history(db, timeout_s=2) as fresh:  # a new reader opens as before
            assert fresh.execute("SELECT count(*) FROM workload_runs").fetchone() == (500,)


def test_concurrent_sql_questions_and_reads_all_succeed(db):
    errors: list[str] = []

    def ask() -> None:
        result = run_sql(ctx(db), {"query": "SELECT phase, count(*) FROM workload_runs GROUP BY 1"})
        if result.status != "ok":
            errors.append(result.message)

    def read() -> None:
        for _ in range(5):
            try:
                with reader.open_history(db) as conn:
                    conn.execute("SELECT count(*) FROM failure_events").fetchall()
            except Exception as exc:  # every failure is the finding
                errors.append(f"reader: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=ask) for _ in range(6)]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_a_child_that_does_not_answer_in_time_is_killed(db, monkeypatch):
    monkeypatch.setattr(sql, "KILL_GRACE_S", 0.0)
    started = time.monotonic()
    result = run_sql(ctx(db), {"query": "SELECT 1"}, time_limit_s=0.01)  # shorter than start-up
    assert result.status == "error"
    assert "time limit" in result.message
    assert time.monotonic() - started < 5
