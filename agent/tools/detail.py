"""One failure in detail: cause, quoted evidence, recommendation, the workload's other failures
and a timeline built from the stored evidence bundle and the workload's runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import duckdb

from agent.time_windows import Window
from agent.tools.shapes import DetailData, TimelineItem
from agent.types import ToolResult
from history.reader import NO_HISTORY, is_empty, iso

MAX_EPISODES = 50  # a workload's story: its episodes, newest first, up to this many


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _timeline(record: Mapping[str, Any], runs: list[tuple[Any, ...]]) -> list[TimelineItem]:
    """Events from the stored bundle, the workload's runs and the failure itself, oldest first."""
    items: list[TimelineItem] = []
    bundle = record.get("bundle") or {}
    events = bundle.get("events") if isinstance(bundle, Mapping) else None
    for event in (events or [])[:30]:
        if isinstance(event, Mapping):
            items.append(
                {
                    "at": str(event.get("createdAt") or ""),
                    "what": "event",
                    "detail": f"{event.get('reason') or ''}: {event.get('message') or ''}"[:300],
                }
            )
    for phase, finished_at in runs:
        items.append({"at": iso(finished_at), "what": f"run ended {phase}", "detail": ""})
    items.append(
        {
            "at": record["timestamp"],
            "what": f"failure recorded: {record['kind']}, {record['category']}",
            "detail": record["summary"],
        }
    )
    items.sort(key=lambda item: str(item["at"]))
    return items


def failure_detail(
    conn: duckdb.DuckDBPyConnection,
    *,
    workload_name: str | None = None,
    episode_id: str | None = None,
    project: str | None = None,
    window: Window | None = None,
) -> ToolResult:
    """The latest failure of a workload (or one episode): cause, evidence, timeline."""
    clauses: list[str] = []
    params: list[Any] = []
    if episode_id:
        clauses.append("episode_id = ?")
        params.append(episode_id)
    if workload_name:
        clauses.append("workload_name = ?")
        params.append(workload_name)
    if project:
        clauses.append("project = ?")
        params.append(project)
    if window is not None:
        clauses.append('"timestamp" >= ? AND "timestamp" < ?')
        params += [window.start, window.end]
    if not clauses:
        return ToolResult("error", None, "give a workload_name or an episode_id")
    cursor = conn.execute(
        f"""SELECT * FROM failure_events WHERE {" AND ".join(clauses)}
        ORDER BY "timestamp" DESC LIMIT 1""",
        params,
    )
    row = cursor.fetchone()
    subject = episode_id or workload_name
    if row is None:
        message = NO_HISTORY if is_empty(conn) else f"no recorded failure of {subject}"
        return ToolResult("no_data", {"workload_name": workload_name}, message)
    names = [d[0] for d in cursor.description or ()]
    record: dict[str, Any] = {n: iso(v) for n, v in zip(names, row, strict=True)}
    record["details"] = _loads(record["details"]) or {}
    record["bundle"] = _loads(record["bundle"]) or {}
    key = [record["workload_id"]]
    history = conn.execute(
        """SELECT category, count(*), max("timestamp") FROM failure_events
        WHERE workload_id = ? GROUP BY category ORDER BY count(*) DESC, category""",
        key,
    ).fetchall()
    episodes = conn.execute(
        f"""SELECT "timestamp", kind, category, node, evidence FROM failure_events
        WHERE workload_id = ? ORDER BY "timestamp" DESC, episode_id LIMIT {MAX_EPISODES}""",
        key,
    ).fetchall()
    runs = conn.execute(
        """SELECT phase, finished_at FROM workload_runs WHERE workload_id = ?
        ORDER BY finished_at DESC LIMIT 10""",
        key,
    ).fetchall()
    run_totals = conn.execute(
        """SELECT count(*), count(*) FILTER (WHERE phase = 'Failed') FROM workload_runs
        WHERE workload_id = ? AND phase IN ('Completed', 'Failed')""",
        key,
    ).fetchone() or (0, 0)
    other_projects = conn.execute(
        """SELECT DISTINCT project FROM failure_events
        WHERE workload_name = ? AND project <> ? ORDER BY project""",
        [record["workload_name"], record["project"]],
    ).fetchall()
    if record["kind"] == "pending":  # the latest episode: only a run can come after it
        after = [at for _, at in runs if at > row[names.index("timestamp")]]
        record["next_record"] = iso(min(after)) if after else None
    bundle = record.pop("bundle")
    data: DetailData = {
        "failure": record,
        "timeline": _timeline(record | {"bundle": bundle}, runs),
        "failures_by_category": [
            {"category": c, "failures": int(n), "last": iso(last)} for c, n, last in history
        ],
        "recent_episodes": [
            {"timestamp": iso(t), "kind": k, "category": c, "node": n, "evidence": e}
            for t, k, c, n, e in episodes
        ],
        "episodes_total": sum(int(n) for _, n, _ in history),
        "finished_runs": int(run_totals[0]),
        "failed_runs": int(run_totals[1]),
        "same_name_in_projects": [p for (p,) in other_projects],
    }
    return ToolResult(
        "ok", data, f"latest failure of {record['workload_name']}: {record['category']}"
    )
