"""The deterministic planner: understand the question (agent.understanding), run the same
tools the LLM would, and write a markdown answer from their results alone.

Only the question decides which tools run. Workload, project, node and image names are looked
up in the history (never guessed by pattern); stored text such as logs is never read for
instructions, so text inside evidence cannot change the plan. Every answer opens with one line
saying how the question was read, and a name the history does not hold is reported, never
dropped (which would widen the answer to the whole cluster without a word).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from agent.answer import compose
from agent.time_windows import WindowError, find_window, resolve_window
from agent.tools import reading
from agent.tools.catalog import run_tool
from agent.tools.shapes import AnalysisData
from agent.types import Answer, ToolCall, ToolContext, ToolResult
from agent.understanding import lexicon
from agent.understanding.question import Understood
from agent.understanding.reading import read_question

CAPABILITIES: tuple[str, ...] = (
    'Failure statistics: "Show me failure statistics", "How many failures this week?"',
    'Analysis of a window: "Analyze failures from the last 7 days" (trend, top causes, '
    "hot nodes, repeat offenders, peak hours, what to do first)",
    'One workload: "Why did train-llama-7b fail?" (cause, quoted evidence, timeline)',
    'One project: "How is team-a doing?", "Is the failure rate of team-a going up?"',
    'One cause: "Show GPU OOM failures", "How many NCCL errors yesterday?"',
    'Nodes: "Which nodes have the most GPU hardware failures this month?", '
    '"What is wrong with node-gpu-03?"',
    'Breakdowns: "failures by project / node / image / workload type"',
    'Recent failures: "List the latest failures"',
    'Prometheus: "Run PromQL `sum by (category) (increase(runai_workload_failures_total[1d]))`", '
    '"Is the exporter up?", "GPU utilization from Prometheus", "DCGM Xid errors"',
    "Time windows: last 7 days, past 24h, yesterday, today, this week, since Monday, "
    "this month, last month, in November, 2026-11-20, from 2026-11-01 to 2026-11-10",
    'Side by side and top lists: "team-a vs team-b", "today compared to yesterday", '
    '"top 5 nodes since Monday", "training or inference", "evicted or preempted"',
    'Measures: "how many distinct workloads failed", "GPU-hours lost last week", '
    '"What should I fix first this week?"',
)

# Questions about live metrics with no expression given -> a fixed PromQL query.
CANNED_PROMQL: tuple[tuple[str, str], ...] = (
    (
        r"(?:exporter|sidecar|monitor)\b.*\b(?:up|running|healthy|alive)",
        "runai_failure_exporter_up",
    ),
    (r"gpu utili[sz]ation", "avg by (node) (runai_gpu_utilization_with_pod_info)"),
    (
        r"dcgm|xid errors? (?:in|from) prometheus",
        "max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS) > 0",
    ),
    (
        r"failures? per hour|live failure|failures? (?:in|from) prometheus",
        "sum by (category) (increase(runai_workload_failures_total[1h]))",
    ),
)

Plan = Understood  # the planner's reading of a question


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def _promql_expression(question: str) -> str | None:
    quoted = re.search(r"`([^`]+)`", question)
    if quoted:
        return quoted.group(1).strip()
    after = re.search(r"(?:promql|query)[:\s]+(.+)$", question, flags=re.IGNORECASE)
    if after and re.search(r"[({\[]|_total|^\w+$", after.group(1).strip()):
        return after.group(1).strip().rstrip("?")
    return None


def make_plan(question: str, ctx: ToolContext) -> Understood:
    text = " ".join(question.lower().split())
    expression = _promql_expression(question) if _has(lexicon.PROMQL, text) else None
    expression = expression or next((q for p, q in CANNED_PROMQL if _has(p, text)), None)
    return read_question(question, ctx, promql=expression)


class _Turn:
    """The tool calls of one answer, recorded in order, and the reading they follow from."""

    def __init__(self, ctx: ToolContext, plan: Plan | None = None) -> None:
        self.ctx = ctx
        self.plan = plan
        self.calls: list[ToolCall] = []

    def run(self, name: str, args: dict[str, Any]) -> ToolResult:
        result = run_tool(self.ctx, name, args)
        self.calls.append(ToolCall(name, dict(args), result))
        return result


def _window_args(plan: Plan, now: datetime, window: Any = None) -> dict[str, Any]:
    """The window as the tools take it: its phrase when that reads back the same, else bounds."""
    window = window or plan.window
    if window in (find_window(window.label, now), resolve_window("", now)):
        return {"window": window.label}
    return {"start": window.start.isoformat(), "end": window.end.isoformat()}


def _answer(
    turn: _Turn, parts: list[str], chart: Mapping[str, Any] | None = None, answered: bool = True
) -> Answer:
    head = [turn.plan.interpretation()] if turn.plan is not None else []
    return Answer(
        "\n\n".join(p for p in [*head, *parts] if p),
        tuple(turn.calls),
        chart=chart,
        answered=answered,
    )


def _scope_words(plan: Plan, skip: str | None = None) -> str:
    words = plan.scope_words(skip)
    return " for " + words if words else ""


def _args(turn: _Turn, plan: Plan, **extra: Any) -> dict[str, Any]:
    return {**_window_args(plan, turn.ctx.now), **plan.tool_filters(), **extra}


def _measures(plan: Plan) -> list[str]:
    return {"workloads": ["workloads"], "gpu_hours": ["gpu_hours"]}.get(plan.measure, [])


def _statistics(turn: _Turn, plan: Plan) -> Answer:
    base = _args(turn, plan)
    measures = _measures(plan)
    if measures:
        base["measures"] = measures
    categories = plan.filters.get("category", ())
    first = plan.group_by or ("category" if len(categories) != 1 else "project")
    args = {**base, "group_by": first}
    if plan.top:
        args["top"] = min(plan.top, 100)
    if plan.rank_by != "failures":
        args["rank_by"] = plan.rank_by
    result = turn.run("failure_statistics", args)
    if result.status != "ok":
        return _answer(turn, [status_note_with_window(result, plan)])
    if result.data["total_failures"] == 0:
        finished = compose.plural(result.data["finished_runs"], "finished run")
        return _answer(
            turn,
            [
                f"**No failures{_scope_words(plan)}** {compose.during(plan.window.label)}"
                f" ({finished} recorded).",
                compose.window_line(result.data),
            ],
        )
    head = f"### Failure statistics{_scope_words(plan)}"
    parts = [
        head,
        compose.window_line(result.data),
        _share_sentence(turn, plan, result.data["total_failures"])
        if plan.measure == "share"
        else compose.measure_sentence(result.data, plan.measure),
        compose.statistics_section(result, top=plan.top),
    ]
    if plan.group_by is None and not plan.top:
        second = "project" if first == "category" else "node"
        if "project" in plan.filters and second == "project":
            second = "node"
        more = turn.run("failure_statistics", {**base, "group_by": second})
        if more.status == "ok":
            parts.append(compose.statistics_section(more, headline=False))
    return _answer(turn, parts)


# What a share is a share of: the failures of the same project, department, type or workload,
# whatever the cause, kind, node or image ("what fraction of team-nlp's failures are OOMs").
_SHARE_OF = ("project", "department", "workload_type", "workload_name")


def _share_sentence(turn: _Turn, plan: Plan, part: int) -> str:
    whole_args = {
        **_window_args(plan, turn.ctx.now),
        **{k: v for k, v in plan.tool_filters().items() if k in _SHARE_OF},
    }
    whole = turn.run("failure_statistics", {**whole_args, "top": 1})
    if whole.status != "ok" or not whole.data["total_failures"]:
        return ""
    total = whole.data["total_failures"]
    subject = plan.scope_words(skip=_SHARE_OF) or "these"
    return (
        f"**{part} of {compose.plural(total, 'failure')}** ({compose.pct(part / total)}) were "
        f"{subject}."
    )


def status_note_with_window(result: ToolResult, plan: Plan) -> str:
    return compose.status_note(result) + f"\n\n_Window: {plan.window.describe()}_"


def _run_analysis(turn: _Turn, plan: Plan) -> tuple[ToolResult, Answer | None]:
    """The analysis of the plan's window, and the whole answer when there is none to show."""
    result = turn.run("analyze_failures", _args(turn, plan))
    if result.status != "ok":
        return result, _answer(turn, [status_note_with_window(result, plan)])
    if result.data["current"]["failures"] == 0:
        return result, _answer(turn, [_nothing_found(result.data, plan)])
    return result, None


def _analysis(turn: _Turn, plan: Plan, parts_wanted: tuple[str, ...] = ()) -> Answer:
    result, done = _run_analysis(turn, plan)
    if done is not None:
        return done
    data: AnalysisData = result.data
    head = (
        f"### Failure analysis{_scope_words(plan)}\n\n"
        f"{compose.kinds_headline(data['current'])} {compose.during(plan.window.label)}. "
        + compose.trend_sentence(data)
    )
    parts = [head, compose.window_line(data), compose.analysis_section(result, parts_wanted)]
    return _answer(turn, parts, chart=compose.chart(data))


def _fix_first(turn: _Turn, plan: Plan) -> Answer:
    """The ranked recommendation of the analysis, first; the causes behind it after."""
    result, done = _run_analysis(turn, plan)
    if done is not None:
        return done
    data: AnalysisData = result.data
    parts = [
        f"### What to fix first{_scope_words(plan)}\n\n"
        f"{compose.kinds_headline(data['current'])} {compose.during(plan.window.label)}.",
        compose.analysis_section(result, ("actions",), actions=plan.top),
        compose.analysis_section(result, ("causes", "nodes", "repeats")),
        compose.window_line(data),
    ]
    return _answer(turn, parts, chart=compose.chart(data))


def _nothing_found(data: AnalysisData, plan: Plan) -> str:
    now, before = data["current"], data["previous"]
    return (
        f"**No failures{_scope_words(plan)}** {compose.during(plan.window.label)} "
        f"({compose.plural(now['finished_runs'], 'finished run')} recorded); the previous "
        f"window had {compose.plural(before['failures'], 'failure')}.\n\n"
        + compose.window_line(data)
    )


def _trend(turn: _Turn, plan: Plan) -> Answer:
    result = turn.run("analyze_failures", _args(turn, plan))
    if result.status != "ok":
        return _answer(turn, [status_note_with_window(result, plan)])
    data = result.data
    direction = data["trend"]["direction"]
    verdict = {"up": "**Yes, it is going up.**", "down": "**No, it is going down.**",
               "flat": "**No, it is flat.**",
               "unknown": "**Cannot tell yet.**"}[direction]  # fmt: skip
    subject = "The failure rate" + _scope_words(plan)
    parts = [
        f"### Trend{_scope_words(plan)}\n\n{verdict} {compose.trend_sentence(data, subject)}",
        compose.window_line(data),
        compose.analysis_section(result, ("trend", "causes", "actions")),
    ]
    return _answer(turn, parts, chart=compose.chart(data))


def _compare(turn: _Turn, plan: Plan) -> Answer:
    """Two projects, types, nodes or causes, or two windows, side by side."""
    base = {**plan.tool_filters(), "group_by": "category", "top": 5}
    measures = _measures(plan) or ["workloads"]
    sides: list[tuple[str, dict[str, Any]]] = []
    if plan.compare_dimension == "window" and plan.compare_window is not None:
        for window in (plan.window, plan.compare_window):
            sides.append((window.label, {**base, **_window_args(plan, turn.ctx.now, window)}))
    else:
        dimension = plan.compare_dimension or ""
        for side in plan.sides():
            value: str | list[str] = side[0] if len(side) == 1 else list(side)
            if side == (lexicon.XID,):  # rows carrying an Xid, whatever their cause
                args = {k: v for k, v in base.items() if k != dimension}
                sides.append(("Xid", {**args, **_window_args(plan, turn.ctx.now), "xid": True}))
                continue
            # a set of many names ("the a100 nodes") is labelled by its first and its size
            label = " + ".join(side) if len(side) <= 3 else f"{side[0]} + {len(side) - 1} more"
            sides.append((label, {**base, **_window_args(plan, turn.ctx.now), dimension: value}))
    results = [(label, turn.run("failure_statistics", {**args, "measures": measures}))
               for label, args in sides]  # fmt: skip
    failed = [r for _, r in results if r.status == "error"]
    if failed:
        return _answer(turn, [status_note_with_window(failed[0], plan)])
    head = f"### {' vs '.join(compose.plain(label) for label, _ in results)}"
    parts = [head, compose.comparison_lines(results), compose.comparison_section(results)]
    if plan.measure == "rate":  # "is A more reliable than B": the rates first
        parts.insert(1, compose.rate_verdict(results))
    for label, result in results:
        if result.data and result.data["total_failures"]:
            parts.append(
                f"**Top causes: {compose.plain(label)}**\n\n"
                + compose.statistics_section(result, headline=False, titled=False)
            )
    return _answer(turn, parts)


def _detail(turn: _Turn, plan: Plan) -> Answer:
    args: dict[str, Any] = {"workload_name": plan.workload}
    project = plan.workload_project or (
        plan.filters["project"][0] if len(plan.filters.get("project", ())) == 1 else None
    )
    if project:
        args["project"] = project
    if plan.window_named:
        args.update(_window_args(plan, turn.ctx.now))
    result = turn.run("failure_detail", args)
    if result.status != "ok":
        notes = [compose.status_note(result)]
        notes += [f"**Not found:** {u.sentence()}." for u in plan.unknown]
        return _answer(turn, notes, answered=False)
    head = f"### Why {compose.code(plan.workload)} failed"
    return _answer(turn, [head, compose.detail_section(result, turn.ctx.now)])


def _list(turn: _Turn, plan: Plan) -> Answer:
    result = turn.run("list_failures", _args(turn, plan, limit=min(plan.top or 20, 200)))
    if result.status != "ok":
        return _answer(turn, [status_note_with_window(result, plan)])
    head = f"### Recent failures{_scope_words(plan)}"
    return _answer(turn, [head, compose.window_line(result.data), compose.list_section(result)])


def _growth(turn: _Turn, plan: Plan) -> Answer:
    """Which cause (project, node, ...) grew or fell the most between two windows."""
    assert plan.compare_window is not None  # the understanding layer sets both windows
    base = {**plan.tool_filters(), "group_by": plan.group_by or "category", "top": 100}
    now = turn.ctx.now
    before, after = (
        turn.run("failure_statistics", {**base, **_window_args(plan, now, window)})
        for window in (plan.compare_window, plan.window)
    )
    failed = [r for r in (before, after) if r.status == "error"]
    if failed:
        return _answer(turn, [status_note_with_window(failed[0], plan)])
    up = plan.growth == "up"
    first = plan.history_start
    if first is not None and plan.compare_window.start < first:
        verdict = (
            f"_No change is judged: the earlier window starts before the history begins "
            f"({first:%Y-%m-%d %H:%M} UTC), so its counts are missing data, not fewer "
            "failures._"
        )
    else:
        verdict = compose.growth_headline(before.data, after.data, up)
    parts = [
        f"### Change by {compose.plain(base['group_by'].replace('_', ' '))}{_scope_words(plan)}",
        verdict,
        compose.growth_section(before.data, after.data, up, plan.top),
    ]
    return _answer(turn, parts)


def _pending(turn: _Turn, plan: Plan) -> Answer:
    """Workloads stuck pending, oldest first, with how long each waited."""
    args = _args(turn, plan, limit=min(plan.top or 50, 200), oldest_first=True)
    listed = turn.run("list_failures", args)
    if listed.status != "ok":
        return _answer(turn, [status_note_with_window(listed, plan)])
    totals = turn.run("failure_statistics", {**_args(turn, plan), "top": 1})
    headline = (
        f"{compose.kinds_headline(totals.data)}; pending episodes have no failure rate (they "
        "never ran)."
        if totals.status == "ok"
        else ""
    )
    parts = [
        f"### Stuck pending{_scope_words(plan, skip='kind')}",
        compose.window_line(listed.data),
        headline,
        compose.pending_section(listed, turn.ctx.now, plan.min_wait),
    ]
    return _answer(turn, parts)


def _scope(turn: _Turn, plan: Plan) -> Answer:
    """A project, node, image or cause named alone: its statistics, trend and recent failures."""
    answer = _analysis(turn, plan, ("trend", "causes", "nodes", "repeats", "actions"))
    analysed = turn.calls[-1].result
    if analysed.status != "ok" or analysed.data["current"]["failures"] == 0:
        return answer
    listed = turn.run("list_failures", _args(turn, plan, limit=10))
    parts = [answer.markdown.split("\n\n", 1)[1]]  # without its interpretation line
    if listed.status == "ok":
        parts.append(compose.list_section(listed))
    return _answer(turn, parts, chart=answer.chart)


def _promql(turn: _Turn, plan: Plan) -> Answer:
    expression = plan.promql or ""
    if plan.window_named:
        args = {"query": expression, **_window_args(plan, turn.ctx.now)}
        result = turn.run("promql_range_query", args)
    else:
        result = turn.run("promql_query", {"query": expression})
    if result.status != "ok":
        return _answer(turn, [compose.status_note(result)])
    return _answer(turn, [compose.promql_section(result)])


def _unknown(turn: _Turn, plan: Plan) -> Answer:
    """Names the history does not hold: said plainly, and nothing is widened to the cluster."""
    lines = [f"**Not found:** {u.sentence()}." for u in plan.unknown]
    lines.append(
        "Nothing else was looked up, so no cluster-wide figure stands in for the one asked "
        "about; ask again with a known name."
    )
    return _answer(turn, ["\n\n".join(lines)], answered=False)


def _refuse(turn: _Turn, plan: Plan) -> Answer:
    lead = "Cannot do that" if plan.intent == "read_only" else "Cannot answer"
    return _answer(turn, [f"**{lead}:** {plan.refusal}."], answered=False)


def _help(turn: _Turn, understood: bool) -> Answer:
    if understood:
        return Answer(compose.capabilities_section(CAPABILITIES), tuple(turn.calls))
    head = "_Understood: nothing I can look up._\n\nI did not recognise that question. "
    return Answer(
        head + compose.capabilities_section(CAPABILITIES), tuple(turn.calls), answered=False
    )


def answer_deterministic(question: str, ctx: ToolContext) -> Answer:
    """Answer without an LLM: plan from the question, run tools, compose markdown."""
    question = question.strip()
    with reading.one_connection(ctx):
        return _answer_question(question, ctx)


_HANDLERS: dict[str, Callable[[_Turn, Plan], Answer]] = {
    "promql": _promql,
    "refuse": _refuse,
    "read_only": _refuse,
    "unknown": _unknown,
    "detail": _detail,
    "fix_first": _fix_first,
    "compare": _compare,
    "trend": _trend,
    "list": _list,
    "pending": _pending,
    "growth": _growth,
    "analysis": lambda turn, plan: _analysis(turn, plan, plan.analysis_parts),
    "statistics": _statistics,
    "scope": _scope,
}


def _answer_question(question: str, ctx: ToolContext) -> Answer:
    if not question:
        return _help(_Turn(ctx), understood=True)
    try:
        plan = make_plan(question, ctx)
    except WindowError as exc:  # "on 2026-02-30": say so, guess nothing
        return Answer(f"**Cannot answer:** {exc}.")
    handler = _HANDLERS.get(plan.intent)
    if handler is None:
        return _help(_Turn(ctx), understood=_has(lexicon.HELP, question.lower()))
    return handler(_Turn(ctx, plan), plan)
