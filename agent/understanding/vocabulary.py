"""The names a question may use: what the history file itself contains.

Read with one aggregate query and kept per file version (path, size and modification time of
the file and its write-ahead log), so a question pays for it only after the sidecar wrote.
Matching is exact first (case-insensitive), then fuzzy for typos with rapidfuzz; a candidate
that differs from a known name only in its digits is another entity, never a typo of it
("dgx-h200-99" is not "dgx-h100-01").
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from history import sources
from history.categories import CATEGORIES, WORKLOAD_TYPES

# Dimensions whose values are names in the file, in the order an ambiguous name is read as
# (a project and a workload of the same name: the broader reading wins).
NAME_DIMENSIONS: tuple[str, ...] = ("project", "node", "image", "workload_name", "department")


def typo_budget(token: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) a typo may take: one in a short
    name, two from 8 characters. More and it is another name ("team-zeta" is not "team-a")."""
    return 1 if len(token) < 8 else 2


_CACHE_SIZE = 8


@dataclass(frozen=True)
class Vocabulary:
    names: Mapping[str, tuple[str, ...]]  # dimension -> known values, sorted
    first_record: datetime | None = None
    _lower: dict[str, dict[str, str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for dimension, values in self.names.items():
            self._lower[dimension] = {v.lower(): v for v in values}
        every = frozenset(name for lowered in self._lower.values() for name in lowered)
        object.__setattr__(self, "all_lower", every)
        images: dict[str, str] = {}
        for image in self.names.get("image", ()):
            short = image.rsplit("/", 1)[-1]
            images.setdefault(short.lower(), image)
        self._lower["image_short"] = images
        repos: dict[str, list[str]] = {}
        for image in self.names.get("image", ()):
            repos.setdefault(image.rsplit("/", 1)[-1].split(":", 1)[0].lower(), []).append(image)
        self._lower["image_repo"] = {k: v[0] for k, v in repos.items() if len(v) == 1}

    all_lower: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def values(self, dimension: str) -> tuple[str, ...]:
        return tuple(self.names.get(dimension, ()))

    def exact(self, dimension: str, token: str) -> str | None:
        """The known value spelt like token (any case); images also by their last path part."""
        key = token.lower()
        found = self._lower.get(dimension, {}).get(key)
        if found is None and dimension == "image":
            found = self._lower["image_short"].get(key)
        return found

    def image_by_repo(self, token: str) -> str | None:
        """An image named by its repository alone ("ranker"), when exactly one tag is known."""
        return self._lower["image_repo"].get(token.lower())

    def closest(self, dimension: str, token: str) -> tuple[str, float] | None:
        """The nearest known value and its score, or None when nothing is near."""
        choices = self._lower.get(dimension)
        if not choices:
            return None
        hit = process.extractOne(token.lower(), list(choices), scorer=fuzz.ratio, score_cutoff=60)
        if hit is None:
            return None
        return choices[hit[0]], float(hit[1])

    def typo_of(self, dimension: str, token: str) -> str | None:
        """The known value token is a misspelling of, or None."""
        choices = self._lower.get(dimension)
        if not choices or len(token) < 4:
            return None
        hit = process.extractOne(
            token.lower(),
            list(choices),
            scorer=DamerauLevenshtein.distance,
            score_cutoff=typo_budget(token),
        )
        if hit is None:
            return None
        if _digits(hit[0]) != _digits(token):  # dgx-h200-99 is another node, not a typo
            return None
        if _short_part_differs(hit[0], token.lower()):  # team-d is another team, not team-a
            return None
        return choices[hit[0]]

    def examples(self, dimension: str, near: str = "", limit: int = 3) -> tuple[str, ...]:
        """A few known values, the closest to `near` first."""
        values = self.values(dimension)
        if near and values:
            ranked = process.extract(near.lower(), [v.lower() for v in values], scorer=fuzz.ratio,
                                     limit=limit)  # fmt: skip
            return tuple(values[i] for _, _, i in ranked)
        return values[:limit]


def _short_part_differs(known: str, typed: str) -> bool:
    """Names made of the same parts where a short part (one or two characters: a suffix like
    the "a" of team-a) differs: a sibling entity, as a different number is."""
    ours, theirs = re.split(r"[-_.:/]", known), re.split(r"[-_.:/]", typed)
    if len(ours) != len(theirs):
        return False
    return any(a != b and min(len(a), len(b)) <= 2 for a, b in zip(ours, theirs, strict=True))


def _digits(text: str) -> str:
    return "".join(re.findall(r"\d", text))


_QUERY = " UNION ALL ".join(
    f"SELECT '{column}', {column} FROM (SELECT DISTINCT {column} FROM {table}) "
    f"WHERE {column} IS NOT NULL"
    for column in NAME_DIMENSIONS
    for table in ("failure_events", "workload_runs")
)


def read_vocabulary(conn: duckdb.DuckDBPyConnection) -> Vocabulary:
    rows = conn.execute(_QUERY).fetchall()
    found: dict[str, set[str]] = {d: set() for d in NAME_DIMENSIONS}
    for dimension, value in rows:
        found[dimension].add(str(value))
    first = conn.execute(
        """SELECT least((SELECT min("timestamp") FROM failure_events),
                        (SELECT min(finished_at) FROM workload_runs))"""
    ).fetchone()
    names = {d: tuple(sorted(v)) for d, v in found.items()}
    names["category"] = CATEGORIES
    names["workload_type"] = tuple(sorted(set(WORKLOAD_TYPES) - {"other"}))
    return Vocabulary(names, first[0] if first else None)


EMPTY = Vocabulary({d: () for d in NAME_DIMENSIONS})

_lock = threading.Lock()
_cache: dict[tuple[object, ...], Vocabulary] = {}


def _version(db_path: str) -> tuple[object, ...]:
    parts: list[object] = [db_path]
    for path in sources.stat_paths(db_path):
        try:
            stat = os.stat(path)
            parts += [stat.st_size, stat.st_mtime_ns]
        except OSError:
            parts += [None, None]
    return tuple(parts)


def vocabulary(conn: duckdb.DuckDBPyConnection, db_path: str) -> Vocabulary:
    """The vocabulary of this version of the file, read once per version."""
    key = _version(db_path)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    found = read_vocabulary(conn)
    with _lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = found
    return found
