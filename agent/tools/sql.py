"""The LLM-only tool: one read-only SELECT over the failure history.

Defence in depth, each layer enough on its own for its threat:
- the statement is parsed by DuckDB itself and must be exactly one SELECT (WITH ... SELECT is a
  SELECT), so no INSERT, COPY, ATTACH, SET, PRAGMA or a second statement rides along;
- it runs in a child process (agent.tools.sql_worker) on its own read-only connection, so the
  agent's shared connection is never reconfigured, and one hostile query cannot take the agent's
  memory: the child's data segment is capped, DuckDB's memory_limit, threads and temp spill
  are capped inside it, external access is disabled and the configuration locked;
- the time limit is enforced twice: an interrupt inside the child, and a kill from here when
  the child does not answer shortly after it (a single function call ignores interrupts);
- one query process at a time (the others wait their turn, up to QUEUE_WAIT_S; the answer
  pool of the API bounds how many wait), so concurrent questions cannot multiply the memory
  cap;
- rows beyond the cap are counted as "more", never silently dropped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from agent.tools.sql_worker import first_line, out_of_memory_message, time_limit_message
from agent.types import ToolContext, ToolResult, ToolSpec
from history import sources

ROW_CAP = 200
TIME_LIMIT_S = 10.0
KILL_GRACE_S = 5.0  # the child's start-up plus the interrupt's own latency
QUEUE_WAIT_S = 30.0  # how long a question waits for the SQL child of the ones before it


@dataclass(frozen=True)
class SqlLimits:
    """What one SQL question may use. The child's cap plus the agent's own footprint (~150 MB)
    stays under the agent container's 512Mi limit (deploy/k8s), let alone the pod's 1 GiB."""

    data_mb: int = 256  # the whole child process's heap and private mappings (RLIMIT_DATA)
    memory_mb: int = 128  # DuckDB's memory_limit inside it
    threads: int = 1
    spill_mb: int = 64  # temp files DuckDB may write when a sort or join spills


LIMITS = SqlLimits()
# One child at a time: eight concurrent SQL questions must not mean eight times the memory cap.
_ONE_AT_A_TIME = threading.BoundedSemaphore(1)


class SqlRejected(ValueError):
    """The statement is not a single SELECT."""


def check_select(query: str) -> str:
    """Return the one SELECT statement in `query`, or raise SqlRejected with a one-line reason."""
    if not query.strip():
        raise SqlRejected("empty query")
    parser = duckdb.connect(":memory:")
    try:
        statements = parser.extract_statements(query)
    except duckdb.Error as exc:
        raise SqlRejected(f"not valid SQL: {first_line(exc)}") from None
    finally:
        parser.close()
    if len(statements) != 1:
        raise SqlRejected(f"exactly one statement allowed, got {len(statements)}")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        kind = statement.type.name
        raise SqlRejected(f"only SELECT is allowed, got {kind}")
    return statement.query


def run_sql(
    ctx: ToolContext,
    args: Mapping[str, Any],
    *,
    row_cap: int = ROW_CAP,
    time_limit_s: float = TIME_LIMIT_S,
    limits: SqlLimits = LIMITS,
) -> ToolResult:
    query = args.get("query")
    if not isinstance(query, str):
        return ToolResult("error", message="argument 'query' must be a string")
    try:
        statement = check_select(query)
    except SqlRejected as exc:
        return ToolResult("error", message=f"query refused: {exc}")
    if not sources.is_fleet(ctx.db_path) and not Path(ctx.db_path).is_file():
        return ToolResult("no_data", message="no failures recorded yet; is the sidecar running?")
    if not _ONE_AT_A_TIME.acquire(timeout=QUEUE_WAIT_S):
        return ToolResult(
            "error", message="another SQL query is still running; try again in a moment"
        )
    try:
        with tempfile.TemporaryDirectory(prefix="runai-sql-") as spill:
            job = {
                "db_path": ctx.db_path,
                "db_timeout_s": ctx.db_timeout_s,
                "statement": statement,
                "row_cap": row_cap,
                "time_limit_s": time_limit_s,
                "temp_directory": spill,
                "data_mb": limits.data_mb,
                "memory_mb": limits.memory_mb,
                "threads": limits.threads,
                "spill_mb": limits.spill_mb,
            }
            return _in_child(job, time_limit_s)
    except OSError as exc:  # no temporary folder, no process: say so, never raise
        return ToolResult("error", message=f"cannot run the query: {exc}")
    finally:
        _ONE_AT_A_TIME.release()


def _in_child(job: dict[str, Any], time_limit_s: float) -> ToolResult:
    child = subprocess.Popen(
        [sys.executable, "-m", "agent.tools.sql_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_child_env(),
    )
    try:
        out, err = child.communicate(json.dumps(job).encode(), timeout=time_limit_s + KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return ToolResult("error", message=time_limit_message(time_limit_s))
    try:
        answer = json.loads(out)
        return ToolResult(answer["status"], answer.get("data"), str(answer.get("message", "")))
    except (ValueError, KeyError, TypeError):
        # No answer at all: the child died (a memory cap it could not report) or crashed.
        if child.returncode < 0 or b"MemoryError" in err or b"bad_alloc" in err:
            return ToolResult("error", message=out_of_memory_message())
        tail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return ToolResult("error", message=f"query failed: {tail[0][:300]}")


def _child_env() -> dict[str, str]:
    """The agent's environment minus its secrets (the child needs none of them), with this
    checkout on the path whatever the agent's working directory."""
    child = {k: v for k, v in os.environ.items() if not k.endswith(("_KEY", "_TOKEN", "_SECRET"))}
    root = str(Path(__file__).resolve().parents[2])
    child["PYTHONPATH"] = os.pathsep.join(p for p in (root, child.get("PYTHONPATH")) if p)
    return child


SQL_TOOL = ToolSpec(
    name="run_sql",
    description=(
        "Run ONE read-only DuckDB SELECT over the failure history when no other tool answers the "
        "question. Tables: failure_events(episode_id, timestamp TIMESTAMPTZ, workload_id, "
        "workload_name, project, department, workload_type, kind, category, confidence, summary, "
        "evidence, evidence_source, recommendation, node, pod, image, gpus_requested, exit_code, "
        "details JSON, logs_available, bundle JSON, cluster_id, recorded_at) and "
        "workload_runs(run_id, workload_id, workload_name, project, department, workload_type, "
        "phase 'Completed'|'Failed', finished_at TIMESTAMPTZ, created_at, node, image, "
        "gpus_requested, recorded_at). A failure rate is failed runs / finished runs in "
        "workload_runs. Over several clusters' histories both tables also have a `cluster` "
        f"column. Results are capped at {ROW_CAP} rows and {TIME_LIMIT_S:g} s; aggregate."
    ),
    parameters={
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "a single SELECT (or WITH ... SELECT)"}
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    run=run_sql,
    llm_only=True,
)
