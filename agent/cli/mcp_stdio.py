"""`python -m agent mcp [--db PATH ...]`: the agent's tools over MCP on stdin/stdout.

For a desktop assistant or HolmesGPT started next to the history file (a `kubectl port-forward`
or a copied file). stdout carries the protocol only, so every log line goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

import anyio

from agent.api.edges import ApiSettings
from agent.mcp.tools import build_server
from common.errors import ConfigError
from history import sources

log = logging.getLogger("agent.mcp")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent mcp",
        description="Serve the agent's tools over MCP (stdio) for an MCP client.",
    )
    parser.add_argument("--db", action="append", metavar="PATH", help=sources.DB_FLAG_HELP)
    parser.add_argument("--prometheus-url", help="Prometheus base URL (env PROMETHEUS_URL)")
    parser.add_argument("--log-level", default="warning",
                        choices=["critical", "error", "warning", "info", "debug"])  # fmt: skip
    return parser


async def serve_stdio(settings: ApiSettings) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(settings.context, settings.secrets)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")  # fmt: skip
    try:
        settings = ApiSettings.from_env(
            db_path=sources.join(args.db or ()), prometheus_url=args.prometheus_url
        )
    except ConfigError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(serve_stdio, settings)
    return 0
