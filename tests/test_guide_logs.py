"""The sidecar's text log as the earlier agent's guide shows it, and its debug lines.

Against the Run:ai API simulator: the banner's facts, `Monitoring check #N at HH:MM:SS`,
`Found N workload(s)`, and with --log-level=debug one `Checking: <job> (project=..., phase=...)`
line per listed workload, none without it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.version import product_version
from tests.test_cli import SECRET, run, sim_env

CHECKING = re.compile(r"^Checking: (\S+) \(project=(\S+), phase=(\S+)\)$")


def test_debug_adds_one_checking_line_per_workload(
    make_simulator: Callable[..., Any], tmp_path: Path
) -> None:
    sim = make_simulator(scale=40, client_secret=SECRET)
    env = sim_env(sim, tmp_path)
    done = run(["--once", "--log-level", "debug", "--db", str(tmp_path / "h.db"),
                "--project", "recsys"], env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "Run:AI Failure Monitor starting"
    assert f"Version: {product_version()}" in lines
    assert any(re.fullmatch(r"Monitoring check #1 at \d\d:\d\d:\d\d", line) for line in lines)
    found = next(int(m.group(1)) for line in lines
                 if (m := re.fullmatch(r"Found (\d+) workload\(s\)", line)))
    checking = [m.groups() for line in lines if (m := CHECKING.match(line))]
    assert found > 0 and len(checking) == found
    assert {project for _, project, _ in checking} == {"recsys"}
    assert all(phase and phase != "None" for _, _, phase in checking)

    quiet = run(["--once", "--db", str(tmp_path / "h2.db"), "--project", "recsys"], env)
    assert quiet.returncode == 0
    assert not [line for line in quiet.stdout.splitlines() if line.startswith("Checking:")]
    assert any(line.startswith("Found ") for line in quiet.stdout.splitlines())
