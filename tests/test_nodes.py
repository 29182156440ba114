"""Which node a run ran on, from its pods."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.detect.nodes import node_of


@pytest.mark.parametrize(
    ("pods", "node"),
    [
        ([], None),
        ([{"name": "p0", "nodeName": None}], None),  # never scheduled
        ([{"nodeName": "a", "createdAt": "2026-11-26T10:00:00Z"},
          {"nodeName": "b", "createdAt": "2026-11-26T11:00:00Z"}], "b"),  # the latest attempt
        ([{"nodeName": "a", "createdAt": "2026-11-26T12:00:00Z"},
          {"nodeName": None, "createdAt": "2026-11-26T13:00:00Z"}], "a"),
        ([{"nodeName": "a"}], "a"),  # no creation time: still a node
    ],
)
def test_node_of(pods: list[dict[str, Any]], node: str | None) -> None:
    assert node_of(pods) == node


def test_runs_the_pod_listing_misses_are_looked_up_one_by_one(scripted) -> None:
    """A long-lived tenant has millions of deleted pods: their listing is never read; the runs
    whose pods are gone are asked for by workload."""
    import json

    import httpx

    from exporter.detect.nodes import MIN_FOR_LISTING, nodes_of
    from exporter.runai.client import RunaiClient
    from tests.fixtures_exporter import Answer

    ids = {f"w{i}" for i in range(MIN_FOR_LISTING)}  # enough for the bulk listing
    scripted.script("/api/v2/token", Answer(200, json.dumps(
        {"access_token": "t", "token_type": "Bearer", "expires_in": 3600})))
    current = [{"workloadId": f"w{i}", "nodeName": f"n{i}"} for i in range(3)]
    scripted.script("/api/v1/workloads/pods", Answer(200, json.dumps({"pods": current})))
    for i in range(3, MIN_FOR_LISTING):
        scripted.script(f"/api/v1/workloads/w{i}/pods", Answer(200, json.dumps(
            {"pods": [{"name": f"p{i}", "nodeName": f"gone-{i}"}]})))
    with httpx.Client() as http:
        runai = RunaiClient(scripted.url, "c", "s", http=http)
        nodes = nodes_of(runai, ids, workloads=len(ids), workers=4)
    assert nodes == {f"w{i}": (f"n{i}" if i < 3 else f"gone-{i}") for i in range(len(ids))}
    listings = scripted.requests_to("/api/v1/workloads/pods")
    assert len(listings) == 1 and "deleted" not in listings[0].query
    assert not scripted.requests_to("/api/v1/workloads/w0/pods")  # placed by the listing
    # The listing showed no current pod of the others: one read each, of the deleted ones.
    for i in range(3, MIN_FOR_LISTING):
        [read] = scripted.requests_to(f"/api/v1/workloads/w{i}/pods")
        assert "deleted=true" in read.query


def test_a_workload_the_listing_missed_keeps_its_current_pods(scripted) -> None:
    """Created after the listing of every pod was read: no deleted pod, its current one asked
    next."""
    import json

    import httpx

    from exporter.runai.client import RunaiClient
    from tests.fixtures_exporter import Answer

    scripted.script("/api/v2/token", Answer(200, json.dumps(
        {"access_token": "t", "token_type": "Bearer", "expires_in": 3600})))
    scripted.script("/api/v1/workloads/w1/pods", Answer(200, json.dumps({"pods": []})),
                    Answer(200, json.dumps({"pods": [{"name": "p", "nodeName": "n"}]})))
    with httpx.Client() as http:
        runai = RunaiClient(scripted.url, "c", "s", http=http)
        assert node_of(runai.pods("w1", deleted_first=True)) == "n"
    reads = scripted.requests_to("/api/v1/workloads/w1/pods")
    assert ["deleted=true" in r.query for r in reads] == [True, False]
