"""`python -m exporter classify FILE.json | - | DIR`: classify a bundle, or score a case folder.

A file (or stdin) may hold a bare evidence bundle or a case ({"bundle": ..., "expected": ...});
the verdict is printed as JSON. A folder of cases prints a confusion table (expected x
predicted), the accuracy and the misclassified cases, and exits 1 when any case is wrong.
Unreadable input exits 2 with one `ERROR:` line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.version import add_version_flag
from exporter.classifier import RULES, classify
from history.categories import CATEGORIES

MAX_INPUT_BYTES = 64 * 1024 * 1024


class InputError(Exception):
    """A file or stdin that cannot be read as JSON; str() is the one-line reason."""


@dataclass(frozen=True)
class Scored:
    name: str
    expected: str
    predicted: str
    evidence: str


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exporter classify",
        description="Classify an evidence bundle (a JSON file or - for stdin), or score every "
        "*.json case in a folder against its expected category.",
    )
    add_version_flag(parser, "runai-failure-exporter classify")
    parser.add_argument("path", nargs="?", help="FILE.json, - (stdin) or a folder of case files")
    parser.add_argument(
        "--rules", action="store_true", help="list the rule table in order of precedence and exit"
    )
    args = parser.parse_args(argv)
    if args.rules:
        return _emit(rule_table(), 0)
    if args.path is None:
        parser.print_usage(sys.stderr)
        print("ERROR: give FILE.json, - or a folder (or --rules)", file=sys.stderr)
        return 2
    try:
        if args.path != "-" and Path(args.path).is_dir():
            return _score_folder(Path(args.path))
        document = _load(args.path)
    except InputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    bundle = document.get("bundle", document) if isinstance(document, dict) else document
    return _emit(json.dumps(classify(bundle).to_dict(), indent=2, ensure_ascii=False), 0)


def _emit(text: str, code: int) -> int:
    """Print to stdout; a reader that went away (`| head`) is not an error."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


def _load(path: str) -> Any:
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise InputError(f"{path} is larger than {MAX_INPUT_BYTES} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        where = "stdin" if path == "-" else path
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{where} is not valid JSON: {reason}") from None


def _score_folder(folder: Path) -> int:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise InputError(f"no *.json case files in {folder}")
    scored: list[Scored] = []
    for path in files:
        case = _load(str(path))
        expected = _expected(case)
        if expected is None:
            raise InputError(f"{path} has no expected.category from {', '.join(CATEGORIES)}")
        verdict = classify(case.get("bundle"))
        name = str(case.get("id") or path.stem)
        scored.append(Scored(name, expected, verdict.category, verdict.evidence))
    return _emit(render(scored), 0 if all(s.expected == s.predicted for s in scored) else 1)


def _expected(case: Any) -> str | None:
    if not isinstance(case, dict) or not isinstance(case.get("expected"), dict):
        return None
    category = case["expected"].get("category")
    return category if category in CATEGORIES else None


def render(scored: Sequence[Scored]) -> str:
    """The confusion table (rows expected, columns predicted; only categories that occur),
    the accuracy and the misclassified cases."""
    present = {s.expected for s in scored} | {s.predicted for s in scored}
    cats = [c for c in CATEGORIES if c in present]
    counts = Counter((s.expected, s.predicted) for s in scored)
    width = max(len("expected \\ predicted"), *(len(c) for c in cats))
    cols = [max(len(c), 3) for c in cats]
    lines = [
        "expected \\ predicted".ljust(width)
        + "  "
        + "  ".join(c.rjust(w) for c, w in zip(cats, cols, strict=True))
    ]
    for row in cats:
        if not any(s.expected == row for s in scored):
            continue
        cells = []
        for col, w in zip(cats, cols, strict=True):
            n = counts.get((row, col), 0)
            cells.append((str(n) if n else ".").rjust(w))
        lines.append(row.ljust(width) + "  " + "  ".join(cells))
    right = sum(1 for s in scored if s.expected == s.predicted)
    lines.append("")
    lines.append(f"accuracy: {right}/{len(scored)} = {right / len(scored):.1%}")
    wrong = [s for s in scored if s.expected != s.predicted]
    if wrong:
        lines.append("misclassified:")
        lines.extend(
            f"  {s.name}: expected {s.expected}, got {s.predicted} ({s.evidence[:120]!r})"
            for s in wrong
        )
    return "\n".join(lines)


def rule_table() -> str:
    """The rules in order of precedence: id, category, confidence, and what each concludes."""
    lines = [f"{'rule':<24} {'category':<14} {'conf':>4}  summary"]
    for rule in RULES:
        kind = "" if rule.decisive else " (context only)"
        lines.append(
            f"{rule.id:<24} {rule.category:<14} {rule.confidence:>4.2f}  {rule.summary}{kind}"
        )
    return "\n".join(lines)
