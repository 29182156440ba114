"""PromQL against the configured Prometheus (PROMETHEUS_URL): instant and range queries.

A result never gets silently cut: past the series cap the answer lists the top series by their
last value and says how many more there were; each range series comes back as a summary (points,
min, max, last) instead of raw samples. Unreachable Prometheus or a bad query is a one-line
status error.

Any chat user can make the agent send PromQL, so a query is checked here before Prometheus sees
it: `count_over_time(up[100000d:1s])` asks Prometheus for 8.6 billion evaluations per series and
ran Debian's Prometheus 2.42 out of memory. Range selectors and subqueries are refused past
MAX_RANGE_S, subqueries finer than MIN_RESOLUTION_S or with more than MAX_SUBQUERY_POINTS points
per series (nested subqueries multiply), and every request carries Prometheus' own `timeout`
and a series `limit` (Prometheus versions without `limit` ignore it).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, cast

import httpx

from agent.time_windows import Window
from agent.tools.shapes import PromqlData, PromSeries
from agent.types import ToolContext, ToolResult

MAX_SERIES = 20  # series shown in full; the rest are counted, not dropped silently
MAX_POINTS = 240  # per series in a range query: the step grows to keep under it
MIN_STEP_S = 15.0
MAX_RANGE_S = 31 * 86400.0  # longest range selector or subquery range: a month of history
MIN_RESOLUTION_S = 1.0  # finest subquery resolution
MAX_SUBQUERY_POINTS = 11_000  # per series, per evaluation; Prometheus' own cap for range queries
DEFAULT_RESOLUTION_S = 60.0  # `[1h:]` uses the global evaluation interval, 1m by default
SERIES_LIMIT = 10_000  # Prometheus' `limit` parameter: far above MAX_SERIES, bounds the answer

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


class PromqlRefused(ValueError):
    """The query would cost Prometheus more than the agent allows; str() says why."""


def parse_duration(text: str) -> float:
    """Seconds in a PromQL duration (`5m`, `1h30m`, `100000d`, or plain seconds)."""
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise PromqlRefused(f"cannot read the duration {text!r}")
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def check_query(query: str) -> None:
    """Refuse a query whose range selectors or subqueries exceed the caps (PromqlRefused)."""
    bare = _STRING.sub('""', query)  # a regex in a label matcher is not a range
    points = 1.0
    for inside in _BRACKET.findall(bare):
        range_text, colon, resolution_text = inside.partition(":")
        if not range_text.strip():
            continue  # not a range (Prometheus will say what is wrong with it)
        range_s = parse_duration(range_text)
        if range_s > MAX_RANGE_S:
            raise PromqlRefused(
                f"the range [{range_text.strip()}] is longer than {_days(MAX_RANGE_S)}; "
                "ask about a shorter period"
            )
        if not colon:
            continue
        resolution_s = (
            parse_duration(resolution_text) if resolution_text.strip() else DEFAULT_RESOLUTION_S
        )
        if resolution_s < MIN_RESOLUTION_S:
            raise PromqlRefused(
                f"the subquery resolution {resolution_text.strip()} is finer than "
                f"{MIN_RESOLUTION_S:g}s"
            )
        points *= range_s / resolution_s
        if points > MAX_SUBQUERY_POINTS:
            raise PromqlRefused(
                f"the subquery [{inside.strip()}] asks for {points:,.0f} points per series "
                f"(at most {MAX_SUBQUERY_POINTS:,}); use a coarser resolution or a shorter range"
            )


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g} days"


def _value(raw: Any) -> float | None:
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _call(
    ctx: ToolContext,
    endpoint: str,
    params: dict[str, str],
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any] | ToolResult:
    """The `data` member of a Prometheus answer, or a status error explaining what went wrong."""
    if not ctx.prometheus_url:
        return ToolResult("error", None, "no Prometheus configured (set PROMETHEUS_URL)")
    try:
        check_query(params["query"])
    except PromqlRefused as exc:
        return ToolResult("error", {"query": params["query"]}, f"query refused: {exc}")
    url = ctx.prometheus_url.rstrip("/") + endpoint
    params = params | {"timeout": f"{ctx.prometheus_timeout_s:g}s", "limit": str(SERIES_LIMIT)}
    try:
        with httpx.Client(timeout=ctx.prometheus_timeout_s, transport=transport) as client:
            response = client.get(url, params=params)
    except httpx.TimeoutException:
        return ToolResult(
            "error", None, f"Prometheus did not answer within {ctx.prometheus_timeout_s:g}s"
        )
    except httpx.HTTPError as exc:
        return ToolResult("error", None, f"Prometheus unreachable: {type(exc).__name__}: {exc}")
    try:
        body = response.json()
    except ValueError:
        return ToolResult(
            "error", None, f"Prometheus answered HTTP {response.status_code} without JSON"
        )
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error", "unknown error") if isinstance(body, dict) else "bad answer"
        kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
        return ToolResult("error", None, f"Prometheus rejected the query ({kind}): {error}")
    data = body.get("data")
    return data if isinstance(data, dict) else ToolResult("error", None, "Prometheus: no data")


def _cap(series: list[dict[str, Any]], query: str, kind: str) -> ToolResult:
    # Highest last value first; series without a numeric value go last.
    series.sort(key=lambda s: (s.get("last") is None, -float(s.get("last") or 0)))
    shown = series[:MAX_SERIES]
    data: PromqlData = {
        "query": query,
        "result_type": kind,
        "series_total": len(series),
        "series_shown": len(shown),
        "truncated": len(series) > len(shown),
        "series": cast(list[PromSeries], shown),
    }
    if not series:
        return ToolResult("no_data", data, f"no series matched {query}")
    message = f"{len(series)} series"
    if len(series) >= SERIES_LIMIT:
        message = f"at least {len(series)} series (Prometheus stopped at {SERIES_LIMIT})"
    if data["truncated"]:
        message += f"; top {len(shown)} by last value shown, {len(series) - len(shown)} more"
    return ToolResult("ok", data, message)


def instant_query(
    ctx: ToolContext,
    query: str,
    at: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ToolResult:
    moment = (at or ctx.now).astimezone(UTC)
    data = _call(
        ctx, "/api/v1/query", {"query": query, "time": f"{moment.timestamp():.3f}"}, transport
    )
    if isinstance(data, ToolResult):
        return data
    kind = str(data.get("resultType"))
    result = data.get("result")
    if kind in ("scalar", "string") and isinstance(result, list) and len(result) == 2:
        series = [{"labels": {}, "last": _value(result[1]), "value": result[1]}]
        return _cap(series, query, kind)
    series = []
    for item in result if isinstance(result, list) else []:
        sample = item.get("value") or [None, None]
        series.append(
            {"labels": item.get("metric", {}), "last": _value(sample[1]), "value": sample[1]}
        )
    return _cap(series, query, kind)


def step_for(window: Window, requested_s: float | None = None) -> float:
    """A step that keeps each series within MAX_POINTS (never finer than MIN_STEP_S)."""
    seconds = window.duration.total_seconds()
    needed = math.ceil(seconds / MAX_POINTS)
    return max(requested_s or 0.0, float(needed), MIN_STEP_S)


def range_query(
    ctx: ToolContext,
    query: str,
    window: Window,
    step_s: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> ToolResult:
    step = step_for(window, step_s)
    params = {
        "query": query,
        "start": f"{window.start.timestamp():.3f}",
        "end": f"{window.end.timestamp():.3f}",
        "step": f"{step:g}",
    }
    data = _call(ctx, "/api/v1/query_range", params, transport)
    if isinstance(data, ToolResult):
        return data
    series = []
    for item in data.get("result") or []:
        values = [v for v in (_value(p[1]) for p in item.get("values") or []) if v is not None]
        points = item.get("values") or []
        series.append(
            {
                "labels": item.get("metric", {}),
                "points": len(points),
                "min": min(values) if values else None,
                "max": max(values) if values else None,
                "last": values[-1] if values else None,
                "last_at": (
                    datetime.fromtimestamp(float(points[-1][0]), UTC).isoformat()
                    if points
                    else None
                ),
            }
        )
    result = _cap(series, query, str(data.get("resultType")))
    if isinstance(result.data, dict):
        result.data["step_seconds"] = step
        result.data["window"] = window.to_dict()
    return result
