"""`make demo`: the whole product on this machine, against the embedded Run:ai simulator.

Starts the simulator (a lively cluster where a simulated minute passes every second), the
monitoring sidecar, Prometheus with the product's rules when the binary is installed, and the
agent; prints where to look; stops everything on Ctrl-C. State lives in .demo/ (removed with
`make clean`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from simulator.config import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable



@dataclass
class Service:
    name: str
    argv: list[str]
    ready_url: str
    port: int
    log: Path
    show: list[str] = field(default_factory=list)  # lines printed once everything is up
    process: subprocess.Popen[bytes] | None = None


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_ready(service: Service, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert service.process is not None
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited with code {service.process.returncode}")
        try:
            if httpx.get(service.ready_url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{service.name} was not ready after {timeout_s:.0f}s")


def prometheus_config(args: argparse.Namespace) -> Path:
    """The product's demo Prometheus configuration, pointed at this demo's ports."""
    source = ROOT / "deploy" / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(source.read_text())
    config["rule_files"] = [str(source.parent / name) for name in config["rule_files"]]
    targets = {
        "runai-failure-exporter": f"127.0.0.1:{args.exporter_port}",
        "prometheus": f"127.0.0.1:{args.prometheus_port}",
    }
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    out = args.state_dir / "prometheus.yml"
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def plan(args: argparse.Namespace) -> list[Service]:
    sim_url = f"http://127.0.0.1:{args.simulator_port}"
    prom_url = f"http://127.0.0.1:{args.prometheus_port}"
    state = args.state_dir
    db = state / "runai_failure_history.db"
    services = [
        Service(
            "simulator",
            [PY, "-m", "simulator", "--host", "127.0.0.1", "--port", str(args.simulator_port),
             "--scenario", "demo", "--seed", str(args.seed), "--speed", str(args.speed),
             "--write-kubeconfig", str(state / "kubeconfig")],
            f"{sim_url}/api/v1/workloads",
            args.simulator_port,
            state / "simulator.log",
            [f"Run:ai API simulator   {sim_url}   (try: the README's curl example)"],
        ),
        Service(
            "exporter",
            [PY, "-m", "exporter", "--listen", f"127.0.0.1:{args.exporter_port}",
             "--poll-interval", str(args.poll_interval), "--db", str(db)],
            f"http://127.0.0.1:{args.exporter_port}/healthz",
            args.exporter_port,
            state / "exporter.log",
            [f"Exporter metrics       http://127.0.0.1:{args.exporter_port}/metrics",
             f"Failure history        {db}   (duckdb -readonly {db})"],
        ),
    ]
    prometheus = shutil.which("prometheus")
    if prometheus:
        services.append(
            Service(
                "prometheus",
                [prometheus, f"--config.file={prometheus_config(args)}",
                 f"--storage.tsdb.path={state / 'prometheus'}",
                 f"--web.listen-address=127.0.0.1:{args.prometheus_port}"],
                f"{prom_url}/-/ready",
                args.prometheus_port,
                state / "prometheus.log",
                [f"Prometheus             {prom_url}   (alerts: {prom_url}/alerts)"],
            )
        )
    # The simulator runs at --speed x the wall clock, so its newest failures lie ahead of the
    # wall clock: the agent answers as of the history (--clock history) to include them.
    agent = [PY, "-m", "agent", "serve", "--host", "127.0.0.1", "--clock", "history",
             "--api-port", str(args.api_port), "--ui-port", str(args.ui_port), "--db", str(db)]
    if prometheus:
        agent += ["--prometheus-url", prom_url]
    services.append(
        Service(
            "agent",
            agent,
            f"http://127.0.0.1:{args.api_port}/healthz",
            args.api_port,
            state / "agent.log",
            [f"Chat UI                http://127.0.0.1:{args.ui_port}",
             f"Agent API              http://127.0.0.1:{args.api_port}/api/chat",
             f'Terminal               .venv/bin/python -m agent ask "Show me failure statistics"'
             f" --db {db}"],
        )
    )
    return services


def stop(services: list[Service]) -> None:
    for service in reversed(services):
        if service.process and service.process.poll() is None:
            service.process.terminate()
    for service in services:
        if service.process:
            try:
                service.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                service.process.kill()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator-port", type=int, default=8090)
    parser.add_argument("--exporter-port", type=int, default=10108)
    parser.add_argument("--prometheus-port", type=int, default=9090)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--ui-port", type=int, default=3000)
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--poll-interval", type=int, default=10)
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".demo",
                        help="where the history file, logs and Prometheus data go")
    parser.add_argument("--exit-after", type=float, default=0,
                        help="stop after this many seconds once ready (0: run until Ctrl-C)")
    args = parser.parse_args(argv)

    args.state_dir = args.state_dir.resolve()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    services = plan(args)
    ports = [s.port for s in services] + [args.ui_port]
    busy = [p for p in ports if not port_free(p)]
    if busy:
        print(f"ERROR: port(s) already in use: {', '.join(map(str, busy))}; stop what uses them "
              "or pass other ports (see --help)", file=sys.stderr)
        return 1

    # The simulator's demo credentials, unless the user's own RUNAI_CLIENT_ID/SECRET are set:
    # the simulator and the sidecar read the same variables, so one environment drives both.
    env = dict(os.environ)
    env.setdefault("RUNAI_CLIENT_ID", DEMO_CLIENT_ID)
    env.setdefault("RUNAI_CLIENT_SECRET", DEMO_CLIENT_SECRET)
    env["RUNAI_BASE_URL"] = f"http://127.0.0.1:{args.simulator_port}"
    env["KUBECONFIG"] = str(args.state_dir / "kubeconfig")
    env["PYTHONUNBUFFERED"] = "1"

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for service in services:
            print(f"starting {service.name} ...", flush=True)
            with service.log.open("wb") as log:
                service.process = subprocess.Popen(
                    service.argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            wait_ready(service, timeout_s=60)
        print(f"\nThe demo is up (logs in {args.state_dir}/*.log). Open:")
        for service in services:
            for line in service.show:
                print(f"  {line}")
        print("\nPress Ctrl-C to stop.", flush=True)
        started = time.monotonic()
        while True:
            for service in services:
                assert service.process is not None
                if service.process.poll() is not None:
                    raise RuntimeError(
                        f"{service.name} exited with code {service.process.returncode}"
                    )
            if args.exit_after and time.monotonic() - started > args.exit_after:
                return 0
            time.sleep(0.5)
    except RuntimeError as exc:
        failed = next((s for s in services if s.name in str(exc)), None)
        print(f"ERROR: {exc}", file=sys.stderr)
        if failed is not None and failed.log.exists():
            tail = failed.log.read_text(errors="replace").splitlines()[-15:]
            print("\n".join(f"  | {line}" for line in tail), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...")
        return 0
    finally:
        stop(services)


if __name__ == "__main__":
    sys.exit(main())
