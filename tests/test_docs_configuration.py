"""docs/configuration.md describes every flag of every command and every variable the code reads.

Flags come from the commands' real `--help` output (run as processes); variables from the
source: every upper-case name the code reads from an environment mapping.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "configuration.md"
COMMANDS = [
    ["exporter"], ["exporter", "db"], ["exporter", "db", "stats"], ["exporter", "db", "prune"],
    ["exporter", "db", "backup"], ["exporter", "db", "sql"], ["exporter", "db", "import-sqlite"],
    ["exporter", "db", "export"], ["exporter", "classify"], ["exporter", "doctor"],
    ["agent", "serve"], ["agent", "ask"], ["agent", "eval"], ["agent", "mcp"], ["simulator"],
]
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]{3,}")
ENV_HOLDERS = {"env", "environ"}  # os.environ, and the Mapping parameter named env


def help_flags(command: list[str]) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", *command, "--help"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", out)) - {"--help"}


def _holder(node: ast.expr) -> str:
    return node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")


def env_reads(path: Path) -> set[str]:
    """Names read as env.get("X"), os.environ["X"], or helper(env, "X", ...)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        candidates: list[ast.expr] = []
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and _holder(func.value) in ENV_HOLDERS:
                candidates = list(node.args[:1])
            elif any(isinstance(a, ast.Name) and a.id in ENV_HOLDERS for a in node.args):
                candidates = list(node.args)
        elif isinstance(node, ast.Subscript) and _holder(node.value) in ENV_HOLDERS:
            candidates = [node.slice]
        names |= {c.value for c in candidates if isinstance(c, ast.Constant)
                  and isinstance(c.value, str) and ENV_NAME.fullmatch(c.value)}
    return names


def all_env_reads() -> set[str]:
    return {name for package in ("exporter", "agent", "simulator")
            for path in (ROOT / package).rglob("*.py") for name in env_reads(path)}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_flag_is_documented(command: list[str]) -> None:
    flags = help_flags(command)
    text = DOC.read_text()
    assert not [f for f in flags if f"`{f}" not in text], command


def test_the_help_parser_sees_the_sidecar_flags() -> None:
    flags = help_flags(["exporter"])
    assert {"--poll-interval", "--project", "--db", "--listen", "--once", "--retention-days",
            "--log-format"} <= flags


def test_every_environment_variable_is_documented() -> None:
    names = all_env_reads()
    for known in ("RUNAI_CLIENT_SECRET", "NVIDIA_API_KEY", "LLM_MAX_STEPS", "KUBECONFIG"):
        assert known in names  # the scan sees every way the code reads a variable
    text = DOC.read_text()
    assert sorted(n for n in names if f"`{n}`" not in text) == []


def test_secrets_are_marked_as_secrets() -> None:
    text = DOC.read_text()
    for name in ("RUNAI_CLIENT_SECRET", "NVIDIA_API_KEY", "OPENAI_API_KEY", "AGENT_API_TOKEN"):
        assert f"`{name}` 🔒" in text, name
