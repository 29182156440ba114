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
