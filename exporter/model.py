"""Core types shared by the classifier, the monitor, the store and the agent.

Untyped dicts stop at the edges where JSON enters; inside, these frozen dataclasses travel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Classification:
    """The classifier's verdict on one evidence bundle."""

    category: str  # one of history.categories.CATEGORIES
    confidence: float  # 0..1
    evidence: str  # the decisive line or field, quoted exactly as found ("" when none)
    evidence_source: str  # "log" | "event" | "pod_status" | "workload" | "none"
    summary: str  # one plain sentence
    recommendation: str  # what to do, specific to the category and evidence
    details: Mapping[str, Any] = field(default_factory=dict)  # xid, exit_code, node, rank...

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["details"] = dict(self.details)
        return data
