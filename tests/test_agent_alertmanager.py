"""POST /api/alertmanager with payloads recorded from a real Alertmanager 0.25 (tests/data/
alertmanager/, captured by the setup of tests/test_alertmanager_receiver.py): the enrichment,
the Slack / Teams / generic message shapes, one message per group, the resolution, the rate
limit, secrets, and a clear 4xx for everything that is not a version 4 webhook message.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from agent.alerts.delivery import Notifier, NotifySettings, Target
from agent.alerts.enrich import Finding
from agent.alerts.formats import Notice
from agent.api.app import create_api_app
from agent.api.edges import ApiSettings
from common.errors import ConfigError
from tests.fixtures_agent import AgentHistory, make_agent_history
from tests.fixtures_llm import ServerThread

DATA = Path(__file__).resolve().parent / "data" / "alertmanager"
TOKEN = "am-token-61f0c2"
UI = "https://runai-failure.example.com"
SLACK_SECRET = "T0AAAAAAA/B0BBBBBBB/zYxWvUtSrQpOnMlKjIhGfEdC"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> AgentHistory:
    history = make_agent_history(tmp_path_factory.mktemp("am"))
    conn = duckdb.connect(str(history.path))
    # Evidence recorded before redaction existed: a key in the log line the message quotes.
    conn.execute(
        "UPDATE failure_events SET evidence = evidence || ' (AWS_ACCESS_KEY_ID=" + AWS_KEY + ")'"
        " WHERE project = 'team-a' AND category = 'gpu_oom'"
    )
    conn.close()
    return history


@pytest.fixture
def agent(history, notification_sink) -> Iterator[httpx.Client]:
    settings = ApiSettings(
        db_path=str(history.path),
        api_token=TOKEN,
        clock=lambda: history.now,
        notify=NotifySettings(
            targets=(Target("slack", f"{notification_sink.url}/slack"),
                     Target("teams", f"{notification_sink.url}/teams"),
                     Target("webhook", f"{notification_sink.url}/hook")),
            ui_url=UI,
        ),
    )  # fmt: skip
    with (
        ServerThread(create_api_app(settings)) as server,
        httpx.Client(base_url=server.url, timeout=30,
                     headers={"Authorization": f"Bearer {TOKEN}"}) as client,
    ):  # fmt: skip
        yield client


def post(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post("/api/alertmanager", json=body)


def test_a_firing_group_is_one_enriched_message_per_target(agent, history, notification_sink):
    response = post(agent, recorded("oom-firing.json"))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["delivered"] == {"slack": "sent", "teams": "sent", "webhook": "sent"}
    finding = report["notice"]["findings"][0]
    start = history.now - timedelta(days=1, hours=2, minutes=30)  # startsAt - 1 h
    expected = history.scalar(
        "SELECT count(*) FROM failure_events WHERE project = 'team-a' AND category = 'gpu_oom'"
        ' AND "timestamp" >= ? AND "timestamp" < ?',
        [start, history.now],
    )
    assert finding["failures"] == expected == 1
    assert finding["category"] == "gpu_oom"
    assert finding["workload"] == "train-llama-7b"
    assert finding["evidence"].startswith("torch.OutOfMemoryError: CUDA out of memory")
    assert AWS_KEY not in json.dumps(report) and "[redacted]" in finding["evidence"]
    assert finding["recommendation"]
    assert finding["scope"] == {"cluster": "gpu-prod", "project": "team-a", "category": "gpu_oom"}
    for path in ("slack", "teams", "hook"):
        (body,) = notification_sink.bodies(path)
        assert AWS_KEY not in json.dumps(body)
        assert "train-llama-7b" in json.dumps(body)
    check_slack(notification_sink.bodies("slack")[0])
    check_teams(notification_sink.bodies("teams")[0])
    hook = notification_sink.bodies("hook")[0]
    assert hook["status"] == "firing" and hook["source"] == "runai-failure-analysis"
    assert hook["ui_link"].startswith(f"{UI}/?q=analyze+failures+project+team-a+category+gpu_oom")


def check_slack(body: dict[str, Any]) -> None:
    """Slack's incoming-webhook message: `text` plus Block Kit blocks within Slack's limits."""
    assert isinstance(body["text"], str) and body["text"].startswith("Firing: ")
    blocks = body["blocks"]
    assert 1 <= len(blocks) <= 50
    assert set(body) == {"text", "blocks"}
    header = blocks[0]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert len(header["text"]["text"]) <= 150
    for block in blocks[1:]:
        assert block["type"] in ("section", "context", "actions")
        if block["type"] == "section":
            assert block["text"]["type"] == "mrkdwn" and len(block["text"]["text"]) <= 3000
            # mrkdwn control characters from log lines are escaped, never raw
            text = block["text"]["text"].replace("&amp;", "").replace("&lt;", "")
            assert "<" not in text.replace("&gt;", "") and "&" not in text.replace("&gt;", "")
        if block["type"] == "actions":
            (button,) = block["elements"]
            assert button["type"] == "button" and button["url"].startswith(UI)
            assert button["text"]["type"] == "plain_text"
    assert "*Recommendation:*" in json.dumps(blocks)


def check_teams(body: dict[str, Any]) -> None:
    """Teams' incoming-webhook message carrying one Adaptive Card."""
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] in ("1.2", "1.3", "1.4", "1.5")
    assert {element["type"] for element in card["body"]} <= {"TextBlock", "FactSet"}
    facts = [f for e in card["body"] if e["type"] == "FactSet" for f in e["facts"]]
    assert {"Category", "Recommendation"} <= {f["title"] for f in facts}
    assert all(set(f) == {"title", "value"} and isinstance(f["value"], str) for f in facts)
    (action,) = card["actions"]
    assert action["type"] == "Action.OpenUrl" and action["url"].startswith(UI)
    assert len(json.dumps(body).encode()) < 28_000


def test_a_repeat_is_not_posted_again_and_the_resolution_closes_the_thread(
    agent, notification_sink
):
    assert post(agent, recorded("oom-firing.json")).status_code == 200
    again = post(agent, recorded("oom-firing.json")).json()  # Alertmanager's repeat_interval
    assert again["delivered"] == {} and "already announced" in again["note"]
    resolved = post(agent, recorded("oom-resolved.json")).json()
    assert resolved["status"] == "resolved"
    assert resolved["delivered"] == {"slack": "sent", "teams": "sent", "webhook": "sent"}
    assert resolved["notice"]["title"] == (
        "Resolved: RunaiOOMKillsRecurring (cluster gpu-prod, project team-a, category gpu_oom)"
    )
    for path in ("slack", "teams", "hook"):
        assert len(notification_sink.bodies(path)) == 2
    # After the resolution, the same alert firing again is news.
    assert post(agent, recorded("oom-firing.json")).json()["delivered"]["slack"] == "sent"


def test_a_cluster_wide_spike_analyses_every_failure_in_its_window(agent, history):
    report = post(agent, recorded("spike-firing.json")).json()
    finding = report["notice"]["findings"][0]
    start = history.now - timedelta(hours=4, minutes=45)  # startsAt - (1 h + the rule's 15 m)
    expected = history.scalar(
        'SELECT count(*) FROM failure_events WHERE "timestamp" >= ? AND "timestamp" < ?',
        [start, history.now],
    )
    assert finding["failures"] == expected == 2  # the image pull at 08:00, the Xid at 09:00
    assert finding["scope"] == {"cluster": "gpu-prod"}


def test_an_alert_with_no_failures_behind_it_says_so(agent):
    body = recorded("oom-firing.json")
    body["alerts"][0]["labels"]["project"] = "no-such-project"
    body["groupKey"] += "-empty"
    finding = post(agent, body).json()["notice"]["findings"][0]
    assert finding["failures"] == 0
    assert "no failure with these labels" in finding["note"]


def _without(key: str) -> Any:
    def change(body: dict[str, Any]) -> None:
        del body[key]

    return change


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(body: dict[str, Any]) -> None:
        target = body
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(("version",), "3"), "unsupported webhook payload version '3'"),
        (_without("version"), "unsupported webhook payload version None"),
        (_without("groupKey"), "missing field 'groupKey'"),
        (_set(("alerts",), []), "'alerts' must be a non-empty list"),
        (_set(("alerts",), {"a": 1}), "'alerts' must be a non-empty list"),
        (_set(("status",), "pending"), "'status' must be firing or resolved"),
        (_set(("alerts", 0, "startsAt"), "yesterday"), "'alerts[0].startsAt' is not an RFC 3339"),
        (_set(("alerts", 0, "labels"), {"project": 7}), "'alerts[0].labels' must be an object"),
        (_set(("alerts", 0), "firing"), "alerts[0] must be an object"),
        (_set(("alerts", 0, "fingerprint"), None), "'alerts[0].fingerprint' must be a string"),
        (_set(("truncatedAlerts",), -1), "'truncatedAlerts' must be a whole number"),
    ],
)
def test_anything_but_a_version_4_message_is_a_clear_400(agent, notification_sink, change, message):
    body = recorded("oom-firing.json")
    change(body)
    response = post(agent, body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("not an Alertmanager webhook message: ")
    assert message in response.json()["error"]
    assert notification_sink.received == []


@pytest.mark.parametrize(
    ("content", "headers", "status", "words"),
    [
        (b"[1, 2]", {}, 400, "body must be a JSON object"),
        (b"{version: 4}", {}, 400, "body is not valid JSON"),
        (b"", {}, 400, "empty body"),
        (b"{}" + b" " * 70_000, {}, 413, "request body larger than"),
        (b"{}", {"Content-Type": "text/plain"}, 415, "Content-Type: application/json"),
        (b"{}", {"Authorization": "Bearer wrong"}, 401, "AGENT_API_TOKEN"),
    ],
)
def test_bad_requests_get_a_4xx_never_a_500(agent, content, headers, status, words):
    response = agent.post("/api/alertmanager", content=content,
                          headers={"Content-Type": "application/json", **headers})  # fmt: skip
    assert response.status_code == status, response.text
    assert words in response.json()["error"]


def test_get_is_405(agent):
    assert agent.get("/api/alertmanager").status_code == 405


def finding(alert: str) -> Finding:
    return Finding(alert=alert, status="firing", summary="s", scope={"project": "p"})


def test_the_rate_limit_holds_back_and_the_next_message_counts_what_it_held(notification_sink):
    now = [0.0]
    settings = NotifySettings(targets=(Target("webhook", f"{notification_sink.url}/hook"),),
                              per_minute=2)  # fmt: skip
    notifier = Notifier(settings, clock=lambda: now[0])
    reports = [
        notifier.deliver(Notice(f"group-{i}", "firing", [finding(f"A{i}")]), frozenset({str(i)}))
        for i in range(4)
    ]
    assert [r["delivered"]["webhook"] for r in reports] == [
        "sent", "sent", "held back by the rate limit", "held back by the rate limit"]  # fmt: skip
    now[0] = 61.0
    notifier.deliver(Notice("group-9", "firing", [finding("A9")]), frozenset({"9"}))
    bodies = notification_sink.bodies("hook")
    assert len(bodies) == 3
    assert bodies[-1]["held_back"] == 2
    assert "2 earlier notice(s) held back by the rate limit" in bodies[-1]["text"]


def test_a_webhook_url_is_a_secret_in_logs_reports_and_errors(notification_sink, caplog):
    notification_sink.status = 500
    dead = "http://127.0.0.1:9/services/" + SLACK_SECRET  # port 9: nothing listens
    settings = NotifySettings(targets=(Target("slack", f"{notification_sink.url}/{SLACK_SECRET}"),
                                       Target("teams", dead)))  # fmt: skip
    caplog.set_level(logging.DEBUG)
    report = Notifier(settings).deliver(Notice("g", "firing", [finding("A")]), frozenset({"1"}))
    assert report["delivered"]["slack"] == "failed: HTTP 500"
    assert report["delivered"]["teams"].startswith("failed: ")
    assert SLACK_SECRET not in json.dumps(report) + caplog.text
    assert "the slack webhook answered HTTP 500" in caplog.text
    assert SLACK_SECRET not in repr(settings)


def test_targets_come_from_the_environment_and_a_bad_one_is_one_line():
    settings = NotifySettings.from_env({
        "AGENT_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/" + SLACK_SECRET,
        "AGENT_NOTIFY_WEBHOOK_URL": "http://sink.local/hook",
        "AGENT_UI_URL": UI,
        "AGENT_NOTIFY_PER_MINUTE": "5",
    })  # fmt: skip
    assert [t.kind for t in settings.targets] == ["slack", "webhook"]
    assert settings.ui_url == UI and settings.per_minute == 5
    with pytest.raises(ConfigError) as bad:
        NotifySettings.from_env({"AGENT_TEAMS_WEBHOOK_URL": "outlook.office.com/" + SLACK_SECRET})
    assert str(bad.value) == (
        "AGENT_TEAMS_WEBHOOK_URL must be an http(s) URL, got (hidden: it is a credential)"
    )
    with pytest.raises(ConfigError, match="Invalid AGENT_NOTIFY_PER_MINUTE '0'"):
        NotifySettings.from_env({"AGENT_NOTIFY_PER_MINUTE": "0"})


def test_a_notice_of_many_alerts_stays_within_slack_and_teams_limits():
    from agent.alerts.formats import slack_payload, teams_payload

    long = Finding(alert="RunaiOOMKillsRecurring", status="firing", summary="x" * 5000,
                   scope={"project": "p" * 300}, failures=3, evidence="<&>" * 2000,
                   recommendation="r" * 4000, ui_link=UI)  # fmt: skip
    notice = Notice("g", "firing", [copy.deepcopy(long) for _ in range(40)], truncated_alerts=7)
    check_slack(slack_payload(notice))
    teams = teams_payload(notice)
    assert len(json.dumps(teams).encode()) < 28_000
    assert "30 more alert(s)" in json.dumps(slack_payload(notice))
