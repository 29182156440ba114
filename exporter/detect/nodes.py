"""Which node each finished run ran on: hot-node failure rates need every run's node.

Two ways to ask Run:ai, chosen by cost: each workload's own pods (~1.3 ms a request) when few
runs are new, or one paged listing of every current pod (~40 us a pod) when many are; measured
at 10,000 workloads the listing wins from ~430 runs, 4 % of the workloads. Runs the listing
does not place (their pods are gone: deleted workloads, finished pods) are asked for one by
one. Never a listing of every deleted pod: a long-lived tenant has millions of them, nearly
all older than anything that could be recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from exporter.detect.episodes import parse_time
from exporter.runai.client import RunaiClient

MIN_FOR_LISTING = 25


def node_of(pods: Iterable[dict[str, Any]]) -> str | None:
    """The node of the workload's latest pod that was scheduled somewhere."""
    placed = [p for p in pods if p.get("nodeName")]
    if not placed:
        return None
    latest = max(
        placed, key=lambda p: parse_time(p.get("createdAt")) or datetime.min.replace(tzinfo=UTC)
    )
    return str(latest["nodeName"])


def nodes_of(
    runai: RunaiClient,
    workload_ids: set[str],
    *,
    workloads: int,
    listing_share: float = 0.04,
    workers: int = 8,
) -> dict[str, str | None]:
    """workload id -> node (None: never scheduled, or its pods are gone). UpstreamError
    propagates: the caller decides what waits for the next cycle."""
    found: dict[str, list[dict[str, Any]]] = {}
    if len(workload_ids) >= max(MIN_FOR_LISTING, listing_share * workloads):
        for pod in runai.all_pods():
            wid = str(pod.get("workloadId"))
            if wid in workload_ids:
                found.setdefault(wid, []).append(pod)
    nodes = {wid: node_of(found.get(wid, [])) for wid in workload_ids}
    # Each workload's own pods, deleted ones included (RunaiClient.pods asks for both).
    unplaced = [wid for wid, node in nodes.items() if node is None]
    if unplaced:
        with ThreadPoolExecutor(workers, thread_name_prefix="nodes") as pool:
            nodes.update(zip(unplaced, map(node_of, pool.map(runai.pods, unplaced)),
                             strict=True))
    return nodes
