"""The failures behind an alert: the agent's own tools, scoped by the alert's labels and time.

Our rules (scripts/observability/alert_rules.py) label an alert with the project, node and
category it counts, over a window of RATIO_WINDOW (1 h) held for the rule's `for`. So the
failures behind an alert are those with its labels in [startsAt - lookback, end), where end is
the alert's endsAt once resolved, else now. analyze_failures gives the count, the top causes
with the newest quoted evidence of each, and what to do first; that is what a person needs in
the chat message before opening anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from agent.alerts.payload import Alert
from agent.tools.catalog import run_tool
from agent.types import ToolContext
from history import categories


@dataclass(frozen=True)
class AlertKind:
    lookback: timedelta  # the rule's rate window plus its `for`
    analyse: bool = True  # False: about the exporter itself, no failures behind it
    category: str | None = None  # implied by the rule when the labels do not say it


_HOUR = timedelta(hours=1)
# Our alert names, as data; tests/test_alertmanager_receiver.py checks them against the rules.
OUR_ALERTS: dict[str, AlertKind] = {
    "RunaiProjectFailureRatioHigh": AlertKind(_HOUR + timedelta(minutes=15)),
    "RunaiGPUHardwareFailures": AlertKind(_HOUR, category="gpu_hardware"),
    "RunaiNodeFailuresRecurring": AlertKind(_HOUR + timedelta(minutes=5)),
    "RunaiOOMKillsRecurring": AlertKind(_HOUR),
    "RunaiWorkloadFailureSpike": AlertKind(_HOUR + timedelta(minutes=15)),
    "RunaiFailureExporterDown": AlertKind(timedelta(0), analyse=False),
    "RunaiFailureExporterPollsFailing": AlertKind(timedelta(0), analyse=False),
    "RunaiFailureExporterPollsStale": AlertKind(timedelta(0), analyse=False),
    "RunaiFailureExporterDBWriteErrors": AlertKind(timedelta(0), analyse=False),
}
SCOPE_LABELS = ("cluster", "project", "node", "category")
EVIDENCE_CHARS = 300  # one line in a chat message, not a log dump
EXPORTER_ADVICE = (
    "The failure exporter itself needs attention: until it is fixed no failure is recorded and "
    "the other Run:ai failure alerts stay silent. See the runbook link."
)


@dataclass(frozen=True)
class Finding:
    """One alert with what the history says about it; plain data for every message format."""

    alert: str
    status: str  # firing / resolved
    summary: str
    scope: dict[str, str]  # the alert's cluster/project/node/category labels
    window: str = ""
    failures: int | None = None  # None: not analysed (exporter alert, unreadable history)
    causes: list[tuple[str, int]] = field(default_factory=list)  # (category label, failures)
    category: str | None = None  # the top cause's category
    evidence: str | None = None  # the newest quoted evidence of the top cause
    workload: str | None = None
    recommendation: str | None = None
    note: str | None = None  # why there is no analysis, when there is none
    ui_link: str | None = None
    runbook: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [], {})}


def analyse(alert: Alert, ctx: ToolContext, ui_url: str | None) -> Finding:
    kind = OUR_ALERTS.get(alert.name)
    scope = {k: alert.labels[k] for k in SCOPE_LABELS if alert.labels.get(k)}
    base: dict[str, Any] = {
        "alert": alert.name or "(no alertname)",
        "status": alert.status,
        "summary": alert.annotations.get("summary") or alert.annotations.get("description", ""),
        "scope": scope,
        "runbook": alert.annotations.get("runbook_url") or None,
    }
    if kind is None:
        return Finding(**base, note="not one of this product's alerts: forwarded as it came")
    if not kind.analyse:
        return Finding(**base, recommendation=EXPORTER_ADVICE)
    end = alert.ends_at if alert.ends_at and alert.ends_at < ctx.now else ctx.now
    start = alert.starts_at - kind.lookback
    if end <= start:
        end = alert.starts_at + timedelta(seconds=1)
    args: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat()}
    for label in ("project", "node"):
        if scope.get(label):
            args[label] = scope[label]
    category = scope.get("category") or kind.category
    if category in categories.CATEGORIES:
        args["category"] = category
    result = run_tool(ctx, "analyze_failures", args)
    window = f"{start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC"
    # The rules' own agent_url annotation (set when the rules are generated with AGENT_URL)
    # when this agent has no AGENT_UI_URL.
    link = ui_link(ui_url, args) or alert.annotations.get("agent_url") or None
    if result.status == "error":
        return Finding(**base, window=window, note=f"no analysis: {result.message}", ui_link=link)
    data = result.data or {}
    failures = int((data.get("current") or {}).get("failures", 0))
    if result.status == "no_data" or failures == 0:
        return Finding(**base, window=window, failures=0, ui_link=link,
                       note="no failure with these labels is recorded in that window")  # fmt: skip
    causes = data.get("top_causes") or []
    top = causes[0] if causes else {}
    example = top.get("example") or {}
    actions = {a["category"]: a for a in data.get("actions") or []}
    top_category = top.get("category")
    return Finding(
        **base,
        window=window,
        failures=failures,
        causes=[(categories.label(c["category"]), int(c["failures"])) for c in causes[:3]],
        category=top_category,
        evidence=_one_line(example.get("evidence")),
        workload=example.get("workload_name"),
        recommendation=(actions.get(top_category) or {}).get("action")
        or (categories.advice(top_category) if top_category else None),
        ui_link=link,
    )


def ui_link(ui_url: str | None, args: Mapping[str, Any]) -> str | None:
    """The web UI with the question filled in (the UI reads ?q=)."""
    if not ui_url:
        return None
    scope = " ".join(f"{k} {args[k]}" for k in ("project", "node", "category") if k in args)
    question = f"analyze failures {scope} from {args['start'][:16]}Z to {args['end'][:16]}Z"
    return f"{ui_url.rstrip('/')}/?{urlencode({'q': ' '.join(question.split())})}"


def _one_line(text: Any) -> str | None:
    if not text:
        return None
    line = " ".join(str(text).split())
    return line if len(line) <= EVIDENCE_CHARS else line[: EVIDENCE_CHARS - 1] + "…"
