"""The agent's core types: tools as data, typed results, and an answer with its provenance.

A tool is described to the LLM as data (name, description, JSON-schema parameters) and returns a
ToolResult whose status tells "no rows" apart from "query failed".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Status = Literal["ok", "no_data", "error"]


@dataclass(frozen=True)
class ToolContext:
    """What every tool may use. `now` is injected (UTC) so answers are reproducible in tests."""

    db_path: str
    prometheus_url: str | None
    now: datetime
    db_timeout_s: float = 5.0
    prometheus_timeout_s: float = 10.0


@dataclass(frozen=True)
class ToolResult:
    status: Status
    data: Any = None  # JSON-serialisable
    message: str = ""  # one line: what was found, or why nothing / what failed

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "data": self.data, "message": self.message}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str  # written for the model
    parameters: Mapping[str, Any]  # JSON schema of the arguments object
    run: Callable[[ToolContext, Mapping[str, Any]], ToolResult]
    llm_only: bool = False  # e.g. read-only SQL: offered to the LLM, never used by the planner


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any]
    result: ToolResult


@dataclass(frozen=True)
class Answer:
    markdown: str
    tool_calls: tuple[ToolCall, ...] = ()
    mode: Literal["deterministic", "llm"] = "deterministic"
    note: str | None = None  # e.g. "LLM unavailable (timeout); answered deterministically"
    chart: Mapping[str, Any] | None = field(default=None)  # optional data for the UI's chart
    # False when the question got no answer: not recognised, a name the history does not
    # hold, an impossible window, or a tool that could not run (`agent ask` exits non-zero).
    answered: bool = True
