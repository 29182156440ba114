"""Every PromQL query of the committed Grafana dashboards, with Grafana's variables replaced as
Grafana would replace them when every variable is "All" (test helper, no fixtures)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "grafana" / "dashboards"

# Grafana's built-in interval variables, at values that suit a test Prometheus scraping every
# second: $__rate_interval must cover a few scrapes, $__range the time the test has run.
BUILTINS = {"__rate_interval": "30s", "__interval": "15s", "__range": "5m"}
ALL = ".*"  # the allValue of every multi-value variable
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str  # uid
    panel: str  # title
    ref_id: str
    expr: str  # as committed, with $variables
    instant: bool

    def substituted(self) -> str:
        return substitute(self.expr)

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


def substitute(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return BUILTINS.get(name, ALL)

    return VARIABLE.sub(value, expr)


def dashboards() -> dict[str, dict[str, Any]]:
    """File stem to dashboard JSON, for every committed dashboard."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARD_DIR.glob("*.json"))
    }


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def panel_queries() -> list[PanelQuery]:
    return [
        PanelQuery(board["uid"], panel["title"], t["refId"], t["expr"], bool(t.get("instant")))
        for board in dashboards().values()
        for panel in panels(board)
        for t in panel.get("targets", [])
    ]


LABEL_VALUES = re.compile(r"label_values\((.+), (\w+)\)")


def variable_queries() -> list[tuple[str, str, str]]:
    """(variable name, series selector, label) of every label_values variable."""
    found = []
    for board in dashboards().values():
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                match = LABEL_VALUES.fullmatch(variable["definition"])
                assert match, variable["definition"]
                # Grafana fills in the other variables of the selector (all selected here).
                found.append((variable["name"], substitute(match.group(1)), match.group(2)))
    return found
