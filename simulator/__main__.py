"""`python -m simulator`: serve a Run:ai API simulator over HTTP (see --help)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from datetime import UTC, datetime
from importlib import metadata

import uvicorn

from simulator.app import create_app
from simulator.clock import parse_iso
from simulator.config import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_K8S_TOKEN,
    FaultSettings,
    SimulatorConfig,
)
from simulator.faults import parse_latency
from simulator.kubeconfig import write_kubeconfig
from simulator.scenarios import SCENARIOS
from simulator.truth import truth
from simulator.versions import LATEST, VERSIONS, ApiVersion
from simulator.world import World


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simulator",
                                description="NVIDIA Run:ai control-plane API simulator")
    # The product's version (pyproject.toml, via the installed metadata); the simulator stands
    # in for an outside system and imports none of the product's packages.
    p.add_argument("--version", action="version", help="print the version and exit",
                   version=f"runai-simulator {metadata.version('runai-failure-analysis')}")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    p.add_argument("--scenario", default="demo", choices=sorted(SCENARIOS))
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--speed", type=float, default=1.0,
                   help="simulated seconds per real second; 0 freezes the clock")
    p.add_argument("--scale", type=int, help="override the scenario's workload count")
    p.add_argument("--api-version", default=LATEST, choices=VERSIONS,
                   help="control-plane version to serve, exactly as its published spec: "
                        "endpoints, token grants, query parameters, filterable fields and "
                        f"response fields (default {LATEST}; /api/v2/token only from 2.24, "
                        "v1 client_credentials from 2.20, app_token before)")
    p.add_argument("--clusters", type=int, default=1,
                   help="clusters in the tenant; projects and their workloads are spread over "
                        "them (clusterId), the Kubernetes subset plays the first")
    p.add_argument("--start", help="scenario start (ISO-8601 UTC); default: now")
    p.add_argument("--client-id", help="default: $RUNAI_CLIENT_ID, else a demo value")
    p.add_argument("--client-secret", help="default: $RUNAI_CLIENT_SECRET, else a demo value")
    p.add_argument("--token-ttl", type=int, default=3600, help="token lifetime in seconds")
    p.add_argument("--k8s-token", help="bearer token of the Kubernetes subset")
    p.add_argument("--write-kubeconfig", metavar="PATH",
                   help="write a kubeconfig for the Kubernetes subset to PATH")
    p.add_argument("--dump-truth", action="store_true",
                   help="print the scenario's truth at its start as JSON and exit")
    p.add_argument("--no-admin", action="store_true", help="disable the /admin endpoints")
    p.add_argument("--access-log", action="store_true", help="log every request")
    f = p.add_argument_group("faults (also settable with POST /admin/faults)")
    f.add_argument("--latency-ms", type=float, default=0.0,
                   help="fixed delay before every API answer")
    f.add_argument("--latency", metavar="MIN-MAXms",
                   help="realistic per-request latency, e.g. 50-300ms: a seeded draw in the "
                        "range, times (1 + items on the page / 200); off by default")
    f.add_argument("--error-rate", type=float, default=0.0, help="share of requests failing 5xx")
    f.add_argument("--error-status", type=int, default=503)
    f.add_argument("--fail-next", type=int, default=0, help="fail the next N API requests")
    f.add_argument("--rate-limit-next", type=int, default=0,
                   help="answer the next N API requests 429 with Retry-After")
    f.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds for 429")
    f.add_argument("--truncate-next", type=int, default=0)
    f.add_argument("--malformed-next", type=int, default=0)
    f.add_argument("--page-drift", action="store_true",
                   help="create a workload before every page after the first")
    f.add_argument("--v1-token-only", action="store_true",
                   help="/api/v2/token answers 404 (older control planes)")
    return p


def _credentials(args: argparse.Namespace) -> tuple[str, str, str]:
    """(client id, secret, where they came from): env first, then flags, then demo values."""
    env_id, env_secret = os.environ.get("RUNAI_CLIENT_ID"), os.environ.get("RUNAI_CLIENT_SECRET")
    if env_id and env_secret:
        return env_id, env_secret, "environment (RUNAI_CLIENT_ID / RUNAI_CLIENT_SECRET)"
    if args.client_id and args.client_secret:
        return args.client_id, args.client_secret, "command-line flags"
    if args.client_id or args.client_secret or env_id or env_secret:
        raise SystemExit("error: give both a client id and a client secret (env or flags)")
    return DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, "demo defaults"


def build_config(args: argparse.Namespace) -> tuple[SimulatorConfig, str]:
    client_id, secret, source = _credentials(args)
    start: datetime | None = None
    if args.start:
        try:
            start = datetime.fromtimestamp(parse_iso(args.start), UTC)
        except ValueError as exc:
            raise SystemExit(f"error: --start {args.start!r} is not an ISO-8601 time") from exc
    if args.speed < 0:
        raise SystemExit("error: --speed must be >= 0")
    if args.scale is not None and args.scale < 0:
        raise SystemExit("error: --scale must be >= 0")
    if not 0 <= args.error_rate <= 1:
        raise SystemExit("error: --error-rate must be between 0 and 1")
    if args.clusters < 1:
        raise SystemExit("error: --clusters must be >= 1")
    try:
        low, high = parse_latency(args.latency) if args.latency else (0.0, 0.0)
    except ValueError as exc:
        raise SystemExit(f"error: --latency: {exc}") from exc
    faults = FaultSettings(
        latency_ms=args.latency_ms, latency_min_ms=low, latency_max_ms=high,
        error_rate=args.error_rate, error_status=args.error_status,
        fail_next=args.fail_next, rate_limit_next=args.rate_limit_next,
        retry_after_s=args.retry_after, truncate_next=args.truncate_next,
        malformed_next=args.malformed_next, page_drift=args.page_drift,
        v1_token_only=args.v1_token_only)
    config = SimulatorConfig(
        scenario=args.scenario, seed=args.seed, speed=args.speed, scale=args.scale,
        api_version=args.api_version, clusters=args.clusters,
        client_id=client_id, client_secret=secret, k8s_token=args.k8s_token or DEMO_K8S_TOKEN,
        token_ttl_s=args.token_ttl, start=start, admin_enabled=not args.no_admin,
        faults=faults)
    return config, source


def token_route(version: ApiVersion) -> str:
    """How a client gets a token from this version, for the banner."""
    if version.has("POST", "/api/v2/token"):
        return "POST /api/v2/token (form, client_credentials) or /api/v1/token"
    if "client_credentials" in version.token_grants:
        return "POST /api/v1/token (JSON, grantType client_credentials or app_token)"
    return "POST /api/v1/token (JSON, grantType app_token with appID/appSecret)"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config, source = build_config(args)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.dump_truth:
        json.dump(truth(World(config)), sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    app = create_app(config)
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
    # and without it every small response waits ~40 ms for a delayed ACK.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    url = f"http://{args.host}:{port}"
    if args.write_kubeconfig:
        write_kubeconfig(args.write_kubeconfig, url, config.k8s_token)
    world = app.state.sim.world
    print(f"Run:ai simulator listening on {url}", flush=True)
    print(f"  scenario {config.scenario} (seed {config.seed}, speed {config.speed:g}): "
          f"{len(world.order)} workloads at start", flush=True)
    print(f"  control plane {config.api_version}: token via "
          f"{token_route(app.state.sim.version)}; {config.clusters} cluster(s)", flush=True)
    if config.faults.latency_max_ms > 0:
        print(f"  latency {config.faults.latency_min_ms:g}-{config.faults.latency_max_ms:g} ms "
              "per request, heavier for big pages", flush=True)
    print(f"  credentials from {source}", flush=True)
    if source == "demo defaults":
        print(f"  demo client id {config.client_id}, demo client secret {config.client_secret}",
              flush=True)
    if config.k8s_token == DEMO_K8S_TOKEN:
        print(f"  Kubernetes subset bearer token (demo) {config.k8s_token}", flush=True)
    if args.write_kubeconfig:
        print(f"  kubeconfig written to {args.write_kubeconfig}", flush=True)
    server = uvicorn.Server(uvicorn.Config(
        app, log_level="info" if args.access_log else "warning", access_log=args.access_log,
        lifespan="off", ws="none"))
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
