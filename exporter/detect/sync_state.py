"""Which workloads' timelines are already recorded, kept beside the history file.

Without it a restarted sidecar would read the timeline of every workload again (10,000
requests on a large cluster) to learn nothing new. The file is written only after a write
left nothing queued, so what it calls synced is always in the history file; it is a cache:
missing, unreadable or belonging to another history file, it is ignored and rebuilt.
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


@dataclass
class SyncState:
    markers: dict[str, str] = field(default_factory=dict)  # workload id -> "phase@phaseUpdatedAt"
    deleted_mark: str | None = None  # newest deletedAt seen


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
    return SyncState(
        {str(k): str(v) for k, v in markers.items()},
        mark if isinstance(mark, str) else None,
    )


def save(db_path: str | os.PathLike[str], state: SyncState) -> None:
    """Atomically replace the saved state; a failure is logged and costs only re-reading."""
    path = path_for(db_path)
    payload = {"version": VERSION, "deleted_mark": state.deleted_mark, "markers": state.markers}
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
