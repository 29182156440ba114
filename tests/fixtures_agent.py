"""A seeded history DuckDB file with known rows, for the agent's tests.

`agent_history` builds the file through the real schema (history.schema.MIGRATIONS) in a
temporary folder and hands back the path, the clock the rows are relative to, the rows
themselves, a ToolContext and `sql()` for independent counts in assertions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent.evals.seed import SeededRows, load_history_spec, seed_history
from agent.types import ToolContext

# Thursday: the ISO week began Monday 2026-11-23 00:00 UTC; the month on 2026-11-01.
AGENT_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# The standard seeded history, shared with the eval cases (agent/evals/histories/).
AGENT_SPEC: dict[str, Any] = load_history_spec("standard")
INJECTION: str = next(
    f["bundle"]["logs"] for f in AGENT_SPEC["failures"] if f["workload_name"] == "notebook-alice"
)


@dataclass(frozen=True)
class AgentHistory:
    path: Path
    now: datetime
    rows: SeededRows
    ctx: ToolContext

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """An independent query on the file (its own read-only connection) for assertions."""
        conn = duckdb.connect(str(self.path), read_only=True)
        try:
            conn.execute("SET TimeZone = 'UTC'")
            return conn.execute(query, params or []).fetchall()
        finally:
            conn.close()

    def scalar(self, query: str, params: list[Any] | None = None) -> Any:
        return self.sql(query, params)[0][0]


def make_agent_history(folder: Path, spec: dict[str, Any] | None = None) -> AgentHistory:
    path = folder / "runai_failure_history.db"
    rows = seed_history(path, AGENT_SPEC if spec is None else spec, AGENT_NOW)
    ctx = ToolContext(db_path=str(path), prometheus_url=None, now=AGENT_NOW)
    return AgentHistory(path=path, now=AGENT_NOW, rows=rows, ctx=ctx)


@pytest.fixture
def agent_history(tmp_path: Path) -> Iterator[AgentHistory]:
    """The standard seeded history (AGENT_SPEC) in a fresh file."""
    yield make_agent_history(tmp_path)


@pytest.fixture
def agent_empty_history(tmp_path: Path) -> AgentHistory:
    """A history file with the schema and no rows: what a freshly started sidecar leaves."""
    return make_agent_history(tmp_path, {"failures": [], "runs": []})
