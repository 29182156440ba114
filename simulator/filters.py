"""filterBy / sortBy / search as the Run:ai API takes them, over typed field dicts.

A filter is `<field><op><value>`; operators `==` `!=` `<=` `>=` `=@` (contains) `!@` (does not
contain) `=^` (starts with) `=$` (ends with). Dates are ISO-8601 and take only == != <= >=.
Bad input raises BadRequest with a message fit for the 400 body.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.clock import parse_iso
from simulator.errors import BadRequest

OPERATORS = ("==", "!=", "<=", ">=", "=@", "!@", "=^", "=$")
_FILTER = re.compile(r"^([A-Za-z][A-Za-z0-9]*)(==|!=|<=|>=|=@|!@|=\^|=\$)(.+)$", re.S)
_HEAD = re.compile(r"^[A-Za-z][A-Za-z0-9]*(==|!=|<=|>=|=@|!@|=\^|=\$)")


@dataclass(frozen=True)
class FieldSet:
    """Which fields a collection can be filtered and sorted by, and their kinds.

    `version` names the control plane a restricted set belongs to, and `elsewhere` the fields
    other versions have, so a filter on a field this version lacks gets a message saying so.
    """

    fields: frozenset[str]
    dates: frozenset[str]
    numbers: frozenset[str]
    version: str = ""
    elsewhere: frozenset[str] = frozenset()

    def restricted(self, allowed: frozenset[str], version: str) -> FieldSet:
        """The subset one control-plane version lists (its spec's filterBy pattern)."""
        return FieldSet(self.fields & allowed, self.dates, self.numbers, version,
                        self.fields - allowed)


WORKLOAD_FIELDS = FieldSet(
    frozenset((
        "type", "name", "clusterId", "projectId", "projectName", "departmentId",
        "departmentName", "createdAt", "deletedAt", "submittedBy", "phase", "completedAt",
        "nodepool", "distributedFramework", "allocatedGPU", "idleGpus", "idleAllocatedGpus",
        "phaseUpdatedAt", "category", "totalPendingTimeSeconds", "totalRunningTimeSeconds",
        "priority", "priorityClassName", "guaranteedRuntimeEndsAt", "aiApplicationId",
        "aiApplicationName")),
    frozenset(("createdAt", "deletedAt", "completedAt", "phaseUpdatedAt",
               "guaranteedRuntimeEndsAt")),
    frozenset(("allocatedGPU", "idleGpus", "idleAllocatedGpus", "totalPendingTimeSeconds",
               "totalRunningTimeSeconds", "priority")),
)

POD_FIELDS = FieldSet(
    frozenset(("clusterId", "workloadId", "revisionId", "nodeName", "currentNodepool",
               "createdAt", "completedAt", "deletedAt")),
    frozenset(("createdAt", "completedAt", "deletedAt")),
    frozenset(),
)


_USAGE = tuple(f"avg{kind}{window}" for kind in ("GpuAllocation", "GpuUtilization",
                                                  "GpuMemoryUtilization")
               for window in ("24h", "7d", "30d"))
PROJECT_FIELDS = FieldSet(
    frozenset(("name", "clusterId", "departmentId", "parentId", "parentName", "phase",
               "totalGpuQuota", "gpuAllocated", "createdAt", *_USAGE)),
    frozenset(("createdAt",)),
    frozenset(("totalGpuQuota", "gpuAllocated", *_USAGE)),
)


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    text: str  # the raw value, for string operators
    number: float | None  # the value as a number (dates: epoch seconds), for ordering ops

    def matches(self, fields: dict[str, Any]) -> bool:
        value = fields.get(self.field)
        op = self.op
        if value is None:
            return op in ("!=", "!@")
        if self.number is not None and not isinstance(value, str):
            if op == "==":
                return bool(value == self.number)
            if op == "!=":
                return bool(value != self.number)
            if op == "<=":
                return bool(value <= self.number)
            if op == ">=":
                return bool(value >= self.number)
        text = value if isinstance(value, str) else _number_text(value)
        if op == "==":
            return text == self.text
        if op == "!=":
            return text != self.text
        if op == "<=":
            return text <= self.text
        if op == ">=":
            return text >= self.text
        low, want = text.lower(), self.text.lower()
        if op == "=@":
            return want in low
        if op == "!@":
            return want not in low
        if op == "=^":
            return low.startswith(want)
        return low.endswith(want)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def split_filters(raw: Iterable[str]) -> list[str]:
    """filterBy values, each comma-separated (OpenAPI explode: false). A comma only separates
    when what follows starts like `<field><op>`, so a value may itself hold commas."""
    out: list[str] = []
    for param in raw:
        parts = param.split(",")
        current = parts[0]
        for part in parts[1:]:
            if _HEAD.match(part):
                out.append(current)
                current = part
            else:
                current = f"{current},{part}"
        out.append(current)
    return out


def parse_filter(raw: str, allowed: FieldSet) -> Filter:
    match = _FILTER.match(raw)
    if not match:
        raise BadRequest(f"malformed filterBy {raw!r}: expected <field><operator><value> with "
                         f"an operator among {' '.join(OPERATORS)}")
    name, op, value = match.groups()
    if name not in allowed.fields:
        if name in allowed.elsewhere:
            raise BadRequest(f"filterBy field {name!r} is not available on control plane "
                             f"{allowed.version}; it takes {', '.join(sorted(allowed.fields))}")
        raise BadRequest(f"unknown filterBy field {name!r}")
    number: float | None = None
    if name in allowed.dates:
        if op not in ("==", "!=", "<=", ">="):
            raise BadRequest(f"operator {op} is not supported for date field {name!r}")
        try:
            number = parse_iso(value)
        except ValueError as exc:
            raise BadRequest(f"filterBy {name!r} needs an ISO-8601 date, got {value!r}") from exc
    elif name in allowed.numbers and op in ("==", "!=", "<=", ">="):
        try:
            number = float(value)
        except ValueError as exc:
            raise BadRequest(f"filterBy {name!r} needs a number, got {value!r}") from exc
        if math.isnan(number):
            raise BadRequest(f"filterBy {name!r} needs a number, got {value!r}")
    return Filter(name, op, value, number)


def parse_filters(raw: Sequence[str], allowed: FieldSet) -> list[Filter]:
    return [parse_filter(part, allowed) for part in split_filters(raw)]


def parse_sort(sort_by: str | None, sort_order: str | None, allowed: FieldSet,
               default_order: str = "asc") -> tuple[str | None, bool]:
    """(field or None, descending). Unknown field or order -> BadRequest."""
    order = (sort_order or default_order).lower()
    if order not in ("asc", "desc"):
        raise BadRequest(f"sortOrder must be asc or desc, got {sort_order!r}")
    if sort_by is not None and sort_by not in allowed.fields:
        raise BadRequest(f"unknown sortBy field {sort_by!r}")
    return sort_by, order == "desc"


def sort_items(items: list[int], key: Callable[[int], Any], descending: bool) -> list[int]:
    """Stable sort on a field; items without a value go last in either order."""
    present = [i for i in items if key(i) is not None]
    missing = [i for i in items if key(i) is None]
    present.sort(key=key, reverse=descending)
    return present + missing
