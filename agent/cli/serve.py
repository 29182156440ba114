"""`python -m agent serve`: the HTTP API (:8000) and the chat UI (:3000) in one process.

Two uvicorn servers share one asyncio loop; one SIGINT/SIGTERM handler stops both, so the
container exits cleanly on `kubectl delete`. The banner says where to look and which mode
answers, never the key.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace

import uvicorn
from starlette.types import ASGIApp

from agent.api.app import create_api_app
from agent.api.edges import ApiSettings, history_clock, quiet_lost_connection_writes
from agent.api.guards import HostAllowList, HostPolicy
from agent.web import create_ui_app
from common.errors import ConfigError
from common.redaction import MIN_SECRET_CHARS
from common.version import add_version_flag
from history import sources

log = logging.getLogger("agent.serve")


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to serve_both()."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent serve",
        description="Serve the failure-analysis agent: HTTP API and web chat UI.",
    )
    add_version_flag(parser, "runai-failure-agent")
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--api-port", type=_port, default=8000, help="HTTP API port (8000)")
    parser.add_argument("--ui-port", type=_port, default=3000, help="web UI port (3000)")
    parser.add_argument("--db", action="append", metavar="PATH", help=sources.DB_FLAG_HELP)
    parser.add_argument("--prometheus-url", help="Prometheus base URL (env PROMETHEUS_URL)")
    parser.add_argument(
        "--clock", choices=["wall", "history"], default="wall",
        help="answer as of the wall clock (default), or of the history when its newest record "
        "is later (a simulated cluster whose clock runs ahead, as in the demo)",
    )  # fmt: skip
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve a non-loopback address without AGENT_API_TOKEN: anyone who reaches the "
        "port reads evidence quoted from the cluster's pod logs",
    )
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])  # fmt: skip
    return parser


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 1 and 65535, got {port}")
    return port


def banner(settings: ApiSettings, host: str, api_port: int, ui_port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    auth = "bearer token required" if settings.api_token else "off (set AGENT_API_TOKEN)"
    clusters = sources.clusters_line(settings.db_path)  # several histories: which clusters
    history = f"{settings.db_path} ({clusters})" if clusters else settings.db_path
    return "\n".join(
        [
            "runai-failure-analysis agent",
            f"  Web UI   http://{shown}:{ui_port}",
            f"  API      http://{shown}:{api_port}/api/chat  (OpenAI-compatible: /v1)",
            f"  History  {history}",
            f"  PromQL   {settings.prometheus_url or 'off (set PROMETHEUS_URL)'}",
            f"  {settings.llm.describe()}",
            f"  Auth     {auth}",
        ]
    )


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_exposure(settings: ApiSettings, host: str, insecure_no_auth: bool) -> None:
    """Safe by default: no token, no listening beyond this machine unless asked for loudly."""
    if settings.api_token or is_loopback(host):
        return
    if not insecure_no_auth:
        raise ConfigError(
            f"refusing to listen on {host} without AGENT_API_TOKEN: set AGENT_API_TOKEN, "
            "bind --host 127.0.0.1, or pass --insecure-no-auth"
        )
    log.warning(
        "INSECURE: --insecure-no-auth: listening on %s with NO authentication; anyone who "
        "reaches this port can read failure evidence quoted from pod logs. Set "
        "AGENT_API_TOKEN.",
        host,
    )


def bind(host: str, port: int) -> socket.socket:
    """Listen before the servers start, so a taken port is one clear error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


async def serve_both(servers: Sequence[tuple[uvicorn.Server, socket.socket]]) -> None:
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server, _ in servers:
            server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    tasks = [asyncio.ensure_future(server.serve(sockets=[sock])) for server, sock in servers]
    try:
        # One server stopping (or failing) stops the other: no half-running agent.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    quiet_lost_connection_writes()
    try:
        settings = ApiSettings.from_env(
            db_path=sources.join(args.db or ()),
            prometheus_url=args.prometheus_url,
            bind_host=args.host,
        )
        if args.clock == "history":
            settings = replace(settings, clock=history_clock(settings.db_path))
        check_exposure(settings, args.host, args.insecure_no_auth)
    except ConfigError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    if settings.llm.placeholder_key:
        log.warning(
            "the LLM API key has fewer than %d characters: taken for a placeholder of a local "
            "model server and not redacted from answers",
            MIN_SECRET_CHARS,
        )
    sockets: list[socket.socket] = []
    try:
        for port in (args.api_port, args.ui_port):
            sockets.append(bind(args.host, port))
    except ConfigError as exc:
        for sock in sockets:
            sock.close()
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    api_app = create_api_app(settings)
    # The UI's own page gets the Host check too; its API paths have it from the API app.
    policy = HostPolicy.build(settings.allowed_hosts, settings.bind_host)
    apps: tuple[ASGIApp, ASGIApp] = (api_app, HostAllowList(create_ui_app(api_app), policy))
    servers = [
        (
            _Server(
                uvicorn.Config(app, log_level=args.log_level, lifespan="off", server_header=False)
            ),
            sock,
        )
        for app, sock in zip(apps, sockets, strict=True)
    ]
    print(banner(settings, args.host, args.api_port, args.ui_port), flush=True)
    try:
        asyncio.run(serve_both(servers))
    finally:
        for sock in sockets:
            sock.close()
    return 0
