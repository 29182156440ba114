"""The agent's tools over MCP, driven by the official SDK's own client in both transports.

stdio: `python -m agent mcp --db FILE` as a subprocess. HTTP: `/mcp` on the API app, served by
uvicorn on loopback, behind the API token. Each tool runs against the seeded history (and a
real Prometheus for the two PromQL tools); bad arguments come back as tool errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import duckdb
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from agent.api.app import create_api_app
from agent.api.edges import ApiSettings
from agent.mcp.tools import MCP_TOOLS
from agent.tools.catalog import TOOLS
from agent.tools.sql import SQL_TOOL
from tests.fixtures_agent import AgentHistory, make_agent_history
from tests.fixtures_llm import ServerThread
from tests.fixtures_prometheus import PrometheusServer, start_prometheus

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "mcp-test-token-5d1e9a"
SECRET_IN_LOG = "password=hunter2-Pa55w0rd"


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> AgentHistory:
    history = make_agent_history(tmp_path_factory.mktemp("mcp"))
    # One evidence line with a secret in it, as a careless training script would print it.
    conn = duckdb.connect(str(history.path))
    conn.execute(
        "UPDATE failure_events SET evidence = evidence || ' " + SECRET_IN_LOG + "' "
        "WHERE workload_name = ?",
        [history.rows.failures[0].workload_name],
    )
    conn.close()
    return history


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory) -> Iterator[PrometheusServer]:
    server = start_prometheus({"global": {"scrape_interval": "15s"}},
                              tmp_path_factory.mktemp("prom"))  # fmt: skip
    yield server
    server.stop()


def calls(history: AgentHistory) -> dict[str, dict[str, Any]]:
    """One call per tool with arguments that must find data in the seeded history."""
    start = (history.now - timedelta(days=30)).isoformat()
    end = history.now.isoformat()
    workload = history.rows.failures[0].workload_name
    return {
        "failure_statistics": {"start": start, "end": end, "group_by": "project"},
        "list_failures": {"start": start, "end": end, "limit": 50},
        "failure_detail": {"workload_name": workload},
        "analyze_failures": {"start": start, "end": end},
        "promql_query": {"query": "vector(42)"},
        "promql_range_query": {"query": "vector(7)", "start": start, "end": end,
                               "step_seconds": 3600},
        "run_sql": {"query": "SELECT count(*) AS n FROM failure_events"},
    }


async def exercise(client: Client, history: AgentHistory) -> dict[str, Any]:
    listed = await client.list_tools()
    by_name = {tool.name: tool for tool in listed.tools}
    results: dict[str, Any] = {"tools": by_name}
    for name, arguments in calls(history).items():
        results[name] = await client.call_tool(name, arguments)
    results["bad_type"] = await client.call_tool("list_failures", {"limit": "many"})
    results["unknown_argument"] = await client.call_tool("failure_statistics", {"colour": "red"})
    results["bad_window"] = await client.call_tool("analyze_failures", {"window": "someday"})
    results["write_sql"] = await client.call_tool(
        "run_sql", {"query": "DELETE FROM failure_events"}
    )
    results["no_tool"] = await client.call_tool("drop_everything", {})
    return results


def check(results: dict[str, Any], history: AgentHistory) -> None:
    tools = results["tools"]
    assert [t.name for t in MCP_TOOLS] == list(tools)
    for spec in (*TOOLS, SQL_TOOL):
        assert tools[spec.name].description == spec.description
        assert tools[spec.name].input_schema == dict(spec.parameters)
    for name in calls(history):
        result = results[name]
        assert not result.is_error, (name, result.structured_content)
        assert result.structured_content["status"] == "ok", (name, result.structured_content)
        assert json.loads(result.content[0].text) == result.structured_content
    total = history.scalar("SELECT count(*) FROM failure_events")
    assert results["run_sql"].structured_content["data"]["rows"] == [[total]]
    in_window = history.scalar(
        'SELECT count(*) FROM failure_events WHERE "timestamp" >= ? AND "timestamp" < ?',
        [history.now - timedelta(days=30), history.now],
    )
    listed = results["list_failures"].structured_content["data"]["failures"]
    assert len(listed) == min(in_window, 50)
    assert results["promql_query"].structured_content["data"]["series"][0]["last"] == 42
    assert results["promql_range_query"].structured_content["data"]["series"][0]["last"] == 7
    detail = results["failure_detail"].structured_content
    assert "hunter2" not in json.dumps(detail) and "[redacted]" in json.dumps(detail)
    for bad, words in {
        "bad_type": "limit must be an integer",
        "unknown_argument": "unknown argument(s) colour",
        "bad_window": "cannot read the time window",
        "write_sql": "only SELECT is allowed",
        "no_tool": "no tool named 'drop_everything'",
    }.items():
        result = results[bad]
        assert result.is_error, bad
        assert result.structured_content["status"] == "error"
        assert words in result.structured_content["message"], (bad, result.structured_content)


@pytest.mark.slow  # a Python subprocess importing the agent, then seven calls: ~8 s on 2 cores
@pytest.mark.prometheus
def test_stdio_lists_and_calls_every_tool(history, prometheus) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "agent", "mcp", "--db", str(history.path),
              "--prometheus-url", prometheus.url],
        cwd=str(ROOT),
    )

    async def run() -> dict[str, Any]:
        async with Client(params) as client:
            return await exercise(client, history)

    check(anyio.run(run), history)


@pytest.fixture(scope="module")
def api(history, prometheus) -> Iterator[ServerThread]:
    settings = ApiSettings(db_path=str(history.path), prometheus_url=prometheus.url,
                           api_token=TOKEN, clock=lambda: history.now)  # fmt: skip
    with ServerThread(create_api_app(settings)) as server:
        yield server


def http_client(url: str, token: str | None) -> Client:
    async def transport():  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            streamable_http_client(url, http_client=http) as streams,
        ):
            yield streams

    return Client(asynccontextmanager(transport)())


@pytest.mark.prometheus
def test_http_lists_and_calls_every_tool_behind_the_token(api, history) -> None:
    async def run() -> dict[str, Any]:
        async with http_client(f"{api.url}/mcp", TOKEN) as client:
            return await exercise(client, history)

    check(anyio.run(run), history)


def test_http_without_the_token_is_refused_before_mcp(api) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    response = httpx.post(f"{api.url}/mcp", json=body, timeout=10)
    assert response.status_code == 401
    assert "AGENT_API_TOKEN" in response.json()["error"]


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b"x" * 70_000, {"Content-Type": "application/json"}, 413),
        (b'{"jsonrpc": "2.0"}', {"Content-Type": "text/plain"}, 415),
    ],
)
def test_http_bad_requests_get_a_4xx(api, content, headers, status) -> None:
    response = httpx.post(
        f"{api.url}/mcp",
        content=content,
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, "
                 "text/event-stream", **headers},
        timeout=10,
    )
    assert response.status_code == status, response.text
