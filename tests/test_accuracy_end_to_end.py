"""The recorded root causes against what really happened: the real sidecar (`python -m exporter
--once`, a process per cycle) against the simulator, whose clock advances between cycles.

Two kinds of episode are judged apart:
- live: the workload was still in the episode's phase when the sidecar recorded it (checked
  here from the listing at that cycle, not taken from the sidecar). Its pods, logs and events
  are all there: every one must be right.
- backfilled: found in the workload's timeline after it moved on (the scenario's week of
  history, read at the first cycle). Its pods now show a later attempt or are gone, and with
  them its logs (unless a crash loop it recovered from left a restarted container), so some
  causes cannot be told any more: those must read `unknown`, never a wrong cause,
  and at least BACKFILLED_BAR of them must be right.
Every recorded episode's bundle must hold only events dated within its own attempt.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.detect.episodes import EPISODE_KINDS, parse_time
from exporter.detect.identity import nearest_pairs
from history.connection import connect
from tests.fixtures_processes import Processes
from tests.truth_matching import EPISODE_STAMPS, pair, recorded_triple

SCALE = 1500  # workloads created over the scenario's week: ~9 an hour keep arriving
CYCLES = 40
STEP_S = (60, 540)  # every failed/degraded phase lasts >= 10 min: a step never skips one
# Measured 2026-11-26 (seed 7, scale 1500, these steps): live 18/18; backfilled 548/617 right
# (89%), the other 69 `unknown` and none wrong. Before episodes were judged by their own
# attempt: live 15/18, backfilled 460/617 (75%), 65 of them given a wrong cause. What stays
# unknown was only ever in the lost logs: a CUDA OOM or a full disk behind "exited with code
# 1", which crash loop's traceback it was. Measured 2026-12-04 against the version-true
# simulator (branch sim-version-true: stamps ms to seconds apart, KAI texts, deleted
# workloads): 635 episodes and 970 runs recorded once each (the exact-stamp identity wrote
# 1007 and 1822: 372 and 852 doubled); live 18/18; backfilled 538/617, the 10 more `unknown`
# being deleted workloads whose pods and logs went with them.
# Measured 2026-12-04 (branch past-causes, same seed/scale/steps) at --api-version 2.24 and
# 2.18 alike: live 18/18; backfilled 543/617 (88.0%) right, 74 `unknown`, none wrong (before:
# 538, 79 unknown). The 5 more are segfaults told by the history's phase message ("exited
# with code 139"). The 74 left are what no control plane keeps once the attempt's pods are
# gone: 57 failed attempts that exited 1 with the cause only in their log (CUDA or GPU OOM,
# device assert, a traceback, a full disk, a driver too old) and 17 crash loops stopped before
# the first cycle (kubelet's BackOff event names no cause). Run:ai's pod list has no container
# statuses in any version 2.18-2.24, Kubernetes events carry no exit code or log text, and a
# termination message (FallbackToLogsOnError's log tail) goes with its pod: 88% is this
# scenario's ceiling, not 95%. The bar leaves 6 episodes of slack for a loaded machine's
# evidence budget.
BACKFILLED_BAR = 0.87
# Run:ai phases after which the next phase update is a new attempt (resubmission, resume).
ENDED = ("Failed", "Completed", "Stopped")

Key = tuple[str, str]  # (workload_id, episode timestamp ISO UTC)


def _iso(value: Any) -> str:
    parsed = value if isinstance(value, datetime) else parse_time(value)
    assert parsed is not None, value
    return parsed.isoformat()


class Api:
    """The simulator's Run:ai API as a test reads it: listing and timelines."""

    def __init__(self, sim: Any) -> None:
        self.url = sim.url
        # One client for the ~700 reads: a new one per read builds a TLS context each time,
        # which on a busy machine alone outlasted the test's time limit.
        self.http = httpx.Client(headers=sim.auth_headers(), timeout=30)

    def _get(self, path: str, **params: str | int) -> dict[str, Any]:
        r = self.http.get(f"{self.url}{path}", params=params)
        r.raise_for_status()
        return dict(r.json())

    def current(self) -> dict[str, tuple[str, datetime]]:
        """workload id -> (episode kind, phaseUpdatedAt) of every workload now in such a
        phase."""
        found: dict[str, tuple[str, datetime]] = {}
        offset = 0
        while True:
            page = self._get("/api/v1/workloads", offset=offset, limit=500)
            for w in page["workloads"]:
                kind = EPISODE_KINDS.get(w.get("phase"))
                since = parse_time(w.get("phaseUpdatedAt"))
                if kind is not None and since is not None:
                    found[w["id"]] = (kind, since)
            if len(page["workloads"]) < 500:
                return found
            offset += 500

    def attempt_of(self, workload_id: str, at: datetime) -> tuple[datetime, datetime | None]:
        """[first phase update of the attempt holding `at`, first of the next attempt)."""
        records = self._get(f"/api/v1/workloads/{workload_id}/history", limit=500)["records"]
        updates = sorted(
            (parse_time(r["meta"]["creationTimestamp"]), r["spec"]["phaseUpdate"]["phase"])
            for r in records if r["meta"]["type"] == "PhaseUpdate"
        )
        starts = [updates[0][0]] + [
            updates[i + 1][0] for i in range(len(updates) - 1) if updates[i][1] in ENDED
        ]
        assert all(s is not None for s in starts)
        begun = [s for s in starts if s is not None and s <= at]
        later = [s for s in starts if s is not None and s > at]
        return begun[-1], (later[0] if later else None)


def _is_current(key: Key, kind: str, current: dict[str, tuple[str, datetime]]) -> bool:
    now = current.get(key[0])
    at = parse_time(key[1])
    return now is not None and at is not None and now[0] == kind and bool(
        nearest_pairs([at], [now[1]]))


def _match_truth(
    rows: dict[Key, dict[str, Any]], episodes: list[dict[str, Any]]
) -> tuple[dict[Key, dict[str, Any]], set[Key]]:
    """recorded key -> its true episode (tests/truth_matching.py); and the rows matching
    none (never happened, or recorded twice)."""
    keys = list(rows)
    stamped = [recorded_triple(f"{k[0]}@{k[1]}", rows[k]["kind"]) for k in keys]
    matched = {keys[r]: episodes[t] for r, t in pair(stamped, episodes, "kind",
                                                      EPISODE_STAMPS).items()}
    return matched, set(rows) - set(matched)


def _recorded(db: Path) -> dict[Key, dict[str, Any]]:
    conn = connect(db, read_only=True, timeout_s=30)
    try:
        rows = conn.execute(
            'SELECT workload_id, "timestamp", kind, category, evidence, bundle '
            "FROM failure_events"
        ).fetchall()
    finally:
        conn.close()
    return {(str(w), _iso(t)): {"kind": k, "category": c, "evidence": e,
                                "bundle": json.loads(b) if isinstance(b, str) else b}
            for w, t, k, c, e, b in rows}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_recorded_causes_match_the_truth(
    processes: Processes, make_simulator: Any, tmp_path: Path
) -> None:
    started = time.monotonic()
    sim = make_simulator(scale=SCALE)
    api = Api(sim)
    db = tmp_path / "history.db"
    rng = random.Random(11)
    live: set[Key] = set()
    seen: set[Key] = set()
    for cycle in range(CYCLES):
        if cycle:
            sim.advance(rng.randint(*STEP_S))
        done = processes.sidecar_once(sim, db, args=("--pending-threshold", "1800"))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        now_current = api.current()
        rows = _recorded(db)
        new = set(rows) - seen
        seen |= new
        if cycle:  # cycle 0 reads the scenario's history: its current episodes are old news
            live |= {k for k in new if _is_current(k, rows[k]["kind"], now_current)}

    episodes = sim.truth()["episodes"]
    rows = _recorded(db)
    truth, invented = _match_truth(rows, episodes)
    assert not invented, f"recorded but never happened (or twice): {sorted(invented)[:5]}"
    found = {id(e) for e in truth.values()}
    missed = [(e["workload_id"], e["timestamp"]) for e in episodes
              if id(e) not in found and e["kind"] != "pending"]
    assert not missed, f"failed/degraded episodes not recorded: {missed[:5]}"

    wrong_live = sorted(
        (truth[k]["variant"], truth[k]["category"], rows[k]["category"], rows[k]["evidence"])
        for k in live if rows[k]["category"] != truth[k]["category"]
    )
    backfilled = [k for k in rows if k not in live]
    right = sum(rows[k]["category"] == truth[k]["category"] for k in backfilled)
    misses = Counter(
        (truth[k]["category"], rows[k]["category"]) for k in backfilled
        if rows[k]["category"] != truth[k]["category"]
    )
    wrong = sorted(
        (truth[k]["variant"], truth[k]["category"], rows[k]["category"], rows[k]["evidence"])
        for k in backfilled if rows[k]["category"] not in (truth[k]["category"], "unknown")
    )
    share = right / len(backfilled)
    print(f"\nlive {len(live) - len(wrong_live)}/{len(live)} right; backfilled {right}/"
          f"{len(backfilled)} right ({share:.1%}); misses (truth, recorded): "
          f"{dict(misses.most_common())}; {time.monotonic() - started:.0f} s")
    assert len(live) >= 15, f"too few live episodes to judge: {len(live)}"
    assert not wrong_live, f"live episodes recorded wrong: {wrong_live}"
    assert share >= BACKFILLED_BAR, f"backfilled right {share:.1%} < {BACKFILLED_BAR:.0%}"
    assert not wrong, f"backfilled episodes given another cause, not unknown: {wrong[:5]}"

    outside = []
    for key, row in rows.items():
        at = parse_time(key[1])
        assert at is not None
        start, next_start = api.attempt_of(key[0], at)
        for event in row["bundle"].get("events") or []:
            when = parse_time(event.get("createdAt"))
            if when is None or when < start or (next_start is not None and when >= next_start):
                outside.append((key, event.get("reason"), event.get("createdAt")))
    api.http.close()
    assert not outside, f"{len(outside)} events outside their attempt, e.g. {outside[:3]}"
