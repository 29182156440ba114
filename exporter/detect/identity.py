"""Telling whether a phase entry is one already seen: by workload, kind and instant within a
tolerance (history.identity), paired one-to-one, nearest first.

The listing names an episode by `phaseUpdatedAt` (a run by `completedAt`), the timeline by
the history record's `creationTimestamp`; they differ by milliseconds to seconds, so an exact
id would count each failure, run and pending episode twice. Pairing one-to-one keeps two real
entries apart when both are seen, however close: each recorded entry accounts for at most
one new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TypeVar

from exporter.detect.stamps import parse_time
from history.identity import same_entry

T = TypeVar("T")
# (workload id, kind or phase, phase entry): what names an entry whatever its stamp.
Key = tuple[str, str, datetime]


def split_id(ident: str) -> tuple[str, datetime] | None:
    """(workload id, instant) of an episode or run id "<workload id>@<ISO-8601 UTC>"."""
    wid, sep, stamp = ident.rpartition("@")
    at = parse_time(stamp) if sep else None
    return (wid, at) if at is not None else None


def nearest_pairs(left: list[datetime], right: list[datetime]) -> list[tuple[int, int]]:
    """(i, j) pairs of left[i] and right[j] within the tolerance, one-to-one, nearest first."""
    candidates = sorted(
        (abs(a - b), i, j)
        for i, a in enumerate(left)
        for j, b in enumerate(right)
        if same_entry(a, b)
    )
    used_left: set[int] = set()
    used_right: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for _, i, j in candidates:
        if i not in used_left and j not in used_right:
            used_left.add(i)
            used_right.add(j)
            pairs.append((i, j))
    return pairs


class KnownEntries:
    """The episodes (or runs) already recorded: id -> kind (or phase); None matches any kind
    (an id whose kind was not kept)."""

    def __init__(self, entries: Mapping[str, str | None] | Iterable[str] = ()) -> None:
        self._by: dict[str, list[tuple[str | None, datetime]]] = {}
        self._ids: set[str] = set()
        pairs = entries.items() if isinstance(entries, Mapping) else ((e, None) for e in entries)
        for ident, kind in pairs:
            self.add(ident, kind)

    @classmethod
    def of(cls, entries: KnownEntries | Mapping[str, str | None] | Iterable[str]) -> KnownEntries:
        return entries if isinstance(entries, KnownEntries) else cls(entries)

    def add(self, ident: str, kind: str | None = None) -> None:
        if ident in self._ids:
            return
        self._ids.add(ident)
        parts = split_id(ident)
        if parts is not None:
            self._by.setdefault(parts[0], []).append((kind, parts[1]))

    def __contains__(self, ident: object) -> bool:
        return ident in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def new(self, items: Iterable[T], key: Callable[[T], Key]) -> list[T]:
        """The items no recorded entry accounts for (one recorded entry, one item), in order."""
        listed = list(items)
        groups: dict[tuple[str, str], list[int]] = {}
        for index, item in enumerate(listed):
            wid, kind, _ = key(item)
            groups.setdefault((wid, kind), []).append(index)
        claimed: set[int] = set()
        for (wid, kind), indices in groups.items():
            recorded = [at for k, at in self._by.get(wid, ()) if k is None or k == kind]
            if recorded:
                times = [key(listed[i])[2] for i in indices]
                claimed.update(indices[i] for i, _ in nearest_pairs(times, recorded))
        return [item for index, item in enumerate(listed) if index not in claimed]
