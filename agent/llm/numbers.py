"""Every number in an LLM answer must come from the tool results of that turn.

A number is supported when it equals (after rounding to the precision it is written with) a
number in the tool results or the question, the length of a returned list, or one simple step
away: a share as a percentage (0.25 -> 25 %), a percentage of two numbers, their ratio, sum or
difference. Dates, times, list markers and digits inside names (gpu-node-01, llama-7b) are not
claims. Anything else is reported, so the answer can be flagged before anyone reads it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_NOT_CLAIMS = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"  # dates
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b"  # times of day
    r"|^\s*\d+[.)]\s"  # ordered-list markers
    r"|\b(?:WORKLOAD|PROJECT|NODE)_\d+\b",  # masking placeholders
    re.MULTILINE,
)
_CLAIM = re.compile(
    r"(?<![\w.\-/#])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(\s?%)?(?!\.\d|[\-_/]\w|\d)"
)
_LOOSE = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
_MAX_PAIR_SOURCES = 300  # pairwise derivations are quadratic; the largest values matter least


@dataclass(frozen=True)
class Claim:
    text: str
    value: float
    decimals: int
    percent: bool


@dataclass(frozen=True)
class NumberCheck:
    claims: tuple[Claim, ...]
    unsupported: tuple[Claim, ...]

    @property
    def ok(self) -> bool:
        return not self.unsupported


def find_claims(answer: str) -> list[Claim]:
    text = _NOT_CLAIMS.sub(" ", answer)
    claims = []
    for match in _CLAIM.finditer(text):
        whole, fraction, percent = match.group(1), match.group(2), match.group(3)
        number = whole.replace(",", "") + (f".{fraction}" if fraction else "")
        claims.append(
            Claim(
                text=match.group(0).strip(),
                value=float(number),
                decimals=len(fraction or ""),
                percent=bool(percent),
            )
        )
    return claims


@dataclass
class Sources:
    """Numbers a claim may rest on. `values` (JSON numbers, list sizes) may be combined in
    pairs; `quoted` (digits inside strings: evidence, messages, the question) only match as is,
    so the digits of a timestamp cannot be summed into a made-up count."""

    values: set[float]
    quoted: set[float]


def source_numbers(values: Iterable[Any], question: str = "") -> Sources:
    sources = Sources(set(), set())
    _collect_text(question, sources)
    for value in values:
        _collect(value, sources)
    return sources


def check_numbers(answer: str, sources: Sources) -> NumberCheck:
    claims = find_claims(answer)
    ordered = sorted(sorted(sources.values, key=abs)[:_MAX_PAIR_SOURCES])
    direct = sources.values | sources.quoted
    unsupported = tuple(c for c in claims if not _supported(c, direct, ordered))
    return NumberCheck(tuple(claims), unsupported)


def _collect_text(text: str, sources: Sources) -> None:
    sources.quoted.update(float(m.replace(",", "")) for m in _LOOSE.findall(text))


def _collect(value: Any, sources: Sources) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int | float):
        sources.values.add(float(value))
    elif isinstance(value, str):
        _collect_text(value, sources)
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect(item, sources)
    elif isinstance(value, list | tuple | set):
        sources.values.add(float(len(value)))
        for item in value:
            _collect(item, sources)


def _close(value: float, claim: Claim) -> bool:
    # Written with d decimals, the claim stands for anything that rounds to it.
    return abs(abs(value) - claim.value) <= _tolerance(claim)


def _tolerance(claim: Claim) -> float:
    return 0.5 * 10 ** (-claim.decimals) + 1e-9


def _supported(claim: Claim, sources: set[float], ordered: list[float]) -> bool:
    if any(_close(v, claim) for v in sources):
        return True
    if claim.percent and any(_close(v * 100, claim) for v in sources if abs(v) <= 1):
        return True
    # One step from a pair (a, b): for each b, the a that would give the claim lies in an
    # interval, found by bisection, so this stays O(n log n) per claim.
    t = _tolerance(claim)
    for lo, hi in ((claim.value - t, claim.value + t), (-claim.value - t, -claim.value + t)):
        for b in ordered:
            if claim.percent:
                candidates = [
                    (lo * b / 100, hi * b / 100),
                    (b * (1 + lo / 100), b * (1 + hi / 100)),
                ]
            else:
                candidates = [(lo * b, hi * b), (lo - b, hi - b), (lo + b, hi + b)]
            if b == 0:
                candidates = candidates[1:] if not claim.percent else []
            if any(_any_between(ordered, *sorted(c)) for c in candidates):
                return True
    return False


def _any_between(ordered: list[float], lo: float, hi: float) -> bool:
    i = bisect.bisect_left(ordered, lo)
    return i < len(ordered) and ordered[i] <= hi


def flag_unsupported(markdown: str, check: NumberCheck) -> str:
    """The answer with a visible warning naming each number that could not be checked."""
    if check.ok:
        return markdown
    listed = ", ".join(dict.fromkeys(c.text for c in check.unsupported))
    return (
        f"{markdown}\n\n> **Warning: unverified numbers.** {listed} — not found in, or simply "
        "derived from, the tool results of this answer. Check them before relying on them."
    )
