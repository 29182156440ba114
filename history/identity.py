"""When two records are one: the same workload entering the same phase at "the same" instant.

Run:ai stamps one phase change in three fields, written by different components: the
workload's `phaseUpdatedAt` (the workload controller), a terminal run's `completedAt` (the
pod's end) and the history record's `meta.creationTimestamp` (the history service). The
published specs (2.18-2.24) never say they agree, and they do not: they differ by
milliseconds to seconds. An episode or run is therefore one (workload, kind or phase, phase
entry) within SAME_ENTRY_TOLERANCE, never one exact timestamp.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Wider than the skew between the three stamps of one phase change (seconds: they are
# written within one sync of the cluster's state; the version-true simulator draws up to
# 4 s), narrower than any real re-entry of a phase: leaving a phase and re-entering it takes
# a new pod start (image pull, container start, a crash, the job controller's backoff of
# 10 s and more), or a scheduler pass for Pending. Pairing is also one-to-one and nearest
# first, so two real entries seen together are never folded into one even when closer.
SAME_ENTRY_TOLERANCE = timedelta(seconds=30)


def same_entry(a: datetime, b: datetime) -> bool:
    """Whether two stamps can be one phase change."""
    return abs(a - b) <= SAME_ENTRY_TOLERANCE
