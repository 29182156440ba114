"""`python -m exporter` as a real process: start-up errors, banner, --once, signals, secrets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures_exporter import Answer, ScriptedServer

REPO = Path(__file__).resolve().parent.parent
SECRET = "sEcReT-4f9a1c-never-print-me"


def base_env(url: str = "http://127.0.0.1:9", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RUNAI_", "KUBE")) and k != "KUBECONFIG"}
    env.update({"RUNAI_BASE_URL": url, "RUNAI_CLIENT_ID": "monitor",
                "RUNAI_CLIENT_SECRET": SECRET, "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 60,
        prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "exporter", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_help_documents_the_default_listen_address() -> None:
    done = run(["--help"], base_env())
    assert done.returncode == 0
    assert "0.0.0.0:9108" in done.stdout and "RUNAI_FAILURE_DB_PATH" in done.stdout


def test_missing_secret(tmp_path: Path) -> None:
    env = base_env()
    del env["RUNAI_CLIENT_SECRET"]
    done = run(["--db", str(tmp_path / "h.db")], env)
    assert done.returncode != 0
    assert done.stderr.strip() == "ERROR: Missing required environment variables: " \
        "RUNAI_CLIENT_SECRET"


def test_unparsable_base_url(tmp_path: Path) -> None:
    done = run(["--db", str(tmp_path / "h.db")], base_env("not a url"))
    assert done.returncode != 0
    assert done.stderr.startswith("ERROR: Invalid RUNAI_BASE_URL 'not a url'")
    assert len(done.stderr.strip().splitlines()) == 1


def test_permission_denied_on_the_database(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o555)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root ignores file modes: drop the capabilities that allow it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv")
        caps = "-dac_override,-dac_read_search,-fowner"
        prefix = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"]
    try:
        db = folder / "runai_failure_history.db"
        done = run([], base_env(RUNAI_FAILURE_DB_PATH=str(db)), prefix=prefix)
    finally:
        folder.chmod(0o755)
    assert done.returncode != 0
    assert done.stderr.strip() == f"ERROR: Permission denied: {db}"


def test_bad_credentials(scripted: ScriptedServer, tmp_path: Path) -> None:
    scripted.script("/api/v2/token", Answer(401, json.dumps(
        {"error": "invalid_client", "error_description": "Client authentication failed"})))
    done = run(["--db", str(tmp_path / "h.db"), "--once"], base_env(scripted.url))
    assert done.returncode != 0
    assert done.stderr.strip() == ("ERROR: Run:ai rejected the credentials: invalid_client: "
                                   "Client authentication failed")
    assert SECRET not in done.stdout + done.stderr


def test_broken_kubeconfig(scripted: ScriptedServer, tmp_path: Path) -> None:
    done = run(["--db", str(tmp_path / "h.db"), "--once"],
               base_env(scripted.url, KUBECONFIG=str(tmp_path / "missing")))
    assert done.returncode != 0
    assert done.stderr.startswith("ERROR: Cannot read KUBECONFIG")
