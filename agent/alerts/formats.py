"""One notice per Alertmanager group, rendered for Slack, Microsoft Teams and a generic webhook.

- Slack incoming webhook: `text` (the fallback shown in notifications) plus Block Kit `blocks`:
  a header (plain_text, at most 150 characters), mrkdwn sections (at most 3000 characters
  each), a context line and a button linking the UI; at most 50 blocks per message. mrkdwn
  needs &, < and > escaped, and quoted log lines are full of them.
- Teams incoming webhook (Workflows or connector): a `message` whose attachment is an
  Adaptive Card (application/vnd.microsoft.card.adaptive) with TextBlocks, a FactSet and an
  Action.OpenUrl; the whole post stays under Teams' 28 KB.
- Generic webhook: the notice as JSON (the same findings the chat messages show).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agent.alerts.enrich import Finding

SLACK_HEADER_CHARS = 150
SLACK_SECTION_CHARS = 3000
SLACK_MAX_BLOCKS = 50
TEAMS_MAX_BYTES = 28_000
MAX_FINDINGS_SHOWN = 10  # a group of 40 alerts is one message, not a wall
LINE_CHARS = 600  # each fact of a finding: every fact fits in one Slack section
SOURCE = "runai-failure-analysis"


@dataclass(frozen=True)
class Notice:
    group_key: str
    status: str  # firing: the burst's analysis; resolved: the thread is closed
    findings: list[Finding]
    external_url: str = ""
    truncated_alerts: int = 0
    resolved_alerts: list[str] = field(default_factory=list)  # resolved in a firing group
    held_back: int = 0  # earlier notices the rate limit dropped

    @property
    def title(self) -> str:
        names = sorted({f.alert for f in self.findings})
        scope = _scope_text(_common_scope(self.findings))
        head = "Resolved" if self.status == "resolved" else "Firing"
        more = f" (+{len(names) - 2} more)" if len(names) > 2 else ""
        return f"{head}: {', '.join(names[:2])}{more}{f' ({scope})' if scope else ''}"

    @property
    def link(self) -> str | None:
        return next((f.ui_link for f in self.findings if f.ui_link), None)


def plain_lines(finding: Finding, resolved: bool) -> list[str]:
    """The facts of one finding as short lines (the generic and fallback text)."""
    scope = _scope_text(finding.scope)
    lines = [f"{finding.alert}{f' ({scope})' if scope else ''}: {finding.summary}".rstrip(": ")]
    if resolved:
        lines.append("Resolved" + (f"; it covered {finding.window}" if finding.window else ""))
        return [_cut(line, LINE_CHARS) for line in lines]
    if finding.failures:
        causes = ", ".join(f"{label} {n}" for label, n in finding.causes)
        lines.append(f"{finding.failures} failure(s) {finding.window}; causes: {causes}")
    if finding.category:
        lines.append(f"Category: {finding.category}")
    if finding.evidence:
        lines.append(f"Evidence ({finding.workload or 'newest'}): {finding.evidence}")
    if finding.recommendation:
        lines.append(f"Recommendation: {finding.recommendation}")
    if finding.note:
        lines.append(f"Note: {finding.note}")
    return [_cut(line, LINE_CHARS) for line in lines]


def plain_text(notice: Notice) -> str:
    resolved = notice.status == "resolved"
    parts = [notice.title]
    for finding in notice.findings[:MAX_FINDINGS_SHOWN]:
        parts.append("\n".join(plain_lines(finding, resolved)))
    parts.extend(_footer(notice))
    return "\n\n".join(parts)


def slack_payload(notice: Notice) -> dict[str, Any]:
    resolved = notice.status == "resolved"
    blocks: list[dict[str, Any]] = [
        {"type": "header",
         "text": {"type": "plain_text", "text": _cut(notice.title, SLACK_HEADER_CHARS)}},
    ]  # fmt: skip
    for finding in notice.findings[:MAX_FINDINGS_SHOWN]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut_escaped(
            _slack_finding(finding, resolved), SLACK_SECTION_CHARS)}})  # fmt: skip
    footer = _footer(notice)
    if footer:
        context = {"type": "mrkdwn", "text": _cut_escaped(_slack_escape(" · ".join(footer)), 3000)}
        blocks.append({"type": "context", "elements": [context]})
    if notice.link:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": "Open in the agent"},
            "url": notice.link}]})  # fmt: skip
    return {"text": _cut(notice.title, 3000), "blocks": blocks[:SLACK_MAX_BLOCKS]}


def _slack_finding(finding: Finding, resolved: bool) -> str:
    """mrkdwn, each fact escaped and cut on its own so the section keeps every fact."""

    def esc(text: str) -> str:
        return _cut_escaped(_slack_escape(text), SLACK_SECTION_CHARS // 7)

    lines = plain_lines(finding, resolved)
    rest = []
    for line in lines[1:]:
        label, sep, value = line.partition(": ")
        if sep and label in ("Category", "Recommendation", "Note"):
            rest.append(f"*{label}:* {esc(value)}")
        elif sep and label.startswith("Evidence"):
            quoted = esc(value).replace("`", "'")
            rest.append(f"*{esc(label)}:* `{quoted}`")
        else:
            rest.append(esc(line))
    return "\n".join([f"*{esc(lines[0])}*", *rest])


def teams_payload(notice: Notice) -> dict[str, Any]:
    resolved = notice.status == "resolved"
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": notice.title, "weight": "Bolder", "size": "Medium",
         "wrap": True, "color": "Good" if resolved else "Attention"},
    ]  # fmt: skip
    for finding in notice.findings[:MAX_FINDINGS_SHOWN]:
        lines = plain_lines(finding, resolved)
        body.append({"type": "TextBlock", "text": lines[0], "weight": "Bolder", "wrap": True,
                     "separator": True})  # fmt: skip
        facts = []
        for line in lines[1:]:
            label, sep, value = line.partition(": ")
            if sep and len(label) < 40:
                facts.append({"title": label, "value": value})
            else:
                body.append({"type": "TextBlock", "text": line, "wrap": True})
        if facts:
            body.append({"type": "FactSet", "facts": facts})
    footer = _footer(notice)
    if footer:
        body.append({"type": "TextBlock", "text": " · ".join(footer), "isSubtle": True,
                     "size": "Small", "wrap": True})  # fmt: skip
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if notice.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in the agent",
                            "url": notice.link}]  # fmt: skip
    payload = {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": card}]}  # fmt: skip
    while len(json.dumps(payload).encode()) > TEAMS_MAX_BYTES and len(body) > 2:
        body.pop(-2)  # drop the last finding's details first, keep the title and footer
    return payload


def generic_payload(notice: Notice) -> dict[str, Any]:
    return {
        "source": SOURCE,
        "status": notice.status,
        "group_key": notice.group_key,
        "title": notice.title,
        "text": plain_text(notice),
        "findings": [f.to_dict() for f in notice.findings],
        "resolved_alerts": notice.resolved_alerts,
        "truncated_alerts": notice.truncated_alerts,
        "held_back": notice.held_back,
        "alertmanager": notice.external_url or None,
        "ui_link": notice.link,
    }


FORMATS = {"slack": slack_payload, "teams": teams_payload, "webhook": generic_payload}


def _footer(notice: Notice) -> list[str]:
    out = []
    if len(notice.findings) > MAX_FINDINGS_SHOWN:
        out.append(f"{len(notice.findings) - MAX_FINDINGS_SHOWN} more alert(s) in this group")
    if notice.truncated_alerts:
        out.append(f"Alertmanager left out {notice.truncated_alerts} alert(s) (max_alerts)")
    if notice.resolved_alerts:
        out.append("Resolved meanwhile: " + ", ".join(sorted(set(notice.resolved_alerts))))
    if notice.held_back:
        out.append(f"{notice.held_back} earlier notice(s) held back by the rate limit")
    runbook = next((f.runbook for f in notice.findings if f.runbook), None)
    if runbook:
        out.append(f"Runbook: {runbook}")
    return out


def _common_scope(findings: list[Finding]) -> dict[str, str]:
    if not findings:
        return {}
    common = dict(findings[0].scope)
    for finding in findings[1:]:
        common = {k: v for k, v in common.items() if finding.scope.get(k) == v}
    return common


def _scope_text(scope: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in scope.items())


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut_escaped(text: str, limit: int) -> str:
    """_cut for escaped mrkdwn: never leaves half an entity (`&am`) at the cut."""
    if len(text) <= limit:
        return text
    return re.sub(r"&[a-z]{0,3}$", "", text[: limit - 1]) + "…"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
