"""The tool table: schemas the LLM sees, argument checks, and each tool's typed result."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from agent.tools.catalog import TOOLS, find_tool, run_tool, validate_arguments, window_from_args
from tests.fixtures_agent import AgentHistory


def test_every_tool_is_described_as_data() -> None:
    names = [t.name for t in TOOLS]
    assert len(names) == len(set(names))
    assert {
        "failure_statistics",
        "list_failures",
        "failure_detail",
        "analyze_failures",
        "promql_query",
        "promql_range_query",
    } <= set(names)
    for tool in TOOLS:
        jsonschema.Draft202012Validator.check_schema(tool.parameters)
        assert tool.parameters["type"] == "object"
        assert tool.parameters["additionalProperties"] is False
        assert len(tool.description) > 40
        json.dumps(tool.parameters)  # goes to the LLM as JSON


def test_find_tool() -> None:
    assert find_tool("failure_statistics") is TOOLS[0]
    assert find_tool("drop_table") is None


@pytest.mark.parametrize(
    ("name", "args", "complaint"),
    [
        ("failure_statistics", {"bogus": 1}, "unknown argument(s) bogus"),
        ("failure_statistics", {"category": "cosmic_rays"}, "category must be one of"),
        ("failure_statistics", {"group_by": "pod"}, "group_by must be one of"),
        ("failure_statistics", {"top": "ten"}, "top must be an integer"),
        ("failure_statistics", {"top": True}, "top must be an integer"),
        ("list_failures", {"limit": 100000}, "limit must be between 1 and 200"),
        ("promql_query", {}, "missing required argument query"),
        ("failure_statistics", ["not", "an", "object"], "arguments must be a JSON object"),
        ("failure_statistics", {"window": "the age of aquarius"}, "cannot read the time window"),
        ("failure_statistics", {"start": "yesterday-ish"}, "not an ISO-8601 time"),
        (
            "failure_statistics",
            {"start": "2026-11-20T00:00:00Z", "end": "2026-11-19T00:00:00Z"},
            "the range ends before it starts",
        ),
        ("failure_detail", {}, "give a workload_name or an episode_id"),
        ("make_coffee", {}, "no tool named 'make_coffee'"),
    ],
)
def test_bad_calls_are_one_line_errors(
    agent_history: AgentHistory, name: str, args: Any, complaint: str
) -> None:
    result = run_tool(agent_history.ctx, name, args)
    assert result.status == "error"
    assert complaint in result.message
    assert "\n" not in result.message


def test_validator_accepts_a_good_call() -> None:
    tool = find_tool("failure_statistics")
    assert tool is not None
    args = {"window": "last 7 days", "group_by": "node", "category": "gpu_hardware", "top": 5}
    assert validate_arguments(tool.parameters, args) is None
    jsonschema.validate(args, tool.parameters)  # the same verdict as a real validator


def test_window_arguments(agent_history: AgentHistory) -> None:
    now = agent_history.now
    window = window_from_args({"start": "2026-11-20T00:00:00", "end": "2026-11-21T00:00:00Z"}, now)
    assert window.start.tzinfo is not None  # naive input is read as UTC
    assert window.duration.days == 1
    assert window_from_args({}, now).label == "last 7 days"
    assert window_from_args({"window": "yesterday"}, now).label == "yesterday"


def test_statistics_tool_ok(agent_history: AgentHistory) -> None:
    result = run_tool(agent_history.ctx, "failure_statistics", {"group_by": "project"})
    assert result.status == "ok"
    assert result.data["group_by"] == "project"
    assert result.data["total_failures"] == 11
    json.dumps(result.to_dict())  # JSON-serialisable for the LLM and the API


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("failure_statistics", {}),
        ("list_failures", {"category": "nccl", "window": "last 30 days"}),
        ("failure_detail", {"workload_name": "train-llama-7b"}),
        ("failure_detail", {"workload_name": "train-llama-7b", "window": "yesterday"}),
        ("analyze_failures", {"window": "this week", "project": "team-a"}),
    ],
)
def test_history_tools_return_json_data(
    agent_history: AgentHistory, name: str, args: dict[str, Any]
) -> None:
    result = run_tool(agent_history.ctx, name, args)
    assert result.status == "ok", result.message
    assert result.message
    json.loads(json.dumps(result.to_dict()))


def test_detail_by_episode_id(agent_history: AgentHistory) -> None:
    episode = agent_history.rows.failures[0].episode_id
    result = run_tool(agent_history.ctx, "failure_detail", {"episode_id": episode})
    assert result.status == "ok"
    assert result.data["failure"]["episode_id"] == episode


def test_no_data_is_not_an_error(agent_history: AgentHistory) -> None:
    result = run_tool(
        agent_history.ctx, "list_failures", {"category": "preempted", "window": "last 30 days"}
    )
    assert result.status == "no_data"
    assert "no failures matched" in result.message


def test_promql_without_prometheus_says_so(agent_history: AgentHistory) -> None:
    result = run_tool(agent_history.ctx, "promql_query", {"query": "up"})
    assert result.status == "error"
    assert "PROMETHEUS_URL" in result.message
