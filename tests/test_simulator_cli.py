"""`python -m simulator` as a real process: banner, credentials, kubeconfig, truth dump."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from simulator.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RUNAI_CLIENT_ID", "RUNAI_CLIENT_SECRET")}
    return {**env, **extra}


class Running:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--port", "0", "--speed", "0", *args],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.banner: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.banner.append(line.rstrip("\n"))
            if line.startswith("  credentials from"):
                # The rest of the banner follows immediately; read until the last known line.
                break
        first = self.banner[0] if self.banner else ""
        assert "listening on" in first, "\n".join(self.banner)
        self.url = first.rsplit(" ", 1)[1]

    def rest_of_banner(self, lines: int) -> list[str]:
        assert self.proc.stdout is not None
        return [self.proc.stdout.readline().rstrip("\n") for _ in range(lines)]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.communicate(timeout=10)  # drains and closes the pipe


@pytest.fixture
def run() -> Iterator[object]:
    started: list[Running] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Running:
        proc = Running(list(args), env or _env())
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def _token(url: str, client_id: str, secret: str) -> int:
    return httpx.post(f"{url}/api/v2/token", data={
        "grant_type": "client_credentials", "client_id": client_id,
        "client_secret": secret}).status_code


def test_demo_defaults_are_printed_and_work(run):
    sim = run("--scenario", "demo", "--seed", "7")
    banner = "\n".join(sim.banner + sim.rest_of_banner(1))
    assert "scenario demo (seed 7" in banner
    assert "demo defaults" in banner and DEMO_CLIENT_SECRET in banner
    assert _token(sim.url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) == 200


def test_env_credentials_win_and_are_never_printed(run, tmp_path):
    secret = "s3cr3t-from-env-9f2c"
    kubeconfig = tmp_path / "kubeconfig"
    sim = run("--client-id", "flag-id", "--client-secret", "flag-secret",
              "--write-kubeconfig", str(kubeconfig), "--k8s-token", "k8s-from-flag",
              env=_env(RUNAI_CLIENT_ID="env-id", RUNAI_CLIENT_SECRET=secret))
    banner = "\n".join(sim.banner + sim.rest_of_banner(1))
    assert "environment" in banner
    assert secret not in banner and "flag-secret" not in banner and "k8s-from-flag" not in banner
    assert _token(sim.url, "env-id", secret) == 200
    assert _token(sim.url, "flag-id", "flag-secret") == 401
    config = yaml.safe_load(kubeconfig.read_text())
    assert config["clusters"][0]["cluster"]["server"] == sim.url
    r = httpx.get(f"{sim.url}/api/v1/namespaces/runai-team-nlp/pods",
                  headers={"Authorization": "Bearer k8s-from-flag"})
    assert r.status_code == 200


def test_flag_credentials_and_v1_only(run):
    sim = run("--client-id", "id-1", "--client-secret", "pw-1", "--v1-token-only",
              "--scenario", "empty")
    assert "command-line flags" in "\n".join(sim.banner)
    assert _token(sim.url, "id-1", "pw-1") == 404
    r = httpx.post(f"{sim.url}/api/v1/token", json={
        "grantType": "client_credentials", "clientID": "id-1", "clientSecret": "pw-1"})
    assert r.status_code == 200


def test_dump_truth_prints_json_and_exits():
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "--scenario", "demo", "--seed", "3", "--dump-truth",
         "--start", "2026-11-20T12:00:00Z"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60, check=True)
    truth = json.loads(out.stdout)
    assert truth["now"] == "2026-11-20T12:00:00Z"
    assert truth["episodes"] and truth["runs"]


def test_api_version_clusters_and_latency_flags(run):
    sim = run("--api-version", "2.19", "--clusters", "2", "--latency", "5-10ms",
              "--scenario", "demo", "--scale", "40")
    banner = "\n".join(sim.banner)
    assert "control plane 2.19: token via POST /api/v1/token (JSON, grantType app_token" in banner
    assert "2 cluster(s)" in banner and "latency 5-10 ms per request" in banner
    assert _token(sim.url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) == 404  # no v2 before 2.24
    r = httpx.post(f"{sim.url}/api/v1/token", json={
        "grantType": "app_token", "appID": DEMO_CLIENT_ID, "appSecret": DEMO_CLIENT_SECRET})
    headers = {"Authorization": f"Bearer {r.json()['accessToken']}"}
    clusters = httpx.get(f"{sim.url}/api/v1/clusters", headers=headers).json()
    assert len(clusters) == 2


def test_dump_truth_names_clusters():
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "--scale", "60", "--clusters", "3", "--dump-truth",
         "--start", "2026-11-20T12:00:00Z"],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60, check=True)
    episodes = json.loads(out.stdout)["episodes"]
    assert len({e["cluster_id"] for e in episodes}) == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--api-version", "2.17"], "invalid choice"),
    (["--clusters", "0"], "--clusters must be >= 1"),
    (["--latency", "slow"], "--latency: 'slow' is not a latency range like 50-300ms"),
    (["--speed", "-1"], "--speed must be >= 0"),
    (["--scale", "-5"], "--scale must be >= 0"),
    (["--start", "yesterday"], "is not an ISO-8601 time"),
    (["--client-id", "only-id"], "give both a client id and a client secret"),
    (["--scenario", "nope"], "invalid choice"),
])
def test_bad_arguments_fail_with_one_clear_line(args, message):
    out = subprocess.run([sys.executable, "-m", "simulator", "--port", "0", *args], cwd=ROOT,
                         env=_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
