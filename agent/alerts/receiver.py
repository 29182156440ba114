"""POST /api/alertmanager: one Alertmanager group in, one enriched notice out to chat.

A firing group becomes one notice with the analysis of each firing alert (agent/alerts/enrich);
a resolved group becomes one resolution notice that closes the group's thread. The notice is
also returned in the response, so the receiver can be tried with curl and no chat configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.alerts.delivery import Notifier
from agent.alerts.enrich import SCOPE_LABELS, Finding, analyse
from agent.alerts.formats import Notice, generic_payload
from agent.alerts.payload import Alert, Notification, parse_notification
from agent.types import ToolContext


def receive(body: Mapping[str, Any], ctx: ToolContext, notifier: Notifier) -> dict[str, Any]:
    """Parse (PayloadError on a bad body), analyse, deliver; the report for the response."""
    notification = parse_notification(body)
    notice = build_notice(notification, ctx, notifier.settings.ui_url)
    firing = frozenset(a.fingerprint for a in notification.firing)
    report = notifier.deliver(notice, firing)
    return {"status": notice.status, "notice": generic_payload(notice), **report}


def build_notice(notification: Notification, ctx: ToolContext, ui_url: str | None) -> Notice:
    if notification.status == "resolved":
        findings = [_resolved(alert) for alert in notification.alerts]
        return Notice(notification.group_key, "resolved", findings, notification.external_url,
                      notification.truncated_alerts)  # fmt: skip
    findings = [analyse(alert, ctx, ui_url) for alert in notification.firing]
    return Notice(
        notification.group_key,
        "firing",
        findings,
        notification.external_url,
        notification.truncated_alerts,
        resolved_alerts=[a.name for a in notification.resolved],
    )


def _resolved(alert: Alert) -> Finding:
    window = ""
    if alert.ends_at:
        window = f"{alert.starts_at:%Y-%m-%d %H:%M} to {alert.ends_at:%H:%M} UTC"
    return Finding(
        alert=alert.name or "(no alertname)",
        status="resolved",
        summary=alert.annotations.get("summary") or alert.annotations.get("description", ""),
        scope={k: alert.labels[k] for k in SCOPE_LABELS if alert.labels.get(k)},
        window=window,
        runbook=alert.annotations.get("runbook_url") or None,
    )
