"""The shipped Alertmanager example routes every alert of our rules and inhibits the symptoms
of an outage: checked by amtool and by a real Alertmanager (Debian prometheus-alertmanager)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from tests.fixtures_prometheus import free_port

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RULES = ROOT / "deploy" / "prometheus" / "runai-failure-analysis.rules.yml"

pytestmark = pytest.mark.prometheus


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: run `make system-deps` (Debian prometheus-alertmanager)")
    return found


def alert_names() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return sorted(r["alert"] for g in groups for r in g["rules"] if "alert" in r)


def test_amtool_accepts_the_config() -> None:
    result = subprocess.run([_binary("amtool"), "check-config", str(CONFIG)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("alert", alert_names())
def test_every_alert_reaches_a_receiver_of_ours(alert: str) -> None:
    result = subprocess.run(
        [_binary("amtool"), "config", "routes", "test", f"--config.file={CONFIG}",
         f"alertname={alert}", "cluster=c1", "node=n1", "project=p"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() in {"runai-critical", "runai-teams"}, result.stdout


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [_binary("prometheus-alertmanager"), f"--config.file={CONFIG}",
         f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
         "--cluster.listen-address=", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (tmp_path / "alertmanager.log").read_text()
            assert time.monotonic() < deadline, "alertmanager did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _alert(name: str, **labels: str) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": name},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }


def test_an_exporter_outage_inhibits_its_clusters_symptoms_only(alertmanager: str) -> None:
    alerts = [
        _alert("RunaiFailureExporterDown", cluster="east", severity="critical"),
        _alert("RunaiGPUHardwareFailures", cluster="east", node="n1", severity="critical"),
        _alert("RunaiGPUHardwareFailures", cluster="west", node="n9", severity="critical"),
        _alert("RunaiNodeFailuresRecurring", cluster="west", node="n9", category="nccl",
               severity="warning"),
    ]
    assert httpx.post(f"{alertmanager}/api/v2/alerts", json=alerts, timeout=10).status_code == 200
    deadline = time.monotonic() + 20
    while True:
        listed = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=10).json()
        state = {
            (a["labels"]["alertname"], a["labels"]["cluster"]): a["status"]["state"]
            for a in listed
        }
        if len(state) == 4 and "unprocessed" not in state.values():
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert state[("RunaiFailureExporterDown", "east")] == "active"
    assert state[("RunaiGPUHardwareFailures", "east")] == "suppressed"  # a symptom of the outage
    assert state[("RunaiGPUHardwareFailures", "west")] == "active"  # another cluster: pages
    # the node already pages for hardware: its warning is held back
    assert state[("RunaiNodeFailuresRecurring", "west")] == "suppressed"
