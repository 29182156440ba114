"""The agent's tools, as data: a name, a description written for the model, a JSON schema of
the arguments, and a function returning a ToolResult with a status (ok / no_data / error).

The deterministic planner and the LLM loop run the very same tools. Arguments are checked
against the schema before a tool runs, so a malformed call gets a one-line error, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from agent.time_windows import Window, WindowError, find_window, resolve_window
from agent.tools import analysis, detail, promql, reading, stats
from agent.types import ToolContext, ToolResult, ToolSpec
from history import reader
from history.categories import CATEGORIES, KINDS

_WINDOW_PROPS: dict[str, Any] = {
    "window": {
        "type": "string",
        "description": "Time window in words, e.g. 'last 7 days', 'past 24h', 'yesterday', "
        "'this week', 'since Monday', 'this month', 'last month', '2026-11-20'. "
        "Default: last 7 days. All times are UTC.",
    },
    "start": {"type": "string", "description": "ISO-8601 UTC start (instead of window)"},
    "end": {"type": "string", "description": "ISO-8601 UTC end, exclusive (default: now)"},
}


def _one_or_more(description: str, enum: tuple[str, ...] = ()) -> dict[str, Any]:
    """A filter taking one value or a list ("X or Y": any of them)."""
    item: dict[str, Any] = {"type": "string", **({"enum": list(enum)} if enum else {})}
    return {
        "type": ["string", "array"],
        "items": item,
        **({"enum": list(enum)} if enum else {}),
        "description": description + "; a list means any of them",
    }


_FILTER_PROPS: dict[str, Any] = {
    "project": _one_or_more("Run:ai project name, exact"),
    "workload_type": _one_or_more("training, workspace, distributed, inference"),
    "category": _one_or_more("root cause", CATEGORIES),
    "node": _one_or_more("Kubernetes node name, exact"),
    "image": _one_or_more("container image, exact"),
    "kind": _one_or_more("failed, degraded, pending", KINDS),
    "workload_name": _one_or_more("Run:ai workload name, exact"),
    "department": _one_or_more("Run:ai department name, exact"),
    "xid": {"type": "boolean", "description": "only failures whose evidence carries an Xid"},
    "xid_code": _one_or_more("only failures carrying this Xid number, e.g. 79"),
}


def _schema(properties: Mapping[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(required),
        "additionalProperties": False,
    }


_TYPES: dict[str, tuple[type, ...]] = {
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


_A_TYPE = {
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
}


def validate_arguments(schema: Mapping[str, Any], args: Any) -> str | None:
    """A one-line complaint about args, or None when they fit the (flat) schema."""
    if not isinstance(args, Mapping):
        return "arguments must be a JSON object"
    properties = schema.get("properties", {})
    unknown = sorted(set(args) - set(properties))
    if unknown:
        return f"unknown argument(s) {', '.join(unknown)}; allowed: {', '.join(properties)}"
    for name in schema.get("required", ()):
        if args.get(name) in (None, ""):
            return f"missing required argument {name}"
    for name, value in args.items():
        if value is None:
            continue
        problem = _check_value(name, properties[name], value)
        if problem:
            return problem
    return None


def _check_value(name: str, spec: Mapping[str, Any], value: Any) -> str | None:
    kinds = spec.get("type", "string")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    expected = tuple(t for kind in kinds for t in _TYPES.get(kind, (str,)))
    if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
        return f"argument {name} must be {' or '.join(_A_TYPE.get(k, k) for k in kinds)}"
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list):
        if not value or len(value) > 20:
            return f"argument {name} must list 1 to 20 values"
        if any(not isinstance(item, str) for item in value):
            return f"argument {name} must list strings"
    if "enum" in spec and any(item not in spec["enum"] for item in items):
        return f"argument {name} must be one of {', '.join(map(str, spec['enum']))}"
    low, high = spec.get("minimum"), spec.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        return f"argument {name} must be between {low} and {high}"
    return None


def _parse_time(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{name} {value!r} is not an ISO-8601 time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # the contract says UTC everywhere
    return moment.astimezone(UTC)


def window_from_args(args: Mapping[str, Any], now: datetime) -> Window:
    """start/end win over a window phrase; neither means the last 7 days."""
    if args.get("start"):
        start = _parse_time(str(args["start"]), "start")
        end = _parse_time(str(args["end"]), "end") if args.get("end") else now
        if end <= start:
            raise WindowError(
                f"the range ends before it starts (end {end:%Y-%m-%d %H:%M} is not after "
                f"start {start:%Y-%m-%d %H:%M} UTC)"
            )
        return Window(start, end, f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}")
    phrase = str(args.get("window") or "").strip()
    if phrase:
        found = find_window(phrase, now)
        if found is None:
            raise ValueError(f"cannot read the time window {phrase!r}; try 'last 7 days'")
        return found
    return resolve_window("", now)


def _guarded(run: Callable[[], ToolResult]) -> ToolResult:
    """Bad arguments that pass the schema (a window phrase, a time) become a status error."""
    try:
        return run()
    except ValueError as exc:
        return ToolResult("error", None, str(exc))


def _statistics(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    def run() -> ToolResult:
        window = window_from_args(args, ctx.now)
        filters = reader.Filters.from_args(args)
        group_by = str(args.get("group_by") or "category")
        top = int(args.get("top") or 20)
        measures = tuple(str(m) for m in args.get("measures") or ())
        rank_by = str(args.get("rank_by") or "failures")
        return reading.run_query(
            ctx,
            lambda conn: stats.statistics(
                conn, window, filters, group_by, top, measures, rank_by=rank_by
            ),
        )

    return _guarded(run)


def _list(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    def run() -> ToolResult:
        window = window_from_args(args, ctx.now)
        filters = reader.Filters.from_args(args)
        limit = int(args.get("limit") or 20)
        oldest_first = bool(args.get("oldest_first"))
        return reading.run_query(
            ctx, lambda conn: stats.list_failures(conn, window, filters, limit, oldest_first)
        )

    return _guarded(run)


def _detail(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    def run() -> ToolResult:
        if not args.get("workload_name") and not args.get("episode_id"):
            return ToolResult("error", None, "give a workload_name or an episode_id")
        window = (
            window_from_args(args, ctx.now) if args.get("window") or args.get("start") else None
        )
        return reading.run_query(
            ctx,
            lambda conn: detail.failure_detail(
                conn,
                workload_name=args.get("workload_name"),
                episode_id=args.get("episode_id"),
                project=args.get("project"),
                window=window,
            ),
        )

    return _guarded(run)


def _analysis(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    def run() -> ToolResult:
        window = window_from_args(args, ctx.now)
        filters = reader.Filters.from_args(args)
        return reading.run_query(ctx, lambda conn: analysis.analyze(conn, window, filters))

    return _guarded(run)


def _promql_instant(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    def run() -> ToolResult:
        at = _parse_time(str(args["time"]), "time") if args.get("time") else None
        return promql.instant_query(ctx, str(args["query"]), at=at)

    return _guarded(run)


def _promql_range(ctx: ToolContext, args: Mapping[str, Any]) -> ToolResult:
    def run() -> ToolResult:
        window = window_from_args(args, ctx.now)
        step = args.get("step_seconds")
        return promql.range_query(
            ctx, str(args["query"]), window, step_s=float(step) if step else None
        )

    return _guarded(run)


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="failure_statistics",
        description=(
            "Count recorded workload failures in a time window, grouped by one dimension "
            "(category = root cause, project, workload_type, node, image, kind, workload_name). "
            "Returns counts, each group's share of failures, and failure rates against all "
            "finished runs (failed runs / finished runs), GPUs requested by the failures, "
            "optionally distinct workloads and GPU-hours lost. Filters take one value or a "
            "list (any of them). Use for 'how many', 'statistics', 'which project/node fails "
            "most', 'top 5 nodes'."
        ),
        parameters=_schema(
            {
                **_WINDOW_PROPS,
                "group_by": {
                    "type": "string",
                    "enum": list(reader.GROUP_KEYS),
                    "description": "dimension to group by (default category)",
                },
                "top": {"type": "integer", "minimum": 1, "maximum": 100},
                "rank_by": {
                    "type": "string",
                    "enum": list(stats.RANKINGS),
                    "description": "what orders the groups, highest first (default failures)",
                },
                "measures": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(stats.MEASURES)},
                    "enum": list(stats.MEASURES),
                    "description": "extra measures: workloads (distinct workloads that "
                    "failed), gpu_hours (GPU-hours of the failed runs)",
                },
                **_FILTER_PROPS,
            }
        ),
        run=_statistics,
    ),
    ToolSpec(
        name="list_failures",
        description=(
            "List recorded failures, newest first (oldest_first: the other way), with "
            "filters: time window, project, category, node, image, workload type or name. "
            "Each row has the episode id, time, workload, category, node, GPUs requested, "
            "one-line summary and the quoted evidence; a pending row also has next_record, the "
            "workload's next record (it had left Pending by then; null: none yet)."
        ),
        parameters=_schema(
            {
                **_WINDOW_PROPS,
                **_FILTER_PROPS,
                "limit": {"type": "integer", "minimum": 1, "maximum": 200},
                "oldest_first": {"type": "boolean"},
            }
        ),
        run=_list,
    ),
    ToolSpec(
        name="failure_detail",
        description=(
            "One failure in detail: the latest failure of a workload (by exact name) or one "
            "episode (by id) with its root cause, confidence, the evidence quoted exactly, "
            "the recommendation, node, pod, image, exit code, the workload's earlier failures "
            "and a timeline. Use for 'why did <workload> fail?'."
        ),
        parameters=_schema(
            {
                "workload_name": _FILTER_PROPS["workload_name"],
                "episode_id": {"type": "string", "description": "failure episode id"},
                "project": _FILTER_PROPS["project"],
                **_WINDOW_PROPS,
            }
        ),
        run=_detail,
    ),
    ToolSpec(
        name="analyze_failures",
        description=(
            "Analyse a time window: failures and failure rate against the previous window of "
            "equal length (trend), top causes, hot nodes (failure rate over all runs on the "
            "node), repeatedly failing workloads and images, peak hours (UTC), failures per "
            "day by category, and what to do first ranked by impact. Optional filters."
        ),
        parameters=_schema({**_WINDOW_PROPS, **_FILTER_PROPS}),
        run=_analysis,
    ),
    ToolSpec(
        name="promql_query",
        description=(
            "Run an instant PromQL query against the cluster's Prometheus. This product "
            "exports runai_workload_failures_total{project,workload_type,category}, "
            "runai_workload_episodes_total{project,workload_type,kind}, "
            "runai_workloads_finished_total{project,workload_type}, "
            "runai_workloads{project,phase} and runai_failure_exporter_up; when installed, "
            "Run:ai's (runai_job_status_with_info, runai_job_allocated_gpus, "
            "runai_gpu_utilization_with_pod_info, runai_node_gpu_used_memory_bytes) and DCGM's "
            "(DCGM_FI_DEV_XID_ERRORS) may exist too. Large results are summarised."
        ),
        parameters=_schema(
            {
                "query": {"type": "string", "description": "PromQL expression"},
                "time": {"type": "string", "description": "ISO-8601 UTC evaluation time"},
            },
            ("query",),
        ),
        run=_promql_instant,
    ),
    ToolSpec(
        name="promql_range_query",
        description=(
            "Run a PromQL range query over a time window; each series comes back summarised "
            "(min, max, last, points) and the top series by last value are listed."
        ),
        parameters=_schema(
            {
                "query": {"type": "string", "description": "PromQL expression"},
                **_WINDOW_PROPS,
                "step_seconds": {"type": "number", "minimum": 1, "maximum": 86400},
            },
            ("query",),
        ),
        run=_promql_range,
    ),
)


def find_tool(name: str) -> ToolSpec | None:
    return next((tool for tool in TOOLS if tool.name == name), None)


def run_tool(ctx: ToolContext, name: str, args: Any) -> ToolResult:
    """Validate and run one tool call; an unknown tool or bad arguments is a status error."""
    tool = find_tool(name)
    if tool is None:
        known = ", ".join(t.name for t in TOOLS)
        return ToolResult("error", None, f"no tool named {name!r}; tools: {known}")
    problem = validate_arguments(tool.parameters, args)
    if problem:
        return ToolResult("error", None, f"{name}: {problem}")
    return tool.run(ctx, args)
