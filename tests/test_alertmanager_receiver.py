"""A real Alertmanager delivers our alerts to the agent; the chat side gets one enriched message
per group and one resolution.

Debian's prometheus-alertmanager runs with the shipped deploy/alertmanager/receiver-example.yml
(its URL, token file and timings pointed at this test), alerts are pushed through its v2 API as
Prometheus pushes them, and a local sink stands in for the Slack, Teams and generic webhooks.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.alerts.delivery import NotifySettings, Target
from agent.alerts.enrich import OUR_ALERTS
from agent.api.app import create_api_app
from agent.api.edges import ApiSettings
from tests.fixtures_agent import AgentHistory, make_agent_history
from tests.fixtures_llm import ServerThread
from tests.fixtures_notify import NotificationSink, start_alertmanager

ROOT = Path(__file__).resolve().parent.parent
RECEIVER_EXAMPLE = ROOT / "deploy/alertmanager/receiver-example.yml"
TOKEN = "am-receiver-token-8b2c4d"
UI = "https://runai-failure.example.com"


def notify_settings(sink: NotificationSink, per_minute: int = 10) -> NotifySettings:
    return NotifySettings(
        targets=(Target("slack", f"{sink.url}/slack"), Target("teams", f"{sink.url}/teams"),
                 Target("webhook", f"{sink.url}/hook")),
        ui_url=UI,
        per_minute=per_minute,
    )  # fmt: skip


@pytest.fixture
def history(tmp_path: Path) -> AgentHistory:
    folder = tmp_path / "history"
    folder.mkdir()
    return make_agent_history(folder)


@pytest.fixture
def agent(history: AgentHistory, notification_sink: NotificationSink) -> Iterator[ServerThread]:
    settings = ApiSettings(db_path=str(history.path), api_token=TOKEN, clock=lambda: history.now,
                           notify=notify_settings(notification_sink))  # fmt: skip
    with ServerThread(create_api_app(settings)) as server:
        yield server


def alertmanager_config(agent_url: str, token_file: Path, sink_url: str) -> dict[str, Any]:
    config = yaml.safe_load(RECEIVER_EXAMPLE.read_text())
    route = config["route"]["routes"][0]
    route.update(group_wait="1s", group_interval="1s")
    receiver = next(r for r in config["receivers"] if r["name"] == "runai-failure-agent")
    hook = receiver["webhook_configs"][0]
    hook["url"] = f"{agent_url}/api/alertmanager"
    hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    # A second copy of each notification, raw, so the test sees what Alertmanager sent.
    raw = copy.deepcopy(hook)
    raw["url"] = f"{sink_url}/alertmanager-raw"
    receiver["webhook_configs"].append(raw)
    return config


def gpu_alert(history: AgentHistory, ends_at: datetime | None = None) -> dict[str, Any]:
    """RunaiGPUHardwareFailures (per node) as the rule fires it, 30 min after the seeded Xid."""
    alert: dict[str, Any] = {
        "labels": {"alertname": "RunaiGPUHardwareFailures", "cluster": "gpu-prod",
                   "node": "node-gpu-03", "category": "gpu_hardware", "severity": "critical"},
        "annotations": {
            "summary": "Workloads are failing on faulty GPU hardware.",
            "runbook_url": "https://example.com/runbook.md#runaigpuhardwarefailures",
        },
        "startsAt": (history.now - timedelta(hours=2, minutes=30)).isoformat(),
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=x",
    }  # fmt: skip
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    return alert


@pytest.mark.slow  # Alertmanager start, group_wait and group_interval: ~6 s
def test_alertmanager_delivers_one_enriched_message_then_one_resolution(
    tmp_path: Path, history: AgentHistory, agent: ServerThread, notification_sink: NotificationSink
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    config = alertmanager_config(agent.url, token_file, notification_sink.url)
    alertmanager = start_alertmanager(config, tmp_path / "alertmanager")
    try:
        alertmanager.push([gpu_alert(history)])
        raw = notification_sink.wait_for("alertmanager-raw", 1)
        firing = {path: notification_sink.wait_for(path, 1) for path in ("slack", "teams", "hook")}
        time.sleep(2.5)  # two more group intervals: nothing new, so nothing more is posted

        # Resolved: endsAt in the past, as Prometheus sends when the rule stops firing.
        alertmanager.push([gpu_alert(history, ends_at=datetime.now(UTC) - timedelta(seconds=1))])
        notification_sink.wait_for("alertmanager-raw", 2)
        for path in ("slack", "teams", "hook"):
            notification_sink.wait_for(path, 2)
        time.sleep(1.5)
    finally:
        alertmanager.stop()
    log = alertmanager.log()
    assert "error" not in log.lower(), log

    raw = notification_sink.bodies("alertmanager-raw")
    assert [m["status"] for m in raw] == ["firing", "resolved"]
    assert raw[0]["version"] == "4" and raw[0]["alerts"][0]["fingerprint"]
    for path in ("slack", "teams", "hook"):
        assert len(notification_sink.bodies(path)) == 2, path  # one message, one resolution

    hook = notification_sink.bodies("hook")
    assert [h["status"] for h in hook] == ["firing", "resolved"]
    finding = hook[0]["findings"][0]
    expected = history.scalar(
        "SELECT count(*) FROM failure_events WHERE node = 'node-gpu-03' "
        "AND category = 'gpu_hardware' AND \"timestamp\" >= ? AND \"timestamp\" < ?",
        [history.now - timedelta(hours=3, minutes=30), history.now],  # startsAt - 1 h
    )
    assert finding["failures"] == expected == 1
    assert finding["category"] == "gpu_hardware"
    assert finding["evidence"].startswith("Xid 48: uncorrectable ECC error")
    assert "drain" in finding["recommendation"].lower()
    assert finding["ui_link"].startswith(f"{UI}/?q=analyze+failures+node+node-gpu-03")
    assert hook[1]["title"].startswith("Resolved: RunaiGPUHardwareFailures")

    slack = firing["slack"][0]
    assert "Xid 48" in json.dumps(slack["blocks"])
    assert notification_sink.bodies("slack")[1]["text"].startswith("Resolved:")
    teams = firing["teams"][0]
    assert teams["attachments"][0]["content"]["type"] == "AdaptiveCard"


def test_the_alert_table_matches_the_generated_rules() -> None:
    """Every alert of our rules is known, and a failure alert looks back over the rules'
    1 h window plus its `for`: the failures that made it fire."""
    rules_file = ROOT / "deploy/prometheus/runai-failure-analysis.rules.yml"
    rules = yaml.safe_load(rules_file.read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert set(alerts) == set(OUR_ALERTS)
    for name, rule in alerts.items():
        kind = OUR_ALERTS[name]
        assert kind.analyse == (not name.startswith("RunaiFailureExporter")), name
        if kind.analyse:
            held = rule.get("for", "0m")
            assert held.endswith("m"), held
            assert kind.lookback == timedelta(hours=1, minutes=int(held[:-1])), name
