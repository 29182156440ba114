"""`python -m agent eval [--cases DIR | --dev | --heldout] [--tag T] [--deterministic] [--verbose]`.

Runs the eval cases against the configured mode (the LLM when a key is set, else the
deterministic planner) and prints the pass rate by tag, separately for the development part
(agent/evals/cases) and the held-out part (agent/evals/heldout); both by default.

Exit status with the deterministic planner: 1 when a development case fails that is not listed
in agent/evals/expected_failures.txt, or when the whole held-out part scores below the rate in
agent/evals/thresholds.json. An LLM is judged against --min-pass-rate (default 80%) per part.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.evals.runner import (
    CASES_DIR,
    HELDOUT_DIR,
    Report,
    heldout_min_pass_rate,
    load_cases,
    load_expected_failures,
    run_cases,
)
from agent.llm.settings import LLMSettings
from agent.respond import respond
from agent.types import Answer, ToolContext
from common.bounds import argument
from common.errors import ConfigError
from common.version import add_version_flag


@dataclass(frozen=True)
class Part:
    label: str
    folder: Path
    heldout: bool


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m agent eval", description=__doc__)
    add_version_flag(parser, "runai-failure-agent eval")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--cases", type=Path, help="run only this folder of case files")
    which.add_argument("--dev", action="store_true", help="run only the development part")
    which.add_argument("--heldout", action="store_true", help="run only the held-out part")
    parser.add_argument("--tag", help="run only the cases with this tag")
    parser.add_argument("--verbose", action="store_true", help="print failing answers in full")
    parser.add_argument(
        "--deterministic", action="store_true", help="use the planner even with an LLM set"
    )
    parser.add_argument(
        "--min-pass-rate",
        type=argument("--min-pass-rate"),
        default=0.8,
        help="in LLM mode, the pass rate below which a part fails (default %(default)s)",
    )
    return parser.parse_args(argv)


def parts_to_run(args: argparse.Namespace) -> list[Part]:
    if args.cases is not None:
        return [Part(str(args.cases), args.cases, heldout=False)]
    dev = Part("development (agent/evals/cases)", CASES_DIR, heldout=False)
    held = Part("held-out (agent/evals/heldout)", HELDOUT_DIR, heldout=True)
    if args.dev:
        return [dev]
    if args.heldout:
        return [held]
    return [dev, held]


def print_report(report: Report, verbose: bool, expected: dict[str, str]) -> None:
    print(f"{'tag':<20} {'passed':>7} {'total':>6} {'rate':>7}")
    for tag, (passed, total) in report.by_tag().items():
        print(f"{tag:<20} {passed:>7} {total:>6} {100 * passed / total:>6.1f}%")
    total = len(report.results)
    rate = 100 * report.passed / total if total else 0.0
    print(f"{'ALL':<20} {report.passed:>7} {total:>6} {rate:>6.1f}%")
    for result in report.results:
        name = result.case.name
        if result.passed and name in expected:
            print(f"XPASS {name}: now passes; remove it from expected_failures.txt")
        if result.passed:
            continue
        label = "XFAIL" if name in expected else "FAIL"
        print(f"{label} {name}: {result.case.question!r}")
        for problem in result.problems:
            print(f"     {problem}")
        if verbose:
            print(result.markdown)


def part_ok(
    part: Part, report: Report, args: argparse.Namespace, llm: bool, expected: dict[str, str]
) -> bool:
    total = len(report.results)
    if llm:
        return report.passed >= args.min_pass_rate * total
    if part.heldout:
        if args.tag:  # the threshold is for the whole part, not a slice of it
            return True
        floor = heldout_min_pass_rate()
        print(f"held-out floor (agent/evals/thresholds.json): {100 * floor:.1f}%")
        return report.passed >= floor * total
    unexpected = [r for r in report.results if not r.passed and r.case.name not in expected]
    return not unexpected


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    parts = parts_to_run(args)
    missing = [p.folder for p in parts if not p.folder.is_dir()]
    if missing:
        print(f"ERROR: no cases folder at {missing[0]}", file=sys.stderr)
        return 2
    try:
        settings = LLMSettings() if args.deterministic else LLMSettings.from_env()
        expected = load_expected_failures()
        loaded = [(part, load_cases(part.folder, args.tag)) for part in parts]
    except (ValueError, ConfigError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    if not any(cases for _, cases in loaded):
        where = ", ".join(str(p.folder) for p in parts)
        print(f"ERROR: no cases{f' tagged {args.tag!r}' if args.tag else ''} in {where}")
        return 2

    def answer(question: str, ctx: ToolContext) -> Answer:
        return respond(question, ctx, settings)

    print(f"mode: {'llm' if settings.enabled else 'deterministic'} ({settings.describe()})")
    prometheus_url = os.environ.get("PROMETHEUS_URL") or None
    ok = True
    for part, cases in loaded:
        if not cases:
            continue
        print(f"\n== {part.label}: {len(cases)} cases")
        report = run_cases(cases, answer, prometheus_url=prometheus_url)
        print_report(report, args.verbose, expected)
        ok = part_ok(part, report, args, settings.enabled, expected) and ok
    return 0 if ok else 1
