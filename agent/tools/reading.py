"""The agent's tools read the history through here: every failure becomes a ToolResult status.

The history's own read layer (history.reader) knows nothing of tools; this is where "no file
yet" becomes `no_data` and a locked or unreadable file becomes `error`, so "no rows" never
reads like "query failed".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import duckdb

from agent.types import ToolContext, ToolResult
from common.errors import StoreError, StoreLocked
from history import reader


@contextmanager
def open_history(ctx: ToolContext) -> Iterator[duckdb.DuckDBPyConnection]:
    with reader.open_history(ctx.db_path, timeout_s=ctx.db_timeout_s) as conn:
        yield conn


def one_connection(ctx: ToolContext) -> AbstractContextManager[None]:
    """One read-only connection shared by the tool calls of one answer (history.reader)."""
    return reader.one_connection(ctx.db_path)


def run_query(
    ctx: ToolContext, query: Callable[[duckdb.DuckDBPyConnection], ToolResult]
) -> ToolResult:
    """Run one query function on a read-only connection; every failure becomes a status."""
    try:
        with open_history(ctx) as conn:
            return query(conn)
    except reader.NoHistory as exc:
        return ToolResult("no_data", {"history": "missing"}, str(exc))
    except duckdb.CatalogException:  # the sidecar created the file but no tables yet
        return ToolResult(
            "no_data",
            {"history": "missing"},
            f"{reader.NO_HISTORY} (the history file has no tables yet)",
        )
    except StoreLocked as exc:
        return ToolResult("error", None, f"{exc}; try again in a moment")
    except StoreError as exc:  # several histories that cannot be read together: says why
        return ToolResult("error", None, str(exc))
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ToolResult("error", None, f"cannot read the history file: {first_line}")
