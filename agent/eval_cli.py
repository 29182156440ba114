"""`python -m agent eval [--cases DIR] [--tag T] [--verbose]`: the pass rate by tag.

Runs every case against the deterministic planner and exits non-zero when any case fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agent.evals.runner import CASES_DIR, AnswerFn, Report, load_cases, run_cases
from agent.planner import answer_deterministic


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent eval", description=__doc__)
    parser.add_argument("--cases", type=Path, default=CASES_DIR, help="folder of case files")
    parser.add_argument("--tag", help="run only the cases with this tag")
    parser.add_argument("--verbose", action="store_true", help="print failing answers in full")
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


def main(argv: list[str] | None = None, answer: AnswerFn = answer_deterministic) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if not args.cases.is_dir():
        print(f"ERROR: no cases folder at {args.cases}", file=sys.stderr)
        return 2
    try:
        cases = load_cases(args.cases, args.tag)
    except ValueError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    if not cases:
        print(f"ERROR: no cases{f' tagged {args.tag!r}' if args.tag else ''} in {args.cases}")
        return 2
    report = run_cases(cases, answer, prometheus_url=os.environ.get("PROMETHEUS_URL") or None)
    print_report(report, args.verbose)
    return 0 if report.passed == len(report.results) else 1
