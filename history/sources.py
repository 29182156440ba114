"""Which history the agent reads: one file, or a fleet's (several files, globs, Parquet datasets).

The agent's `--db` may be given more than once, and its RUNAI_FAILURE_DB_PATH may list several
entries separated by the path separator (`:`). Each entry is a history file, a glob, or the
folder of a Parquet dataset written by `db export --parquet`. One plain file is the single-file
case, read exactly as always; anything else is a fleet, read through history.fleet.

Every source names its clusters: a history file is named after the file (`gpu-east.db` is
cluster `gpu-east`; the file holds no cluster name of its own, and the Run:ai cluster id on its
rows is an opaque UUID), a Parquet dataset by its `cluster=NAME` partitions. A cluster given
twice (two files of one name, a file and a dataset partition of one name) is refused rather
than counted twice.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from common.errors import ConfigError, StoreError

SEPARATOR = os.pathsep
TABLES = ("failure_events", "workload_runs")
_GLOB_CHARS = frozenset("*?[")
PARTITION = "cluster="


# The agent's `--db` (serve, ask, mcp): repeatable, so one answer can cover several clusters.
DB_FLAG_HELP = (
    "history DuckDB file; repeat it, or give a glob or a `db export --parquet` folder, to "
    "answer across clusters (env RUNAI_FAILURE_DB_PATH, several separated by ':'; default "
    "/data/runai_failure_history.db)"
)


def check(spec: str) -> None:
    """At start-up: a fleet spec that names nothing readable is a ConfigError (one line)."""
    if is_fleet(spec):
        try:
            resolve(spec)
        except HistorySourceError as exc:
            raise ConfigError(str(exc)) from None


class HistorySourceError(StoreError):
    """The histories named cannot be read together; str() says which and why in one line."""


@dataclass(frozen=True)
class Source:
    kind: Literal["file", "parquet"]
    path: Path
    clusters: tuple[str, ...]


def join(entries: Sequence[str]) -> str:
    """Several `--db` values as the one string a ToolContext carries."""
    return SEPARATOR.join(e.strip() for e in entries if e.strip())


def entries(spec: str) -> list[str]:
    return [e.strip() for e in spec.split(SEPARATOR) if e.strip()]


def is_fleet(spec: str) -> bool:
    """False for one plain path (the single-file case, even when the file is missing yet)."""
    parts = entries(spec)
    if len(parts) != 1:
        return len(parts) > 1
    only = parts[0]
    if os.path.isfile(only):
        return False
    return os.path.isdir(only) or any(c in _GLOB_CHARS for c in only)


def resolve(spec: str) -> list[Source]:
    """The sources of a fleet spec, each once; HistorySourceError with a one-line reason."""
    found: list[Source] = []
    seen: set[str] = set()
    for entry in entries(spec):
        for path in _expand(entry):
            real = os.path.realpath(path)
            if real in seen:  # a glob and a --db naming the same file: read once
                continue
            seen.add(real)
            found.append(_source(Path(path)))
    if not found:
        raise HistorySourceError("no history given: --db names a history file, glob or folder")
    _refuse_repeated_clusters(found)
    return found


def clusters(spec: str) -> tuple[str, ...]:
    """The clusters a fleet spec covers, sorted; () for a single file or a spec that cannot be
    read (the tools say why)."""
    if not is_fleet(spec):
        return ()
    try:
        return tuple(sorted(c for s in resolve(spec) for c in s.clusters))
    except (HistorySourceError, OSError):
        return ()


def clusters_line(spec: str) -> str | None:
    """The one line an answer over several clusters ends with ("Clusters: a, b")."""
    names = clusters(spec)
    return f"Clusters: {', '.join(names)}" if names else None


def stat_paths(spec: str) -> list[str]:
    """The paths whose size and mtime change when the history's content does."""
    if not is_fleet(spec):
        return [spec, spec + ".wal"]
    try:
        sources = resolve(spec)
    except (HistorySourceError, OSError):
        return [spec]
    paths: list[str] = []
    for source in sources:
        if source.kind == "file":
            paths += [str(source.path), f"{source.path}.wal"]
        else:  # a re-export swaps a cluster's folder whole, which touches its table folder
            paths += [str(source.path / table) for table in TABLES]
    return paths


def _expand(entry: str) -> list[str]:
    if os.path.exists(entry) or not any(c in _GLOB_CHARS for c in entry):
        if not os.path.exists(entry):
            raise HistorySourceError(f"no history file at {entry}")
        return [entry]
    matches = sorted(m for m in glob.glob(entry, recursive=True) if not _is_sidecar_file(m))
    if not matches:
        raise HistorySourceError(f"no history file or Parquet dataset matches {entry}")
    return matches


def _is_sidecar_file(path: str) -> bool:
    """DuckDB's write-ahead log and the store's temporary files beside a history file."""
    name = os.path.basename(path)
    return name.endswith((".wal", ".tmp")) or name.startswith(".")


def _source(path: Path) -> Source:
    if path.is_dir():
        names = sorted(
            {
                child.name[len(PARTITION):]
                for table in TABLES
                if (path / table).is_dir()
                for child in (path / table).iterdir()
                if child.is_dir() and child.name.startswith(PARTITION)
            }
        )
        if not names:
            raise HistorySourceError(
                f"{path} is a folder but not a Parquet history dataset (no "
                f"failure_events/{PARTITION}NAME/ inside; `db export --parquet` writes one)"
            )
        return Source("parquet", path, tuple(names))
    return Source("file", path, (path.stem,))


def _refuse_repeated_clusters(sources: list[Source]) -> None:
    where: dict[str, Path] = {}
    for source in sources:
        for name in source.clusters:
            if name in where:
                raise HistorySourceError(
                    f"cluster {name} is given twice ({where[name]} and {source.path}); "
                    "give each cluster's history once"
                )
            where[name] = source.path
