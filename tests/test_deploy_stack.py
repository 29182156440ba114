"""The compose stack's own commands, run for real here (no Docker engine: as local processes).

Simulator, exporter and agent start with exactly the command, flags and environment of
deploy/compose/compose.yaml; only what Docker would provide is translated: service host names
and container ports become loopback free ports, /data a temporary folder, console scripts
`python -m`. Prometheus runs with the compose stack's prometheus.yml and rules. Then every
health check of the compose file must pass, Prometheus must scrape the exporter under the job
the rules select, the agent must answer from the history the sidecar wrote, and the peak memory
of each process must sit well inside the limits of the Kubernetes manifests.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_DIR = ROOT / "deploy" / "compose"
READY_TIMEOUT_S = 120.0  # the first poll of the demo scenario takes ~10 s on a quiet machine
PEAK_SHARE_OF_LIMIT = 0.6  # what a pod may use of its memory limit on the demo scenario
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default}, with the defaults: the test must not see a user's secrets."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


class Translation:
    """Docker's view of the stack (service names, container ports) mapped onto loopback."""

    def __init__(self, compose: dict[str, Any]) -> None:
        self.ports: dict[str, dict[int, int]] = {}  # service -> container port -> local port
        self.hosts: dict[str, str] = {}  # "service:port" -> "127.0.0.1:local"
        for name, service in compose["services"].items():
            self.ports[name] = {}
            for mapping in service.get("ports", []):
                container = int(mapping.split(":")[1])
                self.ports[name][container] = free_port()
                self.hosts[f"{name}:{container}"] = f"127.0.0.1:{self.ports[name][container]}"

    def text(self, value: str, service: str = "") -> str:
        """A service's own 127.0.0.1/0.0.0.0 ports first, then other services' host names."""
        own = self.ports.get(service, {})

        def local(match: re.Match[str]) -> str:
            return f"127.0.0.1:{own.get(int(match.group(2)), int(match.group(2)))}"

        value = re.sub(r"\b(127\.0\.0\.1|0\.0\.0\.0):(\d+)", local, value)
        for service_host, address in self.hosts.items():
            value = value.replace(f"//{service_host}", f"//{address}")
        return value

    def argv(self, service: str, command: list[str]) -> list[str]:
        module = SCRIPTS[command[0]].split(":")[0].removesuffix(".__main__")
        own = self.ports[service]
        out = [sys.executable, "-m", module]
        for arg in command[1:]:
            if arg.isdigit() and int(arg) in own:
                arg = str(own[int(arg)])
            elif arg == "0.0.0.0":
                arg = "127.0.0.1"
            out.append(self.text(arg, service))
        return out


@pytest.fixture
def stack(
    tmp_path: Path, make_prometheus: Callable[[dict[str, Any]], Any]
) -> Iterator[dict[str, Any]]:
    compose = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
    services = compose["services"]
    tr = Translation(compose)
    data = tmp_path / "data"
    data.mkdir()

    prom_config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    prom_config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    prom_config["rule_files"] = [str(ROOT / "deploy/prometheus" / Path(p).name)
                                 for p in prom_config["rule_files"]]
    for job in prom_config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [tr.text(f"//{t}", "prometheus")[2:]
                                 for t in static["targets"]]
    prometheus = make_prometheus(prom_config)
    tr.hosts["prometheus:9090"] = prometheus.url.removeprefix("http://")

    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    info: dict[str, Any] = {"tr": tr, "prometheus": prometheus, "processes": processes,
                            "logs": logs, "services": services, "data": data}
    try:
        for name in ("simulator", "exporter", "agent"):  # compose's depends_on order
            service = services[name]
            env = {"PATH": os.environ["PATH"], "PYTHONUNBUFFERED": "1", "HOME": str(tmp_path)}
            for key, value in service.get("environment", {}).items():
                env[key] = tr.text(interpolate(str(value)), name)
            env["RUNAI_FAILURE_DB_PATH"] = env.get(
                "RUNAI_FAILURE_DB_PATH", "/data/x").replace("/data", str(data))
            for volume in service.get("volumes", []):
                source, _, target = volume.partition(":")
                target = target.split(":")[0]
                if source.startswith(".") and env.get("KUBECONFIG") == target:
                    local = tmp_path / "kubeconfig.yaml"
                    local.write_text(tr.text((COMPOSE_DIR / source).read_text(), name))
                    env["KUBECONFIG"] = str(local)
            logs[name] = tmp_path / f"{name}.log"
            with logs[name].open("wb") as log:
                processes[name] = subprocess.Popen(
                    tr.argv(name, service["command"]), cwd=ROOT, env=env,
                    stdout=log, stderr=subprocess.STDOUT,
                )
            wait_healthy(name, env["HEALTHCHECK_URL"], processes[name], logs[name])
        yield info
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(name: str, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{name} not healthy at {url} after {READY_TIMEOUT_S:g}s")


def wait_until(probe: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def memory_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def limit_mib(container: str) -> float:
    deployment = yaml.safe_load((ROOT / "deploy/k8s/resources/deployment.yaml").read_text())
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        if c["name"] == container:
            value = c["resources"]["limits"]["memory"]
            number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", value).groups()  # type: ignore[union-attr]
            return int(number) * (1024 if unit == "Gi" else 1)
    raise AssertionError(container)


@pytest.mark.slow
@pytest.mark.prometheus
def test_the_compose_stack_runs_and_fits_the_manifest_limits(stack: dict[str, Any]) -> None:
    tr, services, processes = stack["tr"], stack["services"], stack["processes"]
    exporter = f"http://127.0.0.1:{tr.ports['exporter'][10108]}"
    agent = f"http://127.0.0.1:{tr.ports['agent'][8000]}"

    # The sidecar finishes its first poll (readiness), and the alert rules' job is scraped.
    wait_until(lambda: httpx.get(f"{exporter}/readyz", timeout=5).status_code == 200,
               "the exporter's first poll")
    up = stack["prometheus"].wait_for(
        'runai_failure_exporter_up{job="runai-failure-exporter"} == 1', timeout_s=READY_TIMEOUT_S)
    assert up[0]["metric"]["job"] == "runai-failure-exporter"

    # The agent answers from the history the sidecar wrote on the shared /data.
    history = stack["data"] / "runai_failure_history.db"
    assert history.is_file()
    token = interpolate(services["agent"]["environment"]["AGENT_API_TOKEN"])
    reply = httpx.post(f"{agent}/api/chat", json={"question": "Show me failure statistics"},
                       headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert reply.status_code == 200, reply.text
    match = re.search(r"\*\*(\d+) failures\*\*", reply.json()["markdown"])
    assert match and int(match.group(1)) > 0, reply.json()["markdown"][:300]
    assert httpx.get(f"http://127.0.0.1:{tr.ports['agent'][3000]}/", timeout=5).status_code == 200

    # Every process of the stack is healthy by the compose file's own checks.
    for name in ("simulator", "exporter", "agent"):
        url = services[name]["environment"]["HEALTHCHECK_URL"]
        assert httpx.get(tr.text(url, name), timeout=5).status_code == 200, name
        assert processes[name].poll() is None, f"{name} exited"

    # Sized from measured memory: the peak stays well inside each container's limit.
    for name, container in (("exporter", "monitor-sidecar"), ("agent", "agent")):
        peak = memory_mib(processes[name].pid, "VmHWM")
        limit = limit_mib(container)
        print(f"{container}: peak {peak:.0f} MiB, limit {limit:.0f} MiB")
        assert peak < PEAK_SHARE_OF_LIMIT * limit, f"{container} peaked at {peak:.0f} MiB"
