"""`python -m agent ask "question" [--db PATH ...] [--prometheus-url URL] [--json] [--now ISO]`.

Answers with the LLM when one is configured (NVIDIA_API_KEY, or OPENAI_API_KEY with
LLM_BASE_URL / LLM_MODEL), else with the deterministic planner; --deterministic forces the latter.
Exits 0 when the question was answered, 1 for a missing history file, a tool that could not run
or a question that got no answer, 2 for bad flags (docs/configuration.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from agent.llm.settings import LLMSettings
from agent.respond import respond
from agent.types import Answer, ToolContext
from common.errors import ConfigError
from common.version import add_version_flag
from history import sources

DEFAULT_DB = "/data/runai_failure_history.db"


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent ask", description=__doc__)
    add_version_flag(parser, "runai-failure-agent ask")
    parser.add_argument("question", nargs="+", help="the question, in plain words")
    parser.add_argument("--db", action="append", metavar="PATH", help=sources.DB_FLAG_HELP)
    parser.add_argument(
        "--prometheus-url",
        default=os.environ.get("PROMETHEUS_URL") or None,
        help="Prometheus base URL (default: $PROMETHEUS_URL)",
    )
    parser.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    parser.add_argument("--now", help="answer as of this UTC time (ISO-8601), for replays")
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="answer with the built-in planner even when an LLM is configured",
    )
    args = parser.parse_args(argv)
    args.db = sources.join(args.db or ()) or os.environ.get("RUNAI_FAILURE_DB_PATH", DEFAULT_DB)
    return args


def answer_to_json(answer: Answer) -> dict[str, object]:
    data = asdict(answer)
    data["tool_calls"] = [
        {"name": c.name, "arguments": dict(c.arguments), "result": c.result.to_dict()}
        for c in answer.tool_calls
    ]
    return data


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        now = _now(args.now)
    except ValueError:
        print(f"ERROR: --now {args.now!r} is not an ISO-8601 time", file=sys.stderr)
        return 2
    try:
        settings = LLMSettings() if args.deterministic else LLMSettings.from_env()
    except ConfigError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    try:
        sources.check(args.db)
    except ConfigError as exc:  # a glob matching nothing, a folder that is no dataset
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    ctx = ToolContext(db_path=args.db, prometheus_url=args.prometheus_url, now=now)
    missing = not sources.is_fleet(args.db) and not os.path.exists(args.db)
    answer = respond(" ".join(args.question), ctx, settings)
    if args.json:
        print(json.dumps(answer_to_json(answer), indent=2, default=str))
    else:
        print(answer.markdown)
        if answer.note:
            print(f"\n_{answer.note}_")
    if missing:  # the answer says "no failures recorded yet"; a script must see the mistake
        print(f"ERROR: no history file at {args.db}", file=sys.stderr)
        return 1
    failed = any(call.result.status == "error" for call in answer.tool_calls)
    return 1 if failed or not answer.answered else 0
