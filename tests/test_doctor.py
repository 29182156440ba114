"""`python -m exporter doctor` against the strict server of several versions and broken setups.

The bar: exit 0 only when the sidecar will work; a wrong secret or a missing permission is a
FAIL naming what is wrong; the report holds no secret, no token, no log text and, with
--hash-names, none of the workload's names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.config import Config, TlsSettings
from exporter.doctor.checks import FAIL, OK, Check, Names
from exporter.doctor.cli import finish, run
from exporter.kube.client import KubeAccess
from tests.strict_runai import StrictRunai
from tests.test_runai_versions import cluster

ROOT = Path(__file__).resolve().parent.parent


def doctor(make_simulator: Callable[..., Any], version: str, *, secret: str | None = None,
           kube_token: str | None = None, forbidden: tuple[str, ...] = (),
           hash_names: bool = True) -> tuple[list[Check], StrictRunai, Any]:
    sim = make_simulator(scale=40)
    server = StrictRunai(version, sim.url, sim.token(), sim.client_id, sim.client_secret,
                         clusters=[cluster(version)], forbidden=forbidden)
    config = Config(base_url="https://runai.example", client_id=sim.client_id,
                    client_secret=secret or sim.client_secret, runai_tls=TlsSettings())
    access = KubeAccess(server=sim.url, token=kube_token or sim.k8s_token)
    with httpx.Client(transport=server) as runai_http, httpx.Client() as kube_http:
        checks = run(config, runai_http, access, kube_http, Names(hash_names))
    server.close()
    return checks, server, sim


def outcome(checks: list[Check], tmp_path: Path, hash_names: bool = True) -> tuple[int, str]:
    config = Config(base_url="https://runai.example", client_id="cid", client_secret="s")
    code = finish(checks, config, tmp_path / "report.json", Names(hash_names))
    return code, (tmp_path / "report.json").read_text()


@pytest.mark.parametrize("version", ["2.18", "2.21", "2.24"])
def test_a_working_setup_passes_at_each_version(make_simulator, tmp_path: Path,
                                                version: str, capsys) -> None:
    checks, server, sim = doctor(make_simulator, version)
    assert [c for c in checks if c.status == FAIL] == []
    names = [c.name for c in checks]
    for endpoint in ("/api/v1/workloads", "/api/v1/workloads/{workloadId}",
                     "/api/v1/workloads/{workloadId}/events",
                     "/api/v1/workloads/{workloadId}/history",
                     "/api/v1/workloads/{workloadId}/pods", "/api/v1/workloads/pods",
                     "/api/v1/clusters"):
        assert f"GET {endpoint}" in names
    assert {"Kubernetes pods", "Kubernetes events", "Kubernetes logs"} <= set(names)
    scope = next(c for c in checks if c.name == "cluster scope")
    assert scope.status == OK and scope.facts["control_plane"].startswith(version)
    assert server.answered(400, tokens=False) == []
    code, text = outcome(checks, tmp_path)
    assert code == 0 and "the sidecar will work" in text
    # Nothing secret or named: not the secret, no workload or project name, no log text.
    listing = httpx.get(f"{sim.url}/api/v1/workloads", headers=sim.auth_headers()).json()
    assert sim.client_secret not in text and sim.k8s_token not in text
    for w in listing["workloads"]:
        assert w["name"] not in text and f'"{w["projectName"]}"' not in text
    assert "runai.example" not in text
    assert "OK    Run:ai token" in capsys.readouterr().out


def test_a_wrong_secret_fails_in_one_line(make_simulator, tmp_path: Path) -> None:
    checks, _, _ = doctor(make_simulator, "2.20", secret="not-the-secret")
    assert [(c.name, c.status) for c in checks] == [("Run:ai token", FAIL)]
    assert checks[0].detail.startswith("Run:ai rejected the credentials (v1 client_credentials")
    code, text = outcome(checks, tmp_path)
    assert code == 1 and "not-the-secret" not in text


def test_a_missing_permission_fails_naming_the_endpoint(make_simulator, tmp_path) -> None:
    checks, _, _ = doctor(make_simulator, "2.22",
                          forbidden=("/api/v1/workloads/{workloadId}/events",))
    failed = [c for c in checks if c.status == FAIL]
    assert [c.name for c in failed] == ["GET /api/v1/workloads/{workloadId}/events"]
    assert "HTTP 403" in failed[0].detail
    assert outcome(checks, tmp_path)[0] == 1


def test_kubernetes_without_access_fails(make_simulator, tmp_path: Path) -> None:
    checks, _, _ = doctor(make_simulator, "2.24", kube_token="wrong-token")
    failed = [c.name for c in checks if c.status == FAIL]
    assert failed == ["Kubernetes pods"]
    assert outcome(checks, tmp_path)[0] == 1


def test_the_command_runs_end_to_end(make_simulator, tmp_path: Path) -> None:
    sim = make_simulator(scale=40)
    env = {**os.environ, "RUNAI_BASE_URL": sim.url, "RUNAI_CLIENT_ID": sim.client_id,
           "RUNAI_CLIENT_SECRET": sim.client_secret, "KUBECONFIG": ""}
    env.pop("KUBECONFIG")
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "doctor", "--report", str(tmp_path / "r.json")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    body = json.loads((tmp_path / "r.json").read_text())
    assert body["verdict"] == "the sidecar will work"
    assert any(c["name"] == "Kubernetes access" and c["status"] == "warn"
               for c in body["checks"])
    bad = subprocess.run(
        [sys.executable, "-m", "exporter", "doctor", "--report", str(tmp_path / "r2.json")],
        cwd=tmp_path, env={**env, "RUNAI_CLIENT_SECRET": "wrong"}, capture_output=True,
        text=True, timeout=60)
    assert bad.returncode == 1
    assert "FAIL  Run:ai token: Run:ai rejected the credentials" in bad.stdout


def test_several_clusters_fail_the_scope_and_stay_hashed(make_simulator, tmp_path) -> None:
    sim = make_simulator(scale=10)
    server = StrictRunai("2.22", sim.url, sim.token(), sim.client_id, sim.client_secret,
                         clusters=[cluster("2.22", name="prod-east"),
                                   cluster("2.22", "11111111-2222-3333-4444-555555555555",
                                           "research")])
    config = Config(base_url="https://runai.example", client_id=sim.client_id,
                    client_secret=sim.client_secret)
    with httpx.Client(transport=server) as runai_http:
        checks = run(config, runai_http, None, None, Names(True))
    server.close()
    assert [(c.name, c.status) for c in checks][-1] == ("cluster scope", FAIL)
    code, text = outcome(checks, tmp_path)
    assert code == 1 and "set RUNAI_CLUSTER_ID" in text
    assert "prod-east" not in text and "research" not in text and "11111111" not in text
