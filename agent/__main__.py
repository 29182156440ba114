"""`python -m agent`: serve (HTTP API :8000 and web UI :3000, the default), ask, eval, mcp."""

from __future__ import annotations

import sys

from common.entry import run_quietly_on_closed_pipe


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args and not args[0].startswith("-") else "serve"
    rest = args[1:] if args and args[0] == command else args
    if command == "ask":
        from agent.cli.ask import main as ask_main

        return ask_main(rest)
    if command == "eval":
        from agent.cli.run_evals import main as eval_main

        return eval_main(rest)
    if command == "mcp":
        from agent.cli.mcp_stdio import main as mcp_main

        return mcp_main(rest)
    if command == "serve":
        from agent.cli.serve import main as serve_main

        return serve_main(rest)
    print(f"ERROR: unknown command {command!r}; use serve, ask, eval or mcp", file=sys.stderr)
    return 2


def run() -> int:
    return run_quietly_on_closed_pipe(main)


if __name__ == "__main__":
    sys.exit(run())
