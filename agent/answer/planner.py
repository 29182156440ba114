"""The deterministic planner: recognise a common question, run the same tools the LLM would,
and write a markdown answer from their results alone.

Only the question decides which tools run. Workload, project, node and image names are looked
up in the history (never guessed by pattern); stored text such as logs is never read for
instructions, so text inside evidence cannot change the plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from agent.answer import compose
from agent.time_windows import Window, find_window, resolve_window
from agent.tools import reading
from agent.tools.catalog import run_tool
from agent.types import Answer, ToolCall, ToolContext, ToolResult
from common.errors import StoreError
from history import reader

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
    "this month, last month, 2026-11-20, from 2026-11-01 to 2026-11-10",
)

# Phrases -> category, most specific first ("GPU OOM" before "OOM", "NCCL timeout" before
# "timeout"). Matched on whole words of the lower-cased question.
CATEGORY_SYNONYMS: tuple[tuple[str, str], ...] = (
    (r"gpu[ _-]?oom|cuda out of memory|gpu out of memory|gpu memory|vram", "gpu_oom"),
    (r"nccl|collective|all-?reduce|rendezvous|distributed communication", "nccl"),
    (r"gpu[ _-]?hardware|hardware|xid|ecc|fallen off the bus|faulty gpu|bad gpu", "gpu_hardware"),
    (r"cuda[ _-]?driver|driver mismatch|driver version", "cuda_driver"),
    (r"cuda[ _-]?error|illegal memory access|device-side assert", "cuda_error"),
    (r"oom[ _-]?kill(?:ed|s)?|out of memory|\boom\b|\booms\b|memory limit", "oom_killed"),
    (r"image[ _-]?pull|imagepullbackoff|errimagepull|pull errors?", "image_pull"),
    (r"preempt(?:ed|ion|ions)?|reclaim(?:ed)?", "preempted"),
    (r"evict(?:ed|ion|ions)?", "evicted"),
    (
        r"unschedulable|scheduling|insufficient gpu|not enough resources",
        "unschedulable",
    ),
    (r"storage|volume|mount|pvc|disk|no space", "storage"),
    (r"config(?:uration)?[ _-]?errors?|missing secret|configmap|command not found", "config_error"),
    (r"node[ _-]?failures?|node down|notready|node lost", "node_failure"),
    (r"time ?outs?|deadline|time limit", "timeout"),
    (r"app(?:lication)?[ _-]?errors?|traceback|code bugs?|user code", "app_error"),
    (r"unknown|unclassified", "unknown"),
)

_GROUPS: tuple[tuple[str, str], ...] = (
    (
        r"by project|per project|which projects?|each project|by team|per team|which teams?",
        "project",
    ),
    (r"by node|per node|which nodes?|each node|hot nodes?|worst nodes?", "node"),
    (r"by image|per image|which images?", "image"),
    (r"by (?:workload )?type|per type|workload types?|which types?", "workload_type"),
    (r"by department|per department|which departments?", "department"),
    (r"by workload|per workload|which workloads?|which jobs?", "workload_name"),
    (r"by (?:cause|category|reason)|per (?:cause|category)|causes|categor", "category"),
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

_HELP = r"\bhelp\b|what can you|what do you know|capabilit|how do i use"
_PROMQL = r"promql|prometheus|\bmetric"
_DETAIL = r"\bwhy\b|what happened|detail|root cause of|cause of|explain|what went wrong|fail"
_LIST = r"\blist\b|latest|most recent|recent failures|show (?:me )?(?:the |all )?failures\b"
_TREND = (
    r"trend|going up|going down|increas|decreas|rising|growing|getting (?:worse|better)"
    r"|improv|worse|compared"
)
_ANALYSIS = (
    r"analy[sz]|insight|overview|report|summar|what should|what to do|recommend|priorit"
    r"|hot node|wrong with|health"
)
_STATS = r"statistic|\bstats\b|how many|count|number of|breakdown|rate|most|top|distribution|share"

# "why did X fail" names a workload even when X is not in the history: say so, don't guess.
_ASKED_WORKLOAD = re.compile(
    r"(?:why did|why has|why does|what happened to|what went wrong with) (?:the )?"
    r"(?:workload |job )?([A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])",
    flags=re.IGNORECASE,
)
_PRONOUNS = ("it", "they", "this", "that", "the", "my", "our", "we", "so", "jobs", "workloads")
_KINDS: tuple[tuple[str, str], ...] = (
    (r"\bdegraded\b", "degraded"),
    (r"\b(?:stuck|long|still) pending\b|\bpending (?:too long|for long)\b", "pending"),
)
_WORKLOAD_TYPE = re.compile(r"\b(training|workspace|distributed|inference)\b")

_NAME_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*[A-Za-z0-9]|[A-Za-z0-9]")


@dataclass(frozen=True)
class Plan:
    """What the question asks, before any tool runs."""

    intent: str  # help | promql | detail | list | trend | analysis | statistics | scope
    window: Window
    window_named: bool
    filters: Mapping[str, str] = field(default_factory=dict)
    group_by: str | None = None
    workload: str | None = None
    promql: str | None = None


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


def find_category(text: str) -> str | None:
    for pattern, category in CATEGORY_SYNONYMS:
        if re.search(rf"(?<![a-z0-9]){pattern}", text):
            return category
    return None


def find_group(text: str) -> str | None:
    for pattern, group in _GROUPS:
        if re.search(pattern, text):
            return group
    return None


# Words of the questions themselves: never looked up as names, which spares the history a
# scan of every name column for questions that name nothing.
_STOPWORD_TEXT = """
    a about after all an analyse analysis analyze and any are as at be been before between
    breakdown by can cause causes chart compare count day days did do does doing down during
    each errors ever explain fail failed failing fails failure failures few first fix for from
    get give going happened has have hour hours how i in is it its jobs last latest list many
    me month months most my of on or our over past per please previous rate rates recent report
    root run runs show since so stats statistics summary tell than that the their them there
    these this to today top trend up us was we week weeks were what when which who why will
    with workload workloads worse wrong year yesterday you"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def candidate_names(question: str) -> list[str]:
    """Tokens that could be names, with trailing punctuation and possessives removed."""
    out = []
    for token in _NAME_TOKEN.findall(question):
        for variant in (token, re.sub(r"'s$", "", token)):
            if (
                len(variant) >= 2
                and not variant.isdigit()
                and variant.lower() not in _STOPWORDS
                and variant not in out
            ):
                out.append(variant)
    return out[:64]


def _known_names(ctx: ToolContext, question: str) -> dict[str, list[str]]:
    names = candidate_names(question)
    if not names:
        return {"workload_name": [], "project": [], "node": [], "image": []}
    try:
        with reading.open_history(ctx) as conn:
            return reader.match_names(conn, names)
    except (reader.NoHistory, StoreError, duckdb.Error):  # the tools will report why
        return {"workload_name": [], "project": [], "node": [], "image": []}


def _promql_expression(question: str) -> str | None:
    quoted = re.search(r"`([^`]+)`", question)
    if quoted:
        return quoted.group(1).strip()
    after = re.search(r"(?:promql|query)[:\s]+(.+)$", question, flags=re.IGNORECASE)
    if after and re.search(r"[({\[]|_total|^\w+$", after.group(1).strip()):
        return after.group(1).strip().rstrip("?")
    return None


def make_plan(question: str, ctx: ToolContext) -> Plan:
    text = " ".join(question.lower().split())
    named = find_window(question, ctx.now)
    window = named or resolve_window("", ctx.now)
    expression = _promql_expression(question) if _has(_PROMQL, text) else None
    expression = expression or next((q for p, q in CANNED_PROMQL if _has(p, text)), None)
    if expression:
        return Plan("promql", window, named is not None, promql=expression)
    names = _known_names(ctx, question)
    filters: dict[str, str] = {}
    category = find_category(text)
    if category:
        filters["category"] = category
    if names["project"]:
        filters["project"] = names["project"][0]
    if names["node"]:
        filters["node"] = names["node"][0]
    if names["image"]:
        filters["image"] = names["image"][0]
    kind = next((k for pattern, k in _KINDS if _has(pattern, text)), None)
    if kind:
        filters["kind"] = kind
    typed = _WORKLOAD_TYPE.search(text)
    if typed:
        filters["workload_type"] = typed.group(1)
    group = find_group(text)
    workload = names["workload_name"][0] if names["workload_name"] else None
    if workload and workload in names["project"]:
        workload = None  # a project of the same name: the broader reading wins
    if _has(_HELP, text) and not (filters or workload):
        return Plan("help", window, named is not None)
    if workload and (_has(_DETAIL, text) or not _has(_STATS + "|" + _LIST, text)):
        return Plan("detail", window, named is not None, workload=workload, filters=filters)
    if workload:
        filters["workload_name"] = workload
    asked = _ASKED_WORKLOAD.search(question)
    unknown = asked.group(1) if asked else None
    if (
        not workload
        and unknown
        and not any(unknown in found for found in names.values())
        and unknown.lower() not in _PRONOUNS
    ):
        return Plan("detail", window, named is not None, workload=unknown)
    if _has(_TREND, text):
        return Plan("trend", window, named is not None, filters, group)
    if _has(_LIST, text) and not _has(_STATS, text):
        return Plan("list", window, named is not None, filters)
    if _has(_ANALYSIS, text):
        return Plan("analysis", window, named is not None, filters, group)
    if group or _has(_STATS, text):
        return Plan("statistics", window, named is not None, filters, group)
    if filters:
        return Plan("scope", window, named is not None, filters, group)
    if _has(r"fail|error|crash|broke|problem|issue", text):
        return Plan("statistics", window, named is not None, filters, group)
    return Plan("help", window, named is not None)


class _Turn:
    """The tool calls of one answer, recorded in order."""

    def __init__(self, ctx: ToolContext) -> None:
        self.ctx = ctx
        self.calls: list[ToolCall] = []

    def run(self, name: str, args: dict[str, Any]) -> ToolResult:
        result = run_tool(self.ctx, name, args)
        self.calls.append(ToolCall(name, dict(args), result))
        return result


def _window_args(plan: Plan, now: datetime) -> dict[str, Any]:
    """The window as the tools take it: its phrase when that reads back the same, else bounds."""
    if plan.window in (find_window(plan.window.label, now), resolve_window("", now)):
        return {"window": plan.window.label}
    return {"start": plan.window.start.isoformat(), "end": plan.window.end.isoformat()}


def _answer(turn: _Turn, parts: list[str], chart: Mapping[str, Any] | None = None) -> Answer:
    return Answer("\n\n".join(p for p in parts if p), tuple(turn.calls), chart=chart)


def _scope_words(filters: Mapping[str, str]) -> str:
    words = [f"{k.replace('_', ' ')} {compose.code(v)}" for k, v in filters.items()]
    return " for " + ", ".join(words) if words else ""


def _statistics(turn: _Turn, plan: Plan) -> Answer:
    base = {**_window_args(plan, turn.ctx.now), **plan.filters}
    first = plan.group_by or ("category" if "category" not in plan.filters else "project")
    result = turn.run("failure_statistics", {**base, "group_by": first})
    if result.status != "ok":
        return _answer(turn, [status_note_with_window(result, plan)])
    if result.data["total_failures"] == 0:
        finished = compose.plural(result.data["finished_runs"], "finished run")
        return _answer(
            turn,
            [
                f"**No failures{_scope_words(plan.filters)}** in {result.data['window']['label']}"
                f" ({finished} recorded).",
                compose.window_line(result.data),
            ],
        )
    head = f"### Failure statistics{_scope_words(plan.filters)}"
    parts = [head, compose.window_line(result.data), compose.statistics_section(result)]
    if plan.group_by is None:
        second = "project" if first == "category" else "node"
        if "project" in plan.filters and second == "project":
            second = "node"
        more = turn.run("failure_statistics", {**base, "group_by": second})
        if more.status == "ok":
            parts.append(compose.statistics_section(more, headline=False))
    return _answer(turn, parts)


def status_note_with_window(result: ToolResult, plan: Plan) -> str:
    return compose.status_note(result) + f"\n\n_Window: {plan.window.describe()}_"


def _analysis(turn: _Turn, plan: Plan, parts_wanted: tuple[str, ...] = ()) -> Answer:
    result = turn.run("analyze_failures", {**_window_args(plan, turn.ctx.now), **plan.filters})
    if result.status != "ok":
        return _answer(turn, [status_note_with_window(result, plan)])
    data = result.data
    if data["current"]["failures"] == 0:
        return _answer(turn, [_nothing_found(data, plan)])
    head = (
        f"### Failure analysis{_scope_words(plan.filters)}\n\n"
        f"**{compose.plural(data['current']['failures'], 'failure')}** in "
        f"{data['window']['label']}. " + compose.trend_sentence(data)
    )
    parts = [head, compose.window_line(data), compose.analysis_section(result, parts_wanted)]
    return _answer(turn, parts, chart=compose.chart(data))


def _nothing_found(data: dict[str, Any], plan: Plan) -> str:
    now, before = data["current"], data["previous"]
    return (
        f"**No failures{_scope_words(plan.filters)}** in {data['window']['label']} "
        f"({compose.plural(now['finished_runs'], 'finished run')} recorded); the previous "
        f"window had {compose.plural(before['failures'], 'failure')}.\n\n"
        + compose.window_line(data)
    )


def _trend(turn: _Turn, plan: Plan) -> Answer:
    result = turn.run("analyze_failures", {**_window_args(plan, turn.ctx.now), **plan.filters})
    if result.status != "ok":
        return _answer(turn, [status_note_with_window(result, plan)])
    data = result.data
    direction = data["trend"]["direction"]
    verdict = {"up": "**Yes, it is going up.**", "down": "**No, it is going down.**",
               "flat": "**No, it is flat.**"}[direction]  # fmt: skip
    subject = "The failure rate" + _scope_words(plan.filters)
    parts = [
        f"### Trend{_scope_words(plan.filters)}\n\n"
        f"{verdict} {compose.trend_sentence(data, subject)}",
        compose.window_line(data),
        compose.analysis_section(result, ("trend", "causes", "actions")),
    ]
    return _answer(turn, parts, chart=compose.chart(data))


def _detail(turn: _Turn, plan: Plan) -> Answer:
    args: dict[str, Any] = {"workload_name": plan.workload}
    if "project" in plan.filters:
        args["project"] = plan.filters["project"]
    if plan.window_named:
        args.update(_window_args(plan, turn.ctx.now))
    result = turn.run("failure_detail", args)
    if result.status != "ok":
        return _answer(turn, [compose.status_note(result)])
    head = f"### Why {compose.code(plan.workload)} failed"
    return _answer(turn, [head, compose.detail_section(result)])


def _list(turn: _Turn, plan: Plan) -> Answer:
    result = turn.run(
        "list_failures", {**_window_args(plan, turn.ctx.now), **plan.filters, "limit": 20}
    )
    if result.status != "ok":
        return _answer(turn, [status_note_with_window(result, plan)])
    head = f"### Recent failures{_scope_words(plan.filters)}"
    return _answer(turn, [head, compose.window_line(result.data), compose.list_section(result)])


def _scope(turn: _Turn, plan: Plan) -> Answer:
    """A project, node, image or cause named alone: its statistics, trend and recent failures."""
    answer = _analysis(turn, plan, ("trend", "causes", "nodes", "repeats", "actions"))
    analysed = turn.calls[-1].result
    if analysed.status != "ok" or analysed.data["current"]["failures"] == 0:
        return answer
    listed = turn.run(
        "list_failures", {**_window_args(plan, turn.ctx.now), **plan.filters, "limit": 10}
    )
    parts = [answer.markdown]
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


def _help(turn: _Turn, understood: bool) -> Answer:
    head = "" if understood else "I did not recognise that question. "
    return _answer(turn, [head + compose.capabilities_section(CAPABILITIES)])


def answer_deterministic(question: str, ctx: ToolContext) -> Answer:
    """Answer without an LLM: plan from the question, run tools, compose markdown."""
    question = question.strip()
    with reading.one_connection(ctx):
        return _answer_question(question, ctx)


_HANDLERS: dict[str, Callable[[_Turn, Plan], Answer]] = {
    "promql": _promql,
    "detail": _detail,
    "trend": _trend,
    "list": _list,
    "analysis": _analysis,
    "statistics": _statistics,
    "scope": _scope,
}


def _answer_question(question: str, ctx: ToolContext) -> Answer:
    turn = _Turn(ctx)
    if not question:
        return _help(turn, understood=True)
    plan = make_plan(question, ctx)
    handler = _HANDLERS.get(plan.intent)
    if handler is None:
        return _help(turn, understood=_has(_HELP, question.lower()))
    return handler(turn, plan)
