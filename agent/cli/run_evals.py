"""`python -m agent eval [--cases DIR] [--tag T] [--deterministic] [--verbose]`.

Runs every case against the configured mode (the LLM when a key is set, else the deterministic
planner) and prints the pass rate by tag. The deterministic planner must pass every case: any
failure exits 1. An LLM is judged against --min-pass-rate (default 80%).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agent.evals.runner import CASES_DIR, Report, load_cases, run_cases
from agent.llm.settings import LLMSettings
from agent.respond import respond
from agent.types import Answer, ToolContext
from common.errors import ConfigError


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent eval", description=__doc__)
    parser.add_argument("--cases", type=Path, default=CASES_DIR, help="folder of case files")
    parser.add_argument("--tag", help="run only the cases with this tag")
    parser.add_argument("--verbose", action="store_true", help="print failing answers in full")
    parser.add_argument(
        "--deterministic", action="store_true", help="use the planner even with an LLM set"
    )
    parser.add_argument(
        "--min-pass-rate",
        type=float,
        default=0.8,
        help="in LLM mode, the pass rate below which the run fails (default %(default)s)",
    )
    return parser.parse_args(argv)


def print_report(report: Report, verbose: bool) -> None:
    print(f"{'tag':<16} {'passed':>7} {'total':>6} {'rate':>7}")
    for tag, (passed, total) in report.by_tag().items():
        print(f"{tag:<16} {passed:>7} {total:>6} {100 * passed / total:>6.1f}%")
    total = len(report.results)
    rate = 100 * report.passed / total if total else 0.0
    print(f"{'ALL':<16} {report.passed:>7} {total:>6} {rate:>6.1f}%")
    for result in report.results:
        if not result.passed:
            print(f"FAIL {result.case.name}: {result.case.question!r}")
            for problem in result.problems:
                print(f"     {problem}")
            if verbose:
                print(result.markdown)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if not args.cases.is_dir():
        print(f"ERROR: no cases folder at {args.cases}", file=sys.stderr)
        return 2
    try:
        settings = LLMSettings() if args.deterministic else LLMSettings.from_env()
        cases = load_cases(args.cases, args.tag)
    except (ValueError, ConfigError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    if not cases:
        print(f"ERROR: no cases{f' tagged {args.tag!r}' if args.tag else ''} in {args.cases}")
        return 2

    def answer(question: str, ctx: ToolContext) -> Answer:
        return respond(question, ctx, settings)

    print(f"mode: {'llm' if settings.enabled else 'deterministic'} ({settings.describe()})")
    report = run_cases(cases, answer, prometheus_url=os.environ.get("PROMETHEUS_URL") or None)
    print_report(report, args.verbose)
    if not settings.enabled:
        return 0 if report.passed == len(report.results) else 1
    return 0 if report.passed >= args.min_pass_rate * len(report.results) else 1
