"""Core types shared by the Run:ai client, detection, evidence, the classifier and the monitor.

Untyped dicts stop at the edges where JSON enters; inside, these frozen dataclasses travel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from exporter.detect.stamps import parse_time


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


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _gpus(data: Mapping[str, Any]) -> float | None:
    resources = data.get("workloadRequestedResources")
    gpu = resources.get("gpu") if isinstance(resources, dict) else None
    value = gpu.get("request") if isinstance(gpu, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


@dataclass(frozen=True, eq=False)
class Workload:
    """One Run:ai workload as the API described it, typed once where its JSON enters.

    The four fields every cycle reads of every workload are set when it is built; the rest are
    parsed on first read and kept (functools.cached_property): a steady cycle over 50,000
    workloads reads no timestamp of an unchanged one, and building the whole object eagerly
    cost ~5 us a workload, a quarter of that cycle. `raw` is the API's own object, kept whole
    for the evidence bundle (the classifier reads fields this type does not name) and for text
    that is stored or sent back verbatim (sync markers, the deletedAt mark). Equality is
    identity: two reads of one workload are two observations.
    """

    id: str  # "" when the API gave none: such a workload names no episode or run
    name: str
    project: str
    phase: str  # "" when absent
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Workload:
        """From a listing entry or a detail; never raises (the API's JSON is untrusted)."""
        get = data.get
        wid = get("id")
        workload = object.__new__(cls)
        # Frozen: written once, here, past the dataclass __init__ (one dict update instead of
        # a guarded setattr per field; this runs for every workload of every listing).
        workload.__dict__.update(
            id=wid if isinstance(wid, str) else "", name=str(get("name") or ""),
            project=str(get("projectName") or ""), phase=str(get("phase") or ""), raw=data,
        )
        return workload

    def with_detail(self, detail: Mapping[str, Any] | None) -> Workload:
        """This workload updated with the fields of its detail (GET /workloads/{id})."""
        return Workload.from_api({**self.raw, **detail}) if detail else self

    @cached_property
    def department(self) -> str | None:
        return _text(self.raw.get("departmentName"))

    @cached_property
    def type(self) -> str | None:
        """Run:ai's type ("Training", "distributed"...); history.categories labels it."""
        return _text(self.raw.get("type"))

    @cached_property
    def phase_message(self) -> str | None:
        return _text(self.raw.get("phaseMessage"))

    @cached_property
    def cluster_id(self) -> str | None:
        return _text(self.raw.get("clusterId"))

    @cached_property
    def namespace(self) -> str | None:
        """As given; exporter.evidence.namespace_of applies Run:ai's convention when absent."""
        return _text(self.raw.get("namespace"))

    @cached_property
    def images(self) -> tuple[str, ...]:
        images = self.raw.get("images")
        return tuple(str(i) for i in images if i) if isinstance(images, list) else ()

    @property
    def image(self) -> str | None:
        return self.images[0] if self.images else None

    @cached_property
    def gpus_requested(self) -> float | None:
        return _gpus(self.raw)

    @cached_property
    def created_at(self) -> datetime | None:
        return parse_time(self.raw.get("createdAt"))

    @cached_property
    def phase_updated_at(self) -> datetime | None:
        return parse_time(self.raw.get("phaseUpdatedAt"))

    @cached_property
    def completed_at(self) -> datetime | None:
        return parse_time(self.raw.get("completedAt"))

    @cached_property
    def deleted_at(self) -> datetime | None:
        return parse_time(self.raw.get("deletedAt"))
