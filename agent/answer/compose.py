"""Tool results -> markdown sections of a deterministic answer.

Every number printed here comes straight from a ToolResult of the same turn; nothing is
estimated. Stored text (evidence, summaries, log lines, names) is quoted with render.code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from agent.answer.markdown import (
    bullets,
    code,
    code_block,
    count,
    duration,
    numbered,
    pct,
    plain,
    plural,
    points,
    table,
    when,
)
from agent.tools.shapes import (
    AnalysisData,
    DetailData,
    Evidence,
    ListData,
    PromqlData,
    StatisticsData,
    StatisticsGroup,
    WindowTotals,
)
from agent.types import ToolResult
from history import categories

_GROUP_TITLES = {
    "category": "Cause",
    "project": "Project",
    "workload_type": "Type",
    "node": "Node",
    "image": "Image",
    "kind": "Kind",
    "workload_name": "Workload",
    "department": "Department",
}


def window_line(data: StatisticsData | AnalysisData | ListData) -> str:
    window = data["window"]
    span = f"{when(window['start'])} to {when(window['end'])}"
    label = "" if window["label"] == span else f"{window['label']} "  # bounds given: no phrase
    return (
        f"_Window: {label}({span} UTC)"
        + (f"; filters: {_filters(data.get('filters') or {})}" if data.get("filters") else "")
        + "_"
    )


def _filters(filters: dict[str, Any]) -> str:
    """ "project = `a`, category = `gpu_oom` or `oom_killed`, xid" (a list is any of them)."""
    parts = []
    for key, value in filters.items():
        values = value if isinstance(value, list) else [value]
        parts.append(key if value is True else f"{key} = " + " or ".join(code(v) for v in values))
    return ", ".join(parts)


def status_note(result: ToolResult) -> str:
    """A no_data or error result as one friendly line."""
    if result.status == "error":
        return f"> **Could not answer:** {plain(result.message)}"
    return f"> {plain(result.message)}"


def _group_cell(group_by: str, key: str) -> str:
    if group_by == "category":
        return f"{code(key)} ({categories.label(key)})"
    return code(key)


def example(found: Evidence | None) -> str:
    """The newest quoted evidence of a cause, with the workload it came from."""
    if not found or not found.get("evidence"):
        return "_no evidence recorded_"
    return f"{code(found['evidence'], 120)} ({code(found['workload_name'])})"


def kinds_headline(counts: StatisticsData | WindowTotals) -> str:
    """Failed, degraded and stuck-pending episodes apart, then their total: only the first
    are failed runs."""
    kinds = counts["by_kind"]
    total = kinds["failed"] + kinds["degraded"] + kinds["pending"]
    return (
        f"**{count(kinds['failed'])} failed**, **{count(kinds['degraded'])} degraded**, "
        f"**{count(kinds['pending'])} stuck pending** (**{plural(total, 'failure')}** in all)"
    )


def rate_text(data: StatisticsData) -> str:
    if data.get("no_rate_reason"):
        return f"; no failure rate: {data['no_rate_reason']}"
    if data["failure_rate"] is not None:
        return (
            f"; failure rate {pct(data['failure_rate'])} ({count(data['failed_runs'])} failed of "
            f"{count(data['finished_runs'])} finished runs)"
        )
    return f"; {count(data['finished_runs'])} finished runs"


# Filters finished runs cannot take: a run records no cause, kind or Xid.
_NO_RUN_FILTERS = frozenset({"category", "kind", "xid", "xid_code"})


def measure_sentence(data: StatisticsData, measure: str) -> str:
    """The figure the question asked for, stated first when it is not the episode count."""
    if measure == "workloads" and data.get("workloads") is not None:
        return f"**{plural(data['workloads'], 'distinct workload')}** failed."
    if measure == "gpus":
        return f"**{count(data['gpus_requested'])} GPUs** were requested by these failures."
    if measure == "gpu_hours":
        if data.get("gpu_hours_lost") is None:
            return (
                "_GPU-hours lost are counted from failed runs, which carry no cause or kind: "
                "not available with this filter._"
            )
        return (
            f"**{count(data['gpu_hours_lost'])} GPU-hours** were lost by failed runs "
            "(GPUs requested x the run's length, created to finished)."
        )
    if measure == "rate" and not set(data["filters"]) & _NO_RUN_FILTERS:
        finished, failed = data["finished_runs"], data["failed_runs"]
        if data.get("no_rate_reason"):
            return f"**No failure rate:** {plain(data['no_rate_reason'] or '')}."
        if not finished:
            return "**No failure rate:** no finished runs are recorded in this window."
        return (
            f"**Failure rate {pct(failed / finished)}**: {count(failed)} failed of "
            f"{plural(finished, 'finished run')} (completed and failed)."
        )
    if measure == "runs":
        if set(data["filters"]) & _NO_RUN_FILTERS:
            return (
                "_Finished runs carry no cause or kind: how many ran or completed is not "
                "available with this filter._"
            )
        finished, failed = data["finished_runs"], data["failed_runs"]
        completed = finished - failed
        rate = f" (success rate {pct(completed / finished)})" if finished else ""
        if data.get("no_rate_reason"):
            rate = f"; no success rate: {plain(data['no_rate_reason'] or '')}"
        return (
            f"**{plural(finished, 'run')} finished**: {count(completed)} completed, "
            f"{count(failed)} failed{rate}."
        )
    return ""


def statistics_section(
    result: ToolResult, headline: bool = True, top: int | None = None, titled: bool = True
) -> str:
    data: StatisticsData = result.data
    group_by = data["group_by"]
    parts = []
    if headline:
        parts.append(f"{kinds_headline(data)}{rate_text(data)}.")
    title = _GROUP_TITLES[group_by]
    if group_by in ("category", "kind"):
        headers = [title, "Failures", "Share", "Rate of finished runs"]
        rows = [
            [_group_cell(group_by, g["key"]), count(g["failures"]), pct(g["share"]),
             pct(g["failure_rate"])]
            for g in data["groups"]
        ]  # fmt: skip
        if group_by == "category":  # every cause with its proof
            headers.append("Latest evidence")
            for row, group in zip(rows, data["groups"], strict=True):
                row.append(example(group.get("example")))
    elif data["filters"].get("category") or data["filters"].get("kind"):
        headers = [title, "Failures", "Share", "Finished runs", "Rate of finished runs"]
        rows = [
            [_group_cell(group_by, g["key"]), count(g["failures"]), pct(g["share"]),
             count(g["finished_runs"]), pct(g["failure_rate"])]
            for g in data["groups"]
        ]  # fmt: skip
    else:
        headers = [title, "Failures", "Share", "Failed runs", "Finished runs", "Failure rate"]
        rows = [
            [_group_cell(group_by, g["key"]), count(g["failures"]), pct(g["share"]),
             count(g["failed_runs"]), count(g["finished_runs"]), pct(g["failure_rate"])]
            for g in data["groups"]
        ]  # fmt: skip
    for name, cell in _extra_columns(data):
        headers.append(name)
        for row, group in zip(rows, data["groups"], strict=True):
            row.append(count(cell(group)))
    numeric = [i for i, h in enumerate(headers) if i and h != "Latest evidence"]
    lead = f"**Top {count(top)} by {title.lower()}**" if top else f"**By {title.lower()}**"
    body = table(headers, rows, numeric=numeric)
    parts.append(f"{lead}\n\n{body}" if titled else body)
    reasons = sorted({r for g in data["groups"] if (r := g["no_rate_reason"])})
    if reasons:
        parts.append("_No rate where — is shown: " + "; ".join(reasons) + "._")
    if data["other_groups"]:
        parts.append(
            f"_…and {count(data['other_groups'])} more {title.lower()} values with "
            f"{count(data['other_failures'])} failures._"
        )
    return "\n\n".join(parts)


_EXTRA: tuple[tuple[str, Callable[[StatisticsGroup], float | None]], ...] = (
    ("GPUs requested", lambda g: g["gpus_requested"]),
    ("Workloads", lambda g: g["workloads"]),
    ("GPU-hours lost", lambda g: g.get("gpu_hours_lost")),
)


def _extra_columns(data: StatisticsData) -> list[tuple[str, Callable[[StatisticsGroup], Any]]]:
    """GPUs requested always; distinct workloads and GPU-hours when the question asked."""
    groups = data["groups"]
    return [(name, cell) for name, cell in _EXTRA if groups and cell(groups[0]) is not None]


_COMPARED = (
    ("Failed", lambda d: count(d["by_kind"]["failed"])),
    ("Degraded", lambda d: count(d["by_kind"]["degraded"])),
    ("Stuck pending", lambda d: count(d["by_kind"]["pending"])),
    ("All failure episodes", lambda d: count(d["total_failures"])),
    ("Distinct workloads", lambda d: count(d.get("workloads"))),
    ("GPUs requested", lambda d: count(d["gpus_requested"])),
    ("Finished runs", lambda d: count(d["finished_runs"])),
    ("Failed runs", lambda d: count(d["failed_runs"])),
    ("Failure rate", lambda d: "n/a" if d.get("no_rate_reason") else pct(d["failure_rate"])),
)


def during(label: str) -> str:
    """A window's label as a phrase after a count: "in November 2026", "on 2026-11-25",
    "since Monday", "last 7 days" (a label that is already a phrase takes no preposition)."""
    if re.match(r"(?:since|from|last|this|today|yesterday|overnight|the|all)\b", label):
        return label
    if re.match(r"\d{4}-\d{2}-\d{2}$|(?:mon|tues|wednes|thurs|fri|satur|sun)day\b", label, re.I):
        return f"on {label}"
    return f"in {label}"


def comparison_lines(results: list[tuple[str, ToolResult]]) -> str:
    """One line per side with its own numbers, then which side had more."""
    lines = []
    for label, result in results:
        data = result.data
        if not data:
            continue
        workloads = (
            f", {plural(data['workloads'], 'distinct workload')}"
            if data.get("workloads") is not None
            else ""
        )
        lines.append(
            f"- {plain(label)} ({when(data['window']['start'])} to {when(data['window']['end'])}"
            f" UTC): **{plural(data['total_failures'], 'failure')}** ("
            f"{count(data['by_kind']['failed'])} failed, {count(data['by_kind']['degraded'])} "
            f"degraded, {count(data['by_kind']['pending'])} stuck pending){workloads}"
        )
    if len(results) == 2 and all(r.data for _, r in results):
        (a, first), (b, second) = results
        x, y = first.data["total_failures"], second.data["total_failures"]
        verdict = (
            f"{plain(a)} had **more** failures than {plain(b)} ({count(x)} vs {count(y)})"
            if x > y
            else f"{plain(a)} had **fewer** failures than {plain(b)} ({count(x)} vs {count(y)})"
            if x < y
            else f"{plain(a)} and {plain(b)} had the same number of failures ({count(x)})"
        )
        lines.append(f"\n{verdict}.")
    elif len(results) > 2 and all(r.data for _, r in results):
        # The most failures first; a tie goes to the side named first (a stable rule).
        ranked = sorted(results, key=lambda side: -side[1].data["total_failures"])
        top = ranked[0][1].data["total_failures"]
        leaders = [plain(label) for label, r in ranked if r.data["total_failures"] == top]
        lines.append(f"\nMost failures: **{' and '.join(leaders)}** ({count(top)}).")
    return "\n".join(lines)


def rate_verdict(results: list[tuple[str, ToolResult]]) -> str:
    """For "is A more reliable than B": each side's failure rate, failed of finished runs."""
    parts = []
    for label, result in results:
        data = result.data
        if not data:
            continue
        if data.get("no_rate_reason") or not data["finished_runs"]:
            reason = data.get("no_rate_reason") or "no finished runs"
            parts.append(f"{plain(label)}: no failure rate ({plain(reason)})")
        else:
            parts.append(
                f"{plain(label)}: **failure rate {pct(data['failure_rate'])}** "
                f"({count(data['failed_runs'])} failed of "
                f"{plural(data['finished_runs'], 'finished run')})"
            )
    return "; ".join(parts) + "." if parts else ""


def comparison_section(results: list[tuple[str, ToolResult]]) -> str:
    """Two (or more) selections side by side, one measure a row."""
    headers = ["Measure", *(plain(label) for label, _ in results)]
    rows = []
    for name, cell in _COMPARED:
        row = [name]
        for _, result in results:
            row.append(cell(result.data) if result.data else "—")
        rows.append(row)
    notes = sorted(
        {r.data["no_rate_reason"] for _, r in results if r.data and r.data.get("no_rate_reason")}
    )
    out = table(headers, rows, numeric=tuple(range(1, len(headers))))
    if notes:
        out += "\n\n_" + "; ".join(notes) + "._"
    return out


def trend_sentence(data: AnalysisData, subject: str = "The failure rate") -> str:
    now, before, trend = data["current"], data["previous"], data["trend"]
    if trend["direction"] == "unknown":
        return (
            f"No trend can be judged: {plain(trend['reason'])}, so the previous window is "
            f"mostly missing data, not fewer failures ({count(before['failures'])} recorded "
            f"then, {count(now['failures'])} now)."
        )
    verb = {"up": "went **up**", "down": "went **down**", "flat": "stayed **flat**"}[
        trend["direction"]
    ]
    if trend["judged_by"] == "failure rate":
        return (
            f"{subject} {verb}: {pct(before['failure_rate'])} in the previous window → "
            f"{pct(now['failure_rate'])} now ({points(trend['failure_rate_change'])}); "
            f"failures {count(before['failures'])} → {count(now['failures'])}."
        )
    if not (now["finished_runs"] and before["finished_runs"]):
        why = "no finished runs recorded to compute a rate"
    elif trend.get("reason"):
        why = f"not by the failure rate: {plain(trend['reason'])}"
    else:
        why = "degraded and pending episodes have no failure rate"
    return (
        f"Failures {verb}: {count(before['failures'])} in the previous window → "
        f"{count(now['failures'])} now ({why})."
    )


def analysis_section(
    result: ToolResult, parts_wanted: tuple[str, ...] = (), actions: int | None = None
) -> str:
    """The whole analysis, or the named parts: trend, causes, nodes, repeats, peaks, daily,
    actions (the first `actions` of them when a number was asked for)."""
    data: AnalysisData = result.data
    want = set(parts_wanted) or {"trend", "causes", "nodes", "repeats", "peaks", "actions"}
    now, before = data["current"], data["previous"]
    out = []
    if "trend" in want:
        out.append(
            "**Trend against the previous window**\n\n"
            + table(
                ["Window", "Failures", "Failed runs", "Finished runs", "Failure rate"],
                [
                    [
                        plain(data["previous_window"]["label"]),
                        count(before["failures"]),
                        count(before["failed_runs"]),
                        count(before["finished_runs"]),
                        pct(before["failure_rate"]),
                    ],
                    [
                        plain(data["window"]["label"]),
                        count(now["failures"]),
                        count(now["failed_runs"]),
                        count(now["finished_runs"]),
                        pct(now["failure_rate"]),
                    ],
                ],
                numeric=(1, 2, 3, 4),
            )
        )
    if "causes" in want:
        rows = [
            [f"{code(c['category'])} ({categories.label(c['category'])})",
             count(c["failures"]),
             pct(c["share"]), count(c["previous_failures"]), count(c["workloads"]),
             example(c.get("example"))]
            for c in data["top_causes"]
        ]  # fmt: skip
        out.append(
            "**Top causes**\n\n"
            + table(
                ["Cause", "Failures", "Share", "Previous window", "Workloads", "Latest evidence"],
                rows,
                (1, 2, 3, 4),
            )
        )
    if "nodes" in want:
        rows = [
            [code(n["node"]), count(n["failures"]), count(n["failed_runs"]),
             count(n["finished_runs"]), pct(n["failure_rate"]), code(n["top_category"])]
            for n in data["hot_nodes"]
        ]  # fmt: skip
        out.append(
            "**Hot nodes** (failure rate over all runs on the node)\n\n"
            + table(
                ["Node", "Failures", "Failed runs", "Finished runs", "Failure rate", "Main cause"],
                rows,
                (1, 2, 3, 4),
            )
        )
    if "repeats" in want:
        workloads = [
            [code(w["workload_name"]), code(w["project"]), count(w["failures"]),
             code(w["top_category"]), when(w["last_failure"])]
            for w in data["repeating_workloads"]
        ]  # fmt: skip
        images = [
            [code(i["image"]), count(i["failures"]), count(i["workloads"]), code(i["top_category"])]
            for i in data["repeating_images"]
        ]
        out.append(
            "**Repeatedly failing workloads**\n\n"
            + table(
                ["Workload", "Project", "Failures", "Main cause", "Last failure"], workloads, (2,)
            )
            + "\n\n**Repeatedly failing images**\n\n"
            + table(["Image", "Failures", "Workloads", "Main cause"], images, (1, 2))
        )
    if "peaks" in want and data["peak_hours_utc"]:
        hours = ", ".join(
            f"{h['hour_utc']:02d}:00 ({count(h['failures'])})" for h in data["peak_hours_utc"]
        )
        out.append(f"**Peak hours (UTC):** {hours}")
    if "daily" in want and data["daily"]:
        per_day: dict[str, int] = {}
        for row in data["daily"]:
            per_day[row["day"]] = per_day.get(row["day"], 0) + row["failures"]
        out.append(
            "**Failures per day (UTC)**\n\n"
            + table(["Day", "Failures"], [[d, count(n)] for d, n in sorted(per_day.items())], (1,))
        )
    if "actions" in want and data["actions"]:
        items = [
            f"**{a['title']}** ({plural(a['failures'], 'failure')}, "
            f"{plural(a['gpus_requested'], 'GPU')} requested): {a['action']}"
            + (
                f" {a['targets_label']}: {', '.join(code(t) for t in a['targets'])}."
                if a["targets"]
                else ""
            )
            for a in data["actions"][:actions]
        ]
        lead = "**What to do first**"
        if actions is not None:
            lead = f"**The {plural(len(items), 'thing')} to fix first**"
            if len(items) < actions:
                lead += f" (only {len(items)} ranked: one per cause)"
        out.append(f"{lead} (ranked by GPUs affected)\n\n" + numbered(items))
    return "\n\n".join(out)


def chart(data: AnalysisData) -> dict[str, Any]:
    """Failures per day by category, for the UI's chart."""
    days = sorted({row["day"] for row in data["daily"]})
    present = sorted({row["category"] for row in data["daily"]})
    series = {c: [0] * len(days) for c in present}
    for row in data["daily"]:
        series[row["category"]][days.index(row["day"])] = row["failures"]
    return {"type": "failures_per_day", "days": days, "series": series}


def _latest_episode(f: dict[str, Any], now: datetime | None) -> str:
    """ "last failed at ..." or, for a pending episode, since when and how long it waited."""
    if f["kind"] != "pending":
        return f"last failed at {when(f['timestamp'])} UTC"
    since = _parse_time(f["timestamp"])
    if f.get("next_record"):
        waited = duration((_parse_time(f["next_record"]) - since).total_seconds())
        return (
            f"was stuck pending from {when(since)} UTC for {waited} (its next record, at "
            f"{when(f['next_record'])}, shows it left Pending)"
        )
    if now is None:
        return f"has been pending since {when(since)} UTC"
    return (
        f"has been pending since {when(since)} UTC: **{duration((now - since).total_seconds())}** "
        f"as of {when(now)} UTC (no later record of it)"
    )


def detail_section(result: ToolResult, now: datetime | None = None) -> str:
    data: DetailData = result.data
    f = data["failure"]
    confidence = f"{100 * float(f['confidence']):.0f}%"
    lines = [
        f"{code(f['workload_name'])} (project {code(f['project'])}) {_latest_episode(f, now)}: "
        f"**{categories.label(f['category'])}** "
        f"({code(f['category'])}, confidence {confidence}).",
        f"**Evidence** (from {plain(f['evidence_source'])}):\n\n"
        + (code_block(f["evidence"]) if f["evidence"] else "_no decisive evidence was found_"),
        f"**Summary:** {code(f['summary'])}",
        f"**Recommendation:** {plain(f['recommendation'])}",
        table(
            ["Node", "Pod", "Image", "GPUs", "Exit code", "Kind"],
            [
                [
                    code(f["node"]),
                    code(f["pod"]),
                    code(f["image"]),
                    count(f["gpus_requested"]),
                    count(f["exit_code"]),
                    code(f["kind"]),
                ]
            ],
        ),
    ]
    if data["same_name_in_projects"]:
        others = ", ".join(code(p) for p in data["same_name_in_projects"])
        lines.append(f"_A workload of the same name also failed in: {others}._")
    history = [
        [code(h["category"]), count(h["failures"]), when(h["last"])]
        for h in data["failures_by_category"]
    ]
    lines.append(
        f"**All recorded failures of this workload** ({count(data['failed_runs'])} failed of "
        f"{count(data['finished_runs'])} finished runs)\n\n"
        + table(["Cause", "Failures", "Last"], history, (1,))
    )
    episodes = [
        [when(e["timestamp"]), code(e["kind"]), code(e["category"]), code(e["node"]),
         code(e.get("evidence"), 120)]
        for e in data["recent_episodes"]
    ]  # fmt: skip
    shown = (
        f", the newest {count(len(episodes))} of {count(data['episodes_total'])}"
        if data.get("episodes_total", 0) > len(episodes)
        else ""
    )
    lines.append(
        f"**Every recorded episode** (latest first{shown})\n\n"
        + table(["Time (UTC)", "Kind", "Cause", "Node", "Evidence"], episodes)
    )
    timeline = [
        [when(t["at"]), t["what"], code(t["detail"]) if t["detail"] else ""]
        for t in data["timeline"]
    ]
    lines.append("**Timeline (UTC)**\n\n" + table(["Time", "What", "Detail"], timeline))
    return "\n\n".join(lines)


def list_section(result: ToolResult) -> str:
    data: ListData = result.data
    rows = [
        [when(r["timestamp"]), code(r["workload_name"]), code(r["project"]),
         code(r["category"]), code(r["node"]), code(r["evidence"], 160)]
        for r in data["failures"]
    ]  # fmt: skip
    head = (
        f"**{plural(data['total'], 'failure')}** matched; the newest {count(data['shown'])}:"
        if data["total"] > data["shown"]
        else f"**{plural(data['total'], 'failure')}** matched:"
    )
    return (
        head
        + "\n\n"
        + table(["Time (UTC)", "Workload", "Project", "Cause", "Node", "Evidence"], rows)
    )


def growth_section(
    before: StatisticsData, after: StatisticsData, up: bool, top: int | None = None
) -> str:
    """Each group's failures in the earlier and the later window and the change, the largest
    rise (or fall) first; ties by the later count, then by name."""
    group_by = before["group_by"]
    old = {g["key"]: g["failures"] for g in before["groups"]}
    new = {g["key"]: g["failures"] for g in after["groups"]}
    sign = -1 if up else 1
    keys = sorted(
        set(old) | set(new),
        key=lambda k: (sign * (new.get(k, 0) - old.get(k, 0)), -new.get(k, 0), k),
    )
    rows = [
        [_group_cell(group_by, k), count(old.get(k, 0)), count(new.get(k, 0)),
         f"{new.get(k, 0) - old.get(k, 0):+d}"]
        for k in keys[: top or 20]
    ]  # fmt: skip
    headers = [_GROUP_TITLES[group_by], plain(before["window"]["label"]),
               plain(after["window"]["label"]), "Change"]  # fmt: skip
    return table(headers, rows, numeric=(1, 2, 3))


def growth_headline(before: StatisticsData, after: StatisticsData, up: bool) -> str:
    """ "`gpu_oom` grew the most: 0 → 3 (+3)", or that nothing did."""
    old = {g["key"]: g["failures"] for g in before["groups"]}
    changes = [(g["failures"] - old.get(g["key"], 0), g["key"]) for g in after["groups"]]
    changes += [(-n, k) for k, n in old.items() if k not in {g["key"] for g in after["groups"]}]
    what = _GROUP_TITLES[before["group_by"]].lower()
    verb = "grew" if up else "fell"
    if up:
        moved = sorted((c for c in changes if c[0] > 0), key=lambda c: (-c[0], c[1]))
    else:
        moved = sorted((c for c in changes if c[0] < 0), key=lambda c: (c[0], c[1]))
    if not moved:
        return f"**No {what} {verb}** against {plain(before['window']['label'])}."
    change, key = moved[0]
    tied = [k for c, k in moved if c == change]
    span = f"{plain(before['window']['label'])} → {plain(after['window']['label'])}"
    if len(tied) > 1:  # a tie is said, never settled by the order of a sort
        names = ", ".join(code(k) for k in tied[:-1]) + f" and {code(tied[-1])}"
        return f"**{names} {verb} the most**, tied at {change:+d} each ({span})."
    then = old.get(key, 0)
    return (
        f"**{code(key)} {verb} the most**: {count(then)} → "
        f"{count(then + change)} failures ({change:+d}), {span}."
    )


def pending_section(
    result: ToolResult, now: datetime, min_wait: timedelta | None = None
) -> str:
    """Pending episodes, oldest first: since when and how long each waited, and whether the
    history shows it left Pending (a later run or episode of the workload); with `min_wait`,
    only those still waiting that long."""
    data: ListData = result.data
    rows, waiting = [], 0
    for r in data["failures"]:
        since = _parse_time(r["timestamp"])
        left = r.get("next_record")
        if left:
            if min_wait is not None:  # it left Pending: how long it waited is not known
                continue
            status = f"left Pending by {when(left)}"
            waited = "at most " + duration((_parse_time(left) - since).total_seconds())
        else:
            if min_wait is not None and now - since < min_wait:
                continue
            waiting += 1
            status = "no later record: still waiting"
            waited = duration((now - since).total_seconds())
        rows.append([when(r["timestamp"]), waited, status, code(r["workload_name"]),
                     code(r["project"]), count(r["gpus_requested"]), code(r["category"]),
                     code(r["evidence"], 160)])  # fmt: skip
    shown = f"the oldest {count(data['shown'])}, " if data["total"] > data["shown"] else ""
    if min_wait is not None:
        head = (
            f"**{count(waiting)}** of {plural(data['total'], 'pending episode')} still waiting "
            f"after at least {duration(min_wait.total_seconds())} (no later record), oldest "
            f"first, as of {when(now)} UTC:"
        )
        return head + "\n\n" + table(_PENDING_HEADERS, rows, numeric=(5,))
    head = (
        f"**{plural(data['total'], 'pending episode')}** ({shown}oldest first); "
        f"**{count(waiting)}** with no later record, still waiting as of {when(now)} UTC:"
    )
    return head + "\n\n" + table(_PENDING_HEADERS, rows, numeric=(5,))


_PENDING_HEADERS = ("Pending since (UTC)", "Waited", "Status", "Workload", "Project", "GPUs",
                    "Cause", "Evidence")  # fmt: skip


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def promql_section(result: ToolResult) -> str:
    data: PromqlData = result.data
    rows = []
    for s in data["series"]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(s["labels"].items()))
        if "points" in s:
            rows.append([code(labels or "{}"), count(s["points"]), _num(s["min"]), _num(s["max"]),
                         _num(s["last"])])  # fmt: skip
        else:
            rows.append([code(labels or "{}"), _num(s["last"])])
    headers = (
        ["Series", "Points", "Min", "Max", "Last"]
        if data["series"] and "points" in data["series"][0]
        else ["Series", "Value"]
    )
    note = (
        f"\n\n_{count(data['series_total'])} series matched; the top "
        f"{count(data['series_shown'])} by last value are shown._"
        if data["truncated"]
        else ""
    )
    return f"PromQL {code(data['query'])}:\n\n" + table(headers, rows) + note


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"


def capabilities_section(capabilities: tuple[str, ...]) -> str:
    return "I can answer questions like these:\n\n" + bullets(capabilities)
