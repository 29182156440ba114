"""The agent's tools as MCP tools: the same names, descriptions, JSON schemas and results.

Every tool of agent.tools.catalog plus the read-only SQL tool is offered; a result keeps the
agent's typed status (ok / no_data / error) in `structured_content`, with the same JSON as text
for clients that read only text. A status `error` (bad arguments, an unreadable history, a
refused query) is a tool error (`is_error`), which the calling model sees and can correct;
nothing a client sends can raise out of a call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server

from agent.tools.catalog import TOOLS, validate_arguments
from agent.tools.sql import SQL_TOOL
from agent.types import ToolContext, ToolResult, ToolSpec
from common.redaction import redact_secrets
from history import sources

log = logging.getLogger(__name__)

SERVER_NAME = "runai-failure-analysis"
MCP_TOOLS: tuple[ToolSpec, ...] = (*TOOLS, SQL_TOOL)
INSTRUCTIONS = (
    "Tools over the Run:ai workload failure history (one root cause per failure, with the "
    "evidence quoted from logs and events and a recommendation) and the cluster's Prometheus. "
    "All times are UTC. Start with analyze_failures or failure_statistics, then list_failures "
    "and failure_detail for single failures; run_sql only when no other tool answers."
)
RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ok", "no_data", "error"]},
        "data": {},
        "message": {"type": "string"},
    },
    "required": ["status", "data", "message"],
}


def describe(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=dict(spec.parameters),
        output_schema=RESULT_SCHEMA,
        annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )


def call(ctx: ToolContext, name: str, arguments: Any) -> ToolResult:
    """Validate and run one tool; every failure, even a bug, comes back as a status error."""
    spec = next((t for t in MCP_TOOLS if t.name == name), None)
    if spec is None:
        known = ", ".join(t.name for t in MCP_TOOLS)
        return ToolResult("error", None, f"no tool named {name!r}; tools: {known}")
    problem = validate_arguments(spec.parameters, arguments if arguments is not None else {})
    if problem:
        return ToolResult("error", None, f"{name}: {problem}")
    try:
        return _with_clusters(spec.run(ctx, arguments or {}), ctx)
    except Exception:  # the protocol boundary: one log record, one clear tool error
        log.exception("MCP tool %s failed", name)
        return ToolResult("error", None, f"{name} failed inside the agent; see the agent's log")


def _with_clusters(result: ToolResult, ctx: ToolContext) -> ToolResult:
    """Over several clusters' histories, the message names them, as the chat answer does."""
    line = sources.clusters_line(ctx.db_path)
    return replace(result, message=f"{result.message} ({line})") if line else result


def to_mcp_result(result: ToolResult, secrets: tuple[str, ...] = ()) -> types.CallToolResult:
    payload = _redacted(result.to_dict(), secrets)
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(payload, default=str))],
        structured_content=payload,
        is_error=result.status == "error",
    )


def _redacted(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, "[redacted]")
        return redact_secrets(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v, secrets) for v in value]
    return value


def build_server(
    context: Callable[[], ToolContext],
    secrets: Callable[[], tuple[str, ...]] = tuple,
) -> Server[Any]:
    """An MCP server whose tool calls run in worker threads (DuckDB and httpx are blocking)."""

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[describe(spec) for spec in MCP_TOOLS])

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool_ctx = context()
        result = await anyio.to_thread.run_sync(call, tool_ctx, params.name, params.arguments)
        return to_mcp_result(result, secrets())

    return Server(
        SERVER_NAME,
        version=_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def fixed_context(
    db_path: str, prometheus_url: str | None, clock: Callable[[], datetime] | None = None
) -> Callable[[], ToolContext]:
    """A fresh ToolContext per call: `now` moves with the clock (UTC)."""

    def context() -> ToolContext:
        now = clock() if clock else datetime.now(UTC)
        return ToolContext(db_path=db_path, prometheus_url=prometheus_url, now=now)

    return context


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("runai-failure-analysis")
    except PackageNotFoundError:
        return "0"
