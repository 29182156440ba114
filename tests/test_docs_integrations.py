"""docs/integrations.md against the code and the shipped files: its snippets parse, name real
commands, flags, paths and variables; the receiver example is a valid Alertmanager config."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import yaml

from agent.alerts.delivery import TARGET_VARIABLES
from agent.cli.mcp_stdio import build_parser
from agent.mcp.tools import MCP_TOOLS

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "integrations.md").read_text()
RECEIVER = ROOT / "deploy" / "alertmanager" / "receiver-example.yml"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)


def test_the_desktop_assistant_config_runs_the_real_command():
    (config,) = [json.loads(b) for b in blocks("json")]
    server = config["mcpServers"]["runai-failures"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[server["command"]] == "agent.__main__:run"
    assert server["args"][0] == "mcp"
    build_parser().parse_args(server["args"][1:])  # exits on an unknown flag


def test_the_holmesgpt_config_points_at_the_mcp_endpoint_with_the_token():
    (holmes,) = [yaml.safe_load(b) for b in blocks("yaml")]
    config = holmes["mcp_servers"]["runai-failures"]["config"]
    assert config["mode"] == "streamable-http"
    assert config["url"].endswith(":8000/mcp")
    assert config["headers"]["Authorization"].startswith("Bearer ")


def test_every_tool_flag_and_variable_is_documented():
    for tool in MCP_TOOLS:
        assert f"`{tool.name}`" in DOC
    for action in build_parser()._actions:
        for flag in action.option_strings:
            assert flag == "-h" or flag == "--help" or f"`{flag}" in DOC, flag
    for variable in (*TARGET_VARIABLES.values(), "AGENT_UI_URL", "AGENT_NOTIFY_PER_MINUTE"):
        assert f"`{variable}`" in DOC, variable


def test_the_receiver_example_is_what_the_guide_says_and_amtool_accepts_it():
    config = yaml.safe_load(RECEIVER.read_text())
    route = config["route"]["routes"][0]
    assert route["continue"] is True and route["receiver"] == "runai-failure-agent"
    assert "`runai-failure-agent` webhook receiver" in DOC
    hook = next(r for r in config["receivers"] if r["name"] == route["receiver"])
    (webhook,) = hook["webhook_configs"]
    assert webhook["url"].endswith(":8000/api/alertmanager")
    assert webhook["send_resolved"] is True and webhook["max_alerts"] == 50
    assert "credentials_file" in webhook["http_config"]["authorization"]
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: run `make system-deps` (prometheus-alertmanager)"
    checked = subprocess.run([amtool, "check-config", str(RECEIVER)], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
