"""`db import-sqlite FILE`: the earlier Run:ai failure agent's SQLite history, brought along.

That agent kept one row per failure in `failure_events` (../shared/reference/seed-era-history.md):
job, project, a *phase* string where a root cause would be (`failure_type`), a timestamp in
SQLite text (UTC), the workload's message, and snippets that are usually empty. Each row
becomes one failure episode of ours:

- identity: the row has no workload id, so (project, job, timestamp) names it; re-running the
  import finds the same ids and writes nothing twice;
- the original strings (failure_type, phase, message, the row's id and flags) are kept in the
  record's details;
- the root cause is the product's classifier's verdict on what the row says (its message and
  snippets), never the phase string alone: a row that says nothing more is `unknown`.

The classifier lives in the exporter; it is handed in (history imports nothing of the exporter).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from common.errors import StoreError
from history.categories import label_workload_type
from history.records import FailureRecord
from history.store import HistoryStore

SQLITE_MAGIC = b"SQLite format 3\x00"
REQUIRED_COLUMNS = ("job_name", "project", "failure_type", "timestamp")
OPTIONAL_COLUMNS = ("id", "phase", "pod_name", "node_name", "container_image", "error_message",
                    "logs_snippet", "events_snippet", "gpu_count", "resolved",
                    "auto_remediated", "resolution_type", "resolution_timestamp")
# What that agent wrote when it did not know: not facts to carry over.
PLACEHOLDERS = frozenset({"", "unknown", "none", "null", "n/a", "unknown failure"})
ID_PREFIX = "sqlite-import:"
CHUNK = 2000  # rows per write: a large file is imported in several short transactions


class Verdict(Protocol):
    """What the classifier answers (exporter.model.Classification)."""

    @property
    def category(self) -> str: ...
    @property
    def confidence(self) -> float: ...
    @property
    def evidence(self) -> str: ...
    @property
    def evidence_source(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def recommendation(self) -> str: ...
    @property
    def details(self) -> Mapping[str, Any]: ...


Classify = Callable[[dict[str, Any]], Verdict]


@dataclass
class ImportReport:
    source: Path
    target: Path
    read: int = 0
    imported: int = 0
    already_there: int = 0
    duplicates_in_file: int = 0
    classified: int = 0  # of the rows imported now: a root cause named
    unknown: int = 0  # of the rows imported now: recorded as unknown, phase kept
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> rows
    categories: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    def lines(self) -> list[str]:
        verb = "would import" if self.dry_run else "imported"
        out = [
            f"{self.source} -> {self.target}",
            f"rows read            {self.read}",
            f"{verb:<20} {self.imported}",
            f"already there        {self.already_there}",
            f"doubles in the file  {self.duplicates_in_file}",
            f"classified           {self.classified}",
            f"unknown (phase kept) {self.unknown}",
            f"skipped              {sum(self.skipped.values())}",
        ]
        out += [f"  {reason}: {count}" for reason, count in sorted(self.skipped.items())]
        if self.categories:
            out.append("root causes:")
            out += [f"  {name:<20} {count}" for name, count in self.categories.most_common()]
        return out


def import_sqlite(
    source: Path, target: Path, classify: Classify, *, dry_run: bool = False,
    lock_timeout_s: float = 10.0,
) -> ImportReport:
    """Import every row of the SQLite file's failure_events into the history file at target."""
    report = ImportReport(source, target, dry_run=dry_run)
    columns = _check_source(source)
    if target.exists() and source.resolve() == target.resolve():
        raise StoreError(
            f"{source} is where the new history goes: move it aside first (e.g. "
            f"mv {source} {source.with_name('seed-history.sqlite')}) and import it from there"
        )
    store = HistoryStore(target, lock_timeout_s=lock_timeout_s)
    if dry_run and not target.exists():
        known: set[str] = set()  # a dry run creates nothing
    else:
        store.open()  # creates the history if there is none yet; refuses a file not ours
        known = store.known_episode_ids()
    seen: set[str] = set()
    batch: list[FailureRecord] = []
    for row in _rows(source, columns):
        report.read += 1
        problem = _unusable(row)
        if problem:
            report.skipped[problem] += 1
            continue
        episode_id = identity(row)
        if episode_id in seen:
            report.duplicates_in_file += 1
            continue
        seen.add(episode_id)
        if episode_id in known:  # a re-run: not classified again, not written again
            report.already_there += 1
            continue
        record = to_record(row, classify)
        if record.category == "unknown":
            report.unknown += 1
        else:
            report.classified += 1
        report.categories[record.category] += 1
        report.imported += 1
        batch.append(record)
        if len(batch) >= CHUNK and not dry_run:
            _write(store, batch)
    if batch and not dry_run:
        _write(store, batch)
    return report


def _write(store: HistoryStore, batch: list[FailureRecord]) -> None:
    store.enqueue(batch)
    outcome = store.flush()
    if outcome.error:
        raise StoreError(f"{outcome.error} (nothing of this batch was written; run it again)")
    batch.clear()


def _check_source(source: Path) -> list[str]:
    """The failure_events columns of a readable SQLite file of the earlier agent."""
    try:
        with open(source, "rb") as handle:
            header = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise StoreError(f"No such file: {source}") from None
    except OSError as exc:
        raise StoreError(f"{exc.strerror or exc}: {source}") from None
    if header != SQLITE_MAGIC:
        raise StoreError(f"Not a SQLite file (nothing imported): {source}")
    with _connect(source) as conn:
        found = [r[1] for r in conn.execute("PRAGMA table_info(failure_events)")]
    if not found:
        raise StoreError(f"No failure_events table: not the earlier agent's history: {source}")
    missing = [c for c in REQUIRED_COLUMNS if c not in found]
    if missing:
        raise StoreError(
            f"failure_events has no {', '.join(missing)} column: not the earlier agent's "
            f"history: {source}"
        )
    return [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in found]


class _connect:
    """A read-only SQLite connection (the source is never written), closed on exit."""

    def __init__(self, source: Path) -> None:
        try:
            self.conn = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise StoreError(f"{exc}: {source}") from None

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def _rows(source: Path, columns: list[str]) -> Iterator[dict[str, Any]]:
    order = "id" if "id" in columns else "rowid"
    sql = f"SELECT {', '.join(columns)} FROM failure_events ORDER BY {order}"
    with _connect(source) as conn:
        try:
            cursor = conn.execute(sql)
            while chunk := cursor.fetchmany(CHUNK):
                for values in chunk:
                    yield dict(zip(columns, values, strict=True))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"reading failure_events failed: {exc}: {source}") from None


def _unusable(row: Mapping[str, Any]) -> str | None:
    if not _text(row.get("job_name")):
        return "no job name"
    if parse_timestamp(row.get("timestamp")) is None:
        return "no readable timestamp"
    return None


def parse_timestamp(value: Any) -> datetime | None:
    """SQLite's CURRENT_TIMESTAMP text (`YYYY-MM-DD HH:MM:SS`, UTC) or ISO-8601; as UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(value: Any) -> str | None:
    """A value the earlier agent actually knew; its placeholders read as nothing."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in PLACEHOLDERS else text


def bundle_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence bundle (failure-signals.md) of what the row says: its message, snippets,
    pod and node. The phase string is not evidence of a cause, so it is left out."""
    workload: dict[str, Any] = {"name": _text(row.get("job_name")),
                                "projectName": _text(row.get("project")), "phase": "Failed"}
    message = _text(row.get("error_message"))
    if message:
        workload["phaseMessage"] = message
    bundle: dict[str, Any] = {"workload": workload}
    events = _text(row.get("events_snippet"))
    if events:
        bundle["events"] = [{"type": "Warning", "message": line.strip()}
                            for line in events.splitlines() if line.strip()]
    logs = _text(row.get("logs_snippet"))
    if logs:
        bundle["logs"] = logs
    pod, node = _text(row.get("pod_name")), _text(row.get("node_name"))
    if pod or node:
        bundle["pods"] = [{"name": pod, "nodeName": node}]
    return bundle


def identity(row: Mapping[str, Any]) -> str:
    """The episode id of a usable row: the row has no workload id, so project, job and time."""
    timestamp = parse_timestamp(row.get("timestamp"))
    assert timestamp is not None  # _unusable() filtered those
    return f"{_workload_id(row)}@{timestamp.isoformat()}"


def _workload_id(row: Mapping[str, Any]) -> str:
    return f"{ID_PREFIX}{_text(row.get('project')) or ''}/{_text(row.get('job_name'))}"


def to_record(row: Mapping[str, Any], classify: Classify) -> FailureRecord:
    timestamp = parse_timestamp(row.get("timestamp"))
    assert timestamp is not None  # _unusable() filtered those
    job, project = str(_text(row.get("job_name"))), _text(row.get("project")) or ""
    workload_id = _workload_id(row)
    bundle = bundle_of(row)
    verdict = classify(bundle)
    failure_type = row.get("failure_type")
    details: dict[str, Any] = dict(verdict.details)
    details["imported"] = {
        "from": "sqlite",
        **{key: row[key] for key in ("id", "failure_type", "phase", "error_message",
                                     "resolved", "auto_remediated", "resolution_type",
                                     "resolution_timestamp") if row.get(key) is not None},
    }
    summary = verdict.summary
    if verdict.category == "unknown":
        summary = (f"Imported from the earlier agent's history as {failure_type!s}; its message "
                   "does not name a root cause.")
    gpus = row.get("gpu_count")
    exit_code = details.get("exit_code")
    return FailureRecord(
        episode_id=identity(row),
        timestamp=timestamp,
        workload_id=workload_id,
        workload_name=job,
        project=project,
        department=None,
        workload_type=label_workload_type(None),
        kind="failed",
        category=verdict.category,
        confidence=verdict.confidence,
        summary=summary,
        evidence=verdict.evidence,
        evidence_source=verdict.evidence_source,
        recommendation=verdict.recommendation,
        node=_text(row.get("node_name")),
        pod=_text(row.get("pod_name")),
        image=_text(row.get("container_image")),
        # The earlier agent wrote 0 when it did not know; a stored 0 would read as "no GPU".
        gpus_requested=float(gpus) if isinstance(gpus, int | float) and gpus > 0 else None,
        exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool)
        else None,
        details=details,
        logs_available=bool(_text(row.get("logs_snippet"))),
        bundle=bundle,
    )
