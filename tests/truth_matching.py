"""Matching what the sidecar recorded to the simulator's truth by identity, not exact stamps.

A version-true control plane shows one phase change under several stamps (phaseUpdatedAt,
completedAt, the history record's time) milliseconds to seconds apart; the sidecar names an
episode or run by the first it saw. A recorded entry is a true one when it has the same
workload and kind (phase, for runs) and one of the true entry's stamps lies within the
identity tolerance: paired one-to-one, nearest first, so a doubled record stays unmatched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from exporter.detect.identity import nearest_pairs, split_id
from exporter.detect.stamps import parse_time

EPISODE_STAMPS = ("timestamp", "phase_updated_at", "history_at", "completed_at")
RUN_STAMPS = ("finished_at", "completed_at", "phase_updated_at", "history_at")


def pair(
    recorded: list[tuple[str, str, datetime]], truth: list[dict[str, Any]], kind_field: str,
    stamp_fields: tuple[str, ...],
) -> dict[int, int]:
    """recorded index -> truth index. `recorded`: (workload id, kind, stamp) triples."""
    truth_by: dict[tuple[str, str], list[int]] = {}
    for t, entry in enumerate(truth):
        truth_by.setdefault((entry["workload_id"], entry[kind_field]), []).append(t)
    rows_by: dict[tuple[str, str], list[int]] = {}
    for r, (wid, kind, _) in enumerate(recorded):
        rows_by.setdefault((wid, kind), []).append(r)
    matched: dict[int, int] = {}
    for group, rows in rows_by.items():
        stamps = [(t, at) for t in truth_by.get(group, []) for name in stamp_fields
                  if (at := parse_time(truth[t].get(name))) is not None]
        taken: set[int] = set()
        for a, b in nearest_pairs([recorded[r][2] for r in rows], [at for _, at in stamps]):
            t = stamps[b][0]
            if t not in taken:
                taken.add(t)
                matched[rows[a]] = t
    return matched


def recorded_triple(ident: str, kind: str) -> tuple[str, str, datetime]:
    parts = split_id(ident)
    assert parts is not None, ident
    return parts[0], kind, parts[1]
