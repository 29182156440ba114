"""The read-only history connection: missing, empty, corrupt and locked files, the sidecar
writing meanwhile, one connection per answer, and names looked up in the history."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from agent.time_windows import Window, resolve_window
from agent.tools import reading, stats
from agent.tools.reading import run_query
from agent.types import ToolContext, ToolResult
from history import reader
from history.reader import Filters
from tests.fixtures_agent import AgentHistory


def week(h: AgentHistory) -> Window:
    return resolve_window("last 7 days", h.now)


NO_FILTERS = Filters()


def week_stats(h: AgentHistory) -> ToolResult:
    return run_query(h.ctx, lambda c: stats.statistics(c, week(h), NO_FILTERS))


def test_match_names_finds_only_known_names(agent_history: AgentHistory) -> None:
    with reading.open_history(agent_history.ctx) as conn:
        found = reader.match_names(
            conn, ["train-llama-7b", "team-a", "node-gpu-03", "why", "ghcr.io/acme/resnet:1.2"]
        )
    assert found == {
        "workload_name": ["train-llama-7b"],
        "project": ["team-a"],
        "node": ["node-gpu-03"],
        "image": ["ghcr.io/acme/resnet:1.2"],
    }


def test_missing_file_is_a_friendly_no_data(tmp_path: Path, agent_history: AgentHistory) -> None:
    ctx = replace(agent_history.ctx, db_path=str(tmp_path / "absent.db"))
    result = run_query(ctx, lambda c: stats.statistics(c, week(agent_history), Filters()))
    assert result.status == "no_data"
    assert "no failures recorded yet; is the sidecar running?" in result.message
    assert not (tmp_path / "absent.db").exists()  # reading never creates the file


def test_zero_byte_file_is_no_data(tmp_path: Path, agent_history: AgentHistory) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    ctx = replace(agent_history.ctx, db_path=str(empty))
    result = run_query(ctx, lambda c: stats.statistics(c, week(agent_history), Filters()))
    assert result.status == "no_data"


def test_schema_without_rows_is_no_data(agent_empty_history: AgentHistory) -> None:
    result = week_stats(agent_empty_history)
    assert result.status == "no_data"
    assert result.message == reader.NO_HISTORY


def test_corrupt_file_is_a_one_line_error(tmp_path: Path, agent_history: AgentHistory) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a duckdb file at all" * 100)
    ctx = replace(agent_history.ctx, db_path=str(bad))
    result = run_query(ctx, lambda c: stats.statistics(c, week(agent_history), Filters()))
    assert result.status == "error"
    assert result.message.startswith("cannot read the history file")
    assert "\n" not in result.message
    assert bad.read_bytes().startswith(b"this is not")  # never overwritten


def _hold_write_lock(path: Path, seconds: float) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import sys, time, duckdb
        conn = duckdb.connect({str(path)!r})
        print("locked", flush=True)
        time.sleep({seconds})
        conn.close()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_reader_waits_out_a_short_write_lock(agent_history: AgentHistory) -> None:
    writer = _hold_write_lock(agent_history.path, 0.6)
    try:
        started = time.monotonic()
        result = week_stats(agent_history)
        assert result.status == "ok"
        assert time.monotonic() - started >= 0.3  # it had to wait for the writer
    finally:
        writer.wait(timeout=10)
        assert writer.stdout is not None
        writer.stdout.close()


def test_lock_held_too_long_is_a_status_error(agent_history: AgentHistory) -> None:
    writer = _hold_write_lock(agent_history.path, 3)
    try:
        ctx = replace(agent_history.ctx, db_timeout_s=0.4)
        result = run_query(ctx, lambda c: stats.statistics(c, week(agent_history), Filters()))
        assert result.status == "error"
        assert "locked" in result.message and "try again" in result.message
    finally:
        writer.kill()
        writer.wait(timeout=10)
        assert writer.stdout is not None
        writer.stdout.close()


def test_file_without_tables_is_no_data(tmp_path: Path, agent_history: AgentHistory) -> None:
    bare = tmp_path / "bare.db"
    duckdb.connect(str(bare)).close()  # what exists between the sidecar's create and migrate
    ctx = replace(agent_history.ctx, db_path=str(bare))
    result = run_query(ctx, lambda c: stats.statistics(c, week(agent_history), Filters()))
    assert result.status == "no_data"
    assert "no tables yet" in result.message


def test_one_connection_is_shared_within_a_turn(agent_history: AgentHistory) -> None:
    seen = []
    with reading.one_connection(agent_history.ctx):
        for _ in range(2):
            with reading.open_history(agent_history.ctx) as conn:
                seen.append(conn)
    assert seen[0] is seen[1]
    with reading.open_history(agent_history.ctx) as conn:  # outside the turn: its own
        assert conn is not seen[0]


_WRITER = """
import sys
from datetime import UTC, datetime
from agent.evals.seed import rows_from_spec
from history.store import HistoryStore

now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
store = HistoryStore(sys.argv[1], lock_timeout_s=20)
store.open()
print("open", flush=True)
for i in range(int(sys.argv[2])):
    spec = {"failures": [{"workload_name": f"w{i}", "project": "p", "at": f"-{i + 1}m"}]}
    rows = rows_from_spec(spec, now)
    store.enqueue(rows.failures, rows.runs)
    result = store.flush()
    if result.error:
        print("flush error:", result.error, flush=True)
        sys.exit(1)
    if i == 0:  # the reader answers at least once while the writes are under way
        print("first", flush=True)
        sys.stdin.readline()
print("done", flush=True)
"""


@pytest.mark.slow
def test_answers_stay_true_while_the_real_sidecar_store_writes(tmp_path: Path) -> None:
    """The sidecar (history.store.HistoryStore in another process) flushes one failure at a
    time while the agent answers: every answer is a status, never a crash, and counts only grow
    to the number written."""
    from agent.answer.planner import answer_deterministic
    from tests.fixtures_agent import AGENT_NOW

    path = tmp_path / "runai_failure_history.db"
    writes = 25
    root = Path(__file__).resolve().parents[1]
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), str(writes)],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdin is not None
    assert writer.stdout.readline().strip() == "open"
    ctx = ToolContext(db_path=str(path), prometheus_url=None, now=AGENT_NOW)
    seen: list[int] = []

    def answer_once() -> None:
        answer = answer_deterministic("Show me failure statistics", ctx)
        (first, *_rest) = answer.tool_calls
        assert first.result.status in ("ok", "no_data"), first.result.message
        seen.append((first.result.data or {}).get("total_failures", 0))

    try:
        assert writer.stdout.readline().strip() == "first"
        answer_once()  # between the first write and the rest
        writer.stdin.write("go\n")
        writer.stdin.flush()
        answer_once()  # while the rest are written (or just after)
        while writer.poll() is None:
            answer_once()
        assert writer.stdout.read().strip() == "done"
    finally:
        writer.wait(timeout=60)
        writer.stdout.close()
        writer.stdin.close()
    assert writer.returncode == 0
    assert seen == sorted(seen) and len(seen) >= 2 and seen[0] == 1
    final = answer_deterministic("Show me failure statistics", ctx).tool_calls[0].result
    assert final.data["total_failures"] == writes
