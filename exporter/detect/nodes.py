"""Which node each finished run ran on: hot-node failure rates need every run's node.

Two ways to ask Run:ai, chosen by cost: each workload's own pods (~1.3 ms a request) when few
runs are new, or one paged listing of every current pod (~40 us a pod) when many are; measured
at 10,000 workloads the listing wins from ~430 runs, 4 % of the workloads. Runs the listing
does not place (their pods are gone: deleted workloads, finished pods) are asked for one by
one. Never a listing of every deleted pod: a long-lived tenant has millions of them, nearly
all older than anything that could be recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from exporter.detect.episodes import parse_time
from exporter.runai.client import RunaiClient

MIN_FOR_LISTING = 25
_NEVER = datetime.min.replace(tzinfo=UTC)


def node_of(pods: Iterable[dict[str, Any]]) -> str | None:
    """The node of the workload's latest pod that was scheduled somewhere."""
    placed = [p for p in pods if p.get("nodeName")]
    if not placed:
        return None
    latest = max(placed, key=lambda p: parse_time(p.get("createdAt")) or _NEVER)
    return str(latest["nodeName"])


def listed_nodes(runai: RunaiClient, wanted: Set[str] | None = None) -> dict[str, str]:
    """workload id -> node of its latest placed pod, from one paged listing of every current
    pod (only the `wanted` workloads', when given); one node kept per workload, not its pods."""
    latest: dict[str, tuple[datetime, str]] = {}
    for pod in runai.all_pods():
        wid, node = str(pod.get("workloadId")), pod.get("nodeName")
        if not node or (wanted is not None and wid not in wanted):
            continue
        at = parse_time(pod.get("createdAt")) or _NEVER
        if wid not in latest or at > latest[wid][0]:
            latest[wid] = (at, str(node))
    return {wid: node for wid, (_, node) in latest.items()}


@dataclass
class CycleNodes:
    """listed_nodes of every workload, read at most once a cycle: a streamed first start
    needs it chunk after chunk, and one listing of every pod costs less than asking each
    chunk's workloads one by one."""

    nodes: dict[str, str] | None = None

    def of(self, runai: RunaiClient) -> dict[str, str]:
        if self.nodes is None:
            self.nodes = listed_nodes(runai)
        return self.nodes


def nodes_of(
    runai: RunaiClient,
    workload_ids: set[str],
    *,
    workloads: int,
    listing_share: float = 0.04,
    workers: int = 8,
    cycle: CycleNodes | None = None,
) -> dict[str, str | None]:
    """workload id -> node (None: never scheduled, or its pods are gone). `workloads`: how
    many were listed (with `cycle`: in this chunk), for the choice between one listing of
    every pod and each workload's own. UpstreamError propagates: the caller decides what
    waits for the next cycle."""
    listed: dict[str, str] = {}
    listed_all = len(workload_ids) >= max(MIN_FOR_LISTING, listing_share * workloads)
    if listed_all:
        listed = cycle.of(runai) if cycle is not None else listed_nodes(runai, workload_ids)
    nodes: dict[str, str | None] = {wid: listed.get(wid) for wid in workload_ids}
    # Each workload's own pods, deleted ones included (RunaiClient.pods asks for both); those
    # the listing of every current pod did not place have none current: deleted ones first.
    unplaced = [wid for wid, node in nodes.items() if node is None]
    if unplaced:
        read = partial(runai.pods, deleted_first=listed_all)
        with ThreadPoolExecutor(workers, thread_name_prefix="nodes") as pool:
            nodes.update(zip(unplaced, map(node_of, pool.map(read, unplaced)), strict=True))
    return nodes
