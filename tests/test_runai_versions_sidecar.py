"""The real sidecar (`python -m exporter --once`, a process per cycle) against the simulator at
every control-plane version, 2.18 to 2.24, with and without `--project` (issue 12, "Done
when"): after two cycles every true Failed (and Degraded) episode is recorded exactly once,
no row matches no true episode, and the simulator answered no request with 400 — counted by
the simulator itself, whoever sent it.

Credentials as a user of that version has them: before 2.20 the only machine credential is an
application's (RUNAI_APP_ID/RUNAI_APP_SECRET, sent as app_token), from 2.20 a service
account's (RUNAI_CLIENT_ID/RUNAI_CLIENT_SECRET, sent as client_credentials).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from history.connection import connect
from tests.fixtures_processes import Processes, sidecar_env
from tests.strict_runai import VERSIONS
from tests.truth_matching import EPISODE_STAMPS, pair, recorded_triple

BANNER_FORM = {
    "2.18": "v1 app_token (JSON)", "2.19": "v1 app_token (JSON)",
    **dict.fromkeys(("2.20", "2.21", "2.22", "2.23"), "v1 client_credentials (JSON)"),
    "2.24": "v2 client_credentials (OAuth2 form)",
}


def _env(sim: Any, folder: Path, version: str) -> dict[str, str]:
    env = sidecar_env(sim, folder)
    if version in ("2.18", "2.19"):
        env["RUNAI_APP_ID"] = env.pop("RUNAI_CLIENT_ID")
        env["RUNAI_APP_SECRET"] = env.pop("RUNAI_CLIENT_SECRET")
    return env


def _rows(db: Path) -> list[tuple[str, str, str]]:
    conn = connect(db, read_only=True, timeout_s=30)
    try:
        found = conn.execute("SELECT episode_id, kind, project FROM failure_events").fetchall()
    finally:
        conn.close()
    return [(str(e), str(k), str(p)) for e, k, p in found]


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("by_project", [False, True], ids=["all", "project"])
@pytest.mark.parametrize("version", VERSIONS)
def test_two_sidecar_cycles_record_each_failure_once_and_nothing_is_refused(
    processes: Processes, make_simulator: Any, tmp_path: Path, version: str, by_project: bool
) -> None:
    sim = make_simulator(scale=60, api_version=version)
    env = _env(sim, tmp_path, version)
    projects = sorted({e["project"] for e in sim.truth()["episodes"]})
    args: tuple[str, ...] = ("--project", projects[0]) if by_project else ()
    db = tmp_path / "history.db"
    for cycle in range(2):
        if cycle:
            sim.advance(6 * 3600)
        done = processes.sidecar_once(sim, db, args=args, env=env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert f"Run:AI token: {BANNER_FORM[version]}" in done.stdout + done.stderr

    answered = sim.admin("GET", "/admin/requests")
    assert answered["refused"] == [], answered
    truth = [e for e in sim.truth()["episodes"] if e["kind"] in ("failed", "degraded")
             and (not by_project or e["project"] == projects[0])]
    rows = _rows(db)
    if by_project:
        assert {p for _, _, p in rows} <= {projects[0]}
    matched = pair([recorded_triple(ident, kind) for ident, kind, _ in rows], truth, "kind",
                   EPISODE_STAMPS)
    extra = [rows[r] for r in range(len(rows)) if r not in matched]
    assert not extra, f"rows matching no true episode (or doubled): {extra[:5]}"
    missed = [(truth[t]["workload_name"], truth[t]["timestamp"])
              for t in set(range(len(truth))) - set(matched.values())]
    assert not missed, f"true episodes not recorded: {missed[:5]}"
    assert sum(e["kind"] == "failed" for e in truth) > 0
