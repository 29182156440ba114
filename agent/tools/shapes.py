"""The shapes of the tools' results (ToolResult.data), as typed dicts.

The data stays plain JSON (it goes to the LLM and over HTTP as is); these types let the
composer and the tools agree on its keys, checked by mypy instead of discovered at run time.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class WindowShape(TypedDict):
    start: str
    end: str
    label: str


class KindCounts(TypedDict):
    failed: int
    degraded: int
    pending: int


class Evidence(TypedDict):
    evidence: str | None
    evidence_source: str | None
    workload_name: str | None
    timestamp: str | None


class StatisticsGroup(TypedDict):
    key: str
    failures: int
    failed: int
    degraded: int
    pending: int
    gpus_requested: float
    workloads: int | None
    share: float | None
    finished_runs: int
    failed_runs: int | None
    failure_rate: float | None
    no_rate_reason: str | None
    example: NotRequired[Evidence | None]
    gpu_hours_lost: NotRequired[float | None]


class StatisticsData(TypedDict):
    window: WindowShape
    filters: dict[str, Any]
    group_by: str
    total_failures: int
    by_kind: KindCounts
    finished_runs: int
    failed_runs: int
    failure_rate: float | None
    no_rate_reason: str | None
    gpus_requested: float
    workloads: int | None
    gpu_hours_lost: float | None
    groups: list[StatisticsGroup]
    other_groups: int
    other_failures: int


class ListedFailure(TypedDict):
    episode_id: str
    timestamp: str
    workload_name: str
    project: str
    workload_type: str
    kind: str
    category: str
    node: str | None
    image: str | None
    gpus_requested: float | None
    summary: str
    evidence: str
    # pending episodes: the workload's next record (it left Pending by then); None: none yet
    next_record: NotRequired[str | None]


class ListData(TypedDict):
    window: WindowShape
    filters: dict[str, Any]
    total: int
    shown: int
    failures: list[ListedFailure]


class WindowTotals(TypedDict):
    failures: int
    by_kind: KindCounts
    finished_runs: int
    failed_runs: int | None
    failure_rate: float | None


class Trend(TypedDict):
    failures_change: int
    failures_change_pct: float | None
    failure_rate_change: float | None
    direction: str  # up | down | flat | unknown (the previous window precedes the history)
    judged_by: str
    reason: NotRequired[str]


class Cause(TypedDict):
    category: str
    failures: int
    previous_failures: int
    share: float | None
    gpus_requested: float
    workloads: int
    example: NotRequired[Evidence | None]


class HotNode(TypedDict):
    node: str
    failures: int
    finished_runs: int
    failed_runs: int
    failure_rate: float | None
    top_category: str


class Repeater(TypedDict, total=False):
    workload_name: str  # the repeated value: a workload name or an image
    image: str
    failures: int
    top_category: str
    workloads: int
    project: str
    last_failure: str | None


class PeakHour(TypedDict):
    hour_utc: int
    failures: int


class DailyCount(TypedDict):
    day: str
    category: str
    failures: int


class Action(TypedDict):
    category: str
    title: str
    failures: int
    gpus_requested: float
    action: str
    targets: list[str]
    targets_label: str


class AnalysisData(TypedDict):
    window: WindowShape
    previous_window: WindowShape
    filters: dict[str, Any]
    current: WindowTotals
    previous: WindowTotals
    trend: Trend
    top_causes: list[Cause]
    hot_nodes: list[HotNode]
    repeating_workloads: list[Repeater]
    repeating_images: list[Repeater]
    peak_hours_utc: list[PeakHour]
    daily: list[DailyCount]
    actions: list[Action]


class TimelineItem(TypedDict):
    at: str | None
    what: str
    detail: str


class CategoryCount(TypedDict):
    category: str
    failures: int
    last: str | None


class Episode(TypedDict):
    timestamp: str | None
    kind: str
    category: str
    node: str | None
    evidence: str | None


class DetailData(TypedDict):
    failure: dict[str, Any]  # one failure_events row (every column of the contract)
    timeline: list[TimelineItem]
    failures_by_category: list[CategoryCount]
    recent_episodes: list[Episode]
    episodes_total: int
    finished_runs: int
    failed_runs: int
    same_name_in_projects: list[str]


class PromSeries(TypedDict, total=False):
    labels: dict[str, str]
    last: float | None
    value: Any
    points: int
    min: float | None
    max: float | None


class PromqlData(TypedDict):
    query: str
    result_type: str
    series_total: int
    series_shown: int
    truncated: bool
    series: list[PromSeries]
