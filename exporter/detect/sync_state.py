"""Which workloads' timelines are already recorded, kept beside the history file.

Without it a restarted sidecar would read the timeline of every workload again (10,000
requests on a large cluster) to learn nothing new. The file is written only after a write
left nothing queued, so what it calls synced is always in the history file; it is a cache:
missing, unreadable or belonging to another history file, it is ignored and rebuilt.

It also keeps the census that lets a steady cycle list only what changed (exporter.listing):
every current workload's project and phase and the watermark to list changes from. Saved in
the same file as the markers, so the two always describe the same moment.

During a first start it is also the progress: saved after each chunk whose records were
written, with `caught_up` false until every listed workload's timeline was read, so a sidecar
killed mid-way resumes streaming where it stopped (exporter.monitor).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("exporter.detect.sync_state")
VERSION = 1


@dataclass(frozen=True)
class Census:
    """Every current workload as of `watermark`, after a cycle that left none unread."""

    watermark: str  # control-plane instant (RFC 3339): the next cycle lists changes since it
    taken_at: str  # when the last full listing ran (RFC 3339): the next one is due from it
    workloads: dict[str, tuple[str, str]]  # workload id -> (project, phase)


@dataclass
class SyncState:
    markers: dict[str, str] = field(default_factory=dict)  # workload id -> "phase@phaseUpdatedAt"
    deleted_mark: str | None = None  # newest deletedAt seen
    census: Census | None = None
    # Every listed workload's timeline was read once: the first start is over. A file saved
    # before this field existed had markers only once its sidecar was past its first cycle.
    caught_up: bool = False


def path_for(db_path: str | os.PathLike[str]) -> Path:
    db = Path(db_path)
    return db.with_name(f"{db.name}.sync.json")


def load(db_path: str | os.PathLike[str], history_rows: int) -> SyncState:
    """The saved state, or an empty one. A state saved while the history file held rows is
    ignored when that file is now empty (replaced or wiped): everything is read afresh."""
    path = path_for(db_path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return SyncState()
    except (OSError, ValueError) as exc:
        log.warning("Ignoring the sync state %s (%s); workload timelines are read afresh",
                    path, exc)
        return SyncState()
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return SyncState()
    markers = data.get("markers")
    if not isinstance(markers, dict) or (markers and history_rows == 0):
        return SyncState()
    mark = data.get("deleted_mark")
    caught_up = data.get("caught_up", bool(markers))
    return SyncState(
        {str(k): str(v) for k, v in markers.items()},
        mark if isinstance(mark, str) else None,
        census=_census(data.get("census")),
        caught_up=caught_up is True,
    )


def _census(data: object) -> Census | None:
    """The saved census, or None when absent or not whole (then a full listing rebuilds it)."""
    if not isinstance(data, dict):
        return None
    watermark, taken_at, workloads = (data.get(k) for k in ("watermark", "taken_at", "workloads"))
    if not (isinstance(watermark, str) and isinstance(taken_at, str)
            and isinstance(workloads, dict)):
        return None
    if not all(isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)
               for v in workloads.values()):
        return None
    return Census(watermark, taken_at, {str(k): (v[0], v[1]) for k, v in workloads.items()})


def save(db_path: str | os.PathLike[str], state: SyncState) -> None:
    """Atomically replace the saved state; a failure is logged and costs only re-reading."""
    path = path_for(db_path)
    payload: dict[str, object] = {
        "version": VERSION, "deleted_mark": state.deleted_mark, "caught_up": state.caught_up,
        "markers": state.markers,
    }
    if state.census is not None:
        payload["census"] = {
            "watermark": state.census.watermark, "taken_at": state.census.taken_at,
            "workloads": state.census.workloads,
        }
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as out:
            json.dump(payload, out, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("Could not save the sync state %s: %s", path, exc)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
