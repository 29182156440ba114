"""One table of what the product knows about each category, and every consumer reads it.

A consumer that misses a category (a new one added to the table, say) fails here: the
classifier's advice and rules, the agent's answers and web UI (served as JSON), the generated
dashboards and the alert rules.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import yaml

from agent.api.app import create_api_app
from agent.api.edges import ApiSettings
from exporter.classifier.advice import HINTS
from exporter.classifier.rules import RULES
from history import categories
from history.categories import CATEGORIES, TABLE, alert_categories
from tests.fixtures_agent import AgentHistory, make_agent_history
from tests.fixtures_llm import ServerThread

ROOT = Path(__file__).resolve().parent.parent


def test_every_category_is_fully_described() -> None:
    assert CATEGORIES[-1] == "unknown" and len(set(CATEGORIES)) == len(CATEGORIES)
    for c in TABLE:
        assert c.label and c.summary and c.steps, c.name
        assert c.advice.endswith(".") and all(s.endswith(".") for s in c.steps), c.name
        assert re.fullmatch(r"#[0-9a-f]{6}", c.colour), c.name
    assert len({c.colour for c in TABLE}) == len(TABLE), "two categories share a colour"


def test_lookups_fall_back_for_a_string_not_in_the_table() -> None:
    assert categories.label("gpu_oom") == "GPU out of memory"
    assert categories.label("made_up") == "made_up"
    assert categories.advice("made_up") == "Read the stored evidence."


def test_the_classifier_knows_every_category() -> None:
    assert set(HINTS) == set(CATEGORIES)
    ruled = {rule.category for rule in RULES}
    assert ruled <= set(CATEGORIES)
    assert set(CATEGORIES) - ruled <= {"unknown"}, "a category no rule can conclude"


def test_dashboards_colour_every_category_as_the_table_does() -> None:
    board = json.loads((ROOT / "grafana/dashboards/runai-workload-failures.json").read_text())
    by_category = [
        p for p in board["panels"]
        if any(t.get("legendFormat") == "{{category}}" for t in p.get("targets", []))
    ]
    assert by_category
    want = {c.name: c.colour for c in TABLE}
    for panel in by_category:
        got = {
            o["matcher"]["options"]: o["properties"][0]["value"]["fixedColor"]
            for o in panel["fieldConfig"]["overrides"]
        }
        assert got == want, panel["title"]


def test_alerts_read_the_categories_the_table_assigns_them() -> None:
    rules_file = ROOT / "deploy/prometheus/runai-failure-analysis.rules.yml"
    rules = yaml.safe_load(rules_file.read_text())
    exprs = {
        r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r
    }
    oom = next(e for e in exprs.values() if "oom_killed" in e)
    assert set(re.search(r'category=~"([^"]+)"', oom).group(1).split("|")) == set(
        alert_categories("oom")
    )
    hardware = [e for e in exprs.values() if "gpu_hardware" in e]
    assert hardware and alert_categories("gpu_hardware") == ("gpu_hardware",)


def test_the_web_ui_has_no_category_table_of_its_own() -> None:
    script = (ROOT / "agent/web/app.js").read_text()
    named = [c for c in CATEGORIES if re.search(rf"\b{c}\b", script)]
    assert not named, f"app.js names categories itself: {named}"


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> AgentHistory:
    return make_agent_history(tmp_path_factory.mktemp("categories"))


def test_the_api_serves_the_table_and_the_chart_carries_its_colours(
    history: AgentHistory,
) -> None:
    settings = ApiSettings(db_path=str(history.path), clock=lambda: history.now)
    with (
        ServerThread(create_api_app(settings)) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        served = http.get("/api/categories").json()["categories"]
        chart = http.get("/api/failures-per-day", params={"window": "last 14 days"}).json()
    assert [c["name"] for c in served] == list(CATEGORIES)
    assert served[0]["colour"] == TABLE[0].colour and served[0]["steps"]
    data = chart["data"]
    assert data["categories"]
    assert data["colours"] == {c: categories.BY_NAME[c].colour for c in data["categories"]}
