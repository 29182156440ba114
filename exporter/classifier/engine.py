"""The one small engine that walks the rule table.

For each row in order: find the facts its `when` signal matches, drop log matches that a later
unexplained error line supersedes, check co-evidence (`also`) and vetoes (`unless`), and stop at
the first decisive row that fires. Non-decisive rows that fire are kept as context for an
`unknown` verdict.

Texts are matched through a key index: each pattern signal names lower-case fragments that any
text it can match contains, so the regex runs only on the few log lines and status messages
that hold one of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from exporter.classifier.facts import LOG, Fact, Facts
from exporter.classifier.table import Rule, Signal

MAX_PATTERN_MATCHES = 16  # per fact, when looking for a captured number in a set
DIGITS = b"0123456789"


@dataclass(frozen=True)
class Hit:
    rule: Rule
    fact: Fact
    quote: str  # the decisive line or field, as found
    number: int | None = None  # the pattern's `num` group (an Xid, an exit code)


Match = tuple[Fact, str, "int | None"]


class Index:
    """Texts (one per row) searchable for lower-case keys, with memoised answers.

    A key is first looked for in the row *shapes*: rows lower-cased, stripped of digits and
    de-duplicated. A training log repeats a few line shapes with different numbers, so an absent
    key (the usual case) costs a scan of a fraction of the log. Keys hold no digits (table.py).
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self.full = "\n".join(texts).lower().encode("utf-8", "replace").translate(None, DIGITS)
        self.shapes = b"\n".join(dict.fromkeys(self.full.split(b"\n")))
        self._rows: dict[str, tuple[int, ...]] = {}

    def rows_with(self, key: str, gate: str | None = None) -> tuple[int, ...]:
        found = self._rows.get(key)
        if found is None:
            if gate is not None and not self.rows_with(gate):
                found = ()
            else:
                found = self._scan(key.encode()) if key.encode() in self.shapes else ()
            self._rows[key] = found
        return found

    def _scan(self, needle: bytes) -> tuple[int, ...]:
        text = self.full
        pos = text.find(needle)
        out: list[int] = []
        row, counted = 0, 0
        while pos != -1:
            row += text.count(b"\n", counted, pos)
            out.append(row)
            end = text.find(b"\n", pos)
            if end == -1:
                break
            counted = end
            pos = text.find(needle, end)
        return tuple(out)

    def candidates(self, signal: Signal) -> list[int]:
        """Rows holding at least one of the signal's keys, in order."""
        keys, gates = signal.keys, signal.gates
        if len(keys) == 1:
            return list(self.rows_with(keys[0], gates[0]))
        merged: set[int] = set()
        for key, gate in zip(keys, gates, strict=True):
            merged.update(self.rows_with(key, gate))
        return sorted(merged)

    def row_has_key(self, row: int, signal: Signal) -> bool:
        return any(
            row in self.rows_with(key, gate)
            for key, gate in zip(signal.keys, signal.gates, strict=True)
        )


class Context:
    """One bundle's facts plus memoised signal matches, shared by all rows."""

    def __init__(self, facts: Facts, rules: tuple[Rule, ...], terminal: Signal) -> None:
        self.facts = facts
        self.rules = rules
        self.terminal = terminal
        self.log = Index(facts.lines)
        self.statuses = facts.events + facts.pods + facts.containers + facts.workload
        self._status_lower: list[str] | None = None
        self._status_index: Index | None = None
        self._line_facts: dict[int, tuple[Fact, str]] = {}
        self._matches: dict[int, list[Match]] = {}
        self._unexplained_known = False
        self._last_unexplained: int | None = None

    def status_index(self) -> Index:
        if self._status_index is None:
            self._status_index = Index([f.message.replace("\n", " ") for f in self.statuses])
        return self._status_index

    def status_lower(self, i: int) -> str:
        if self._status_lower is None:
            self._status_lower = [f.message.lower() for f in self.statuses]
        return self._status_lower[i]

    def line(self, i: int) -> tuple[Fact, str]:
        """Log line i as a fact (stripped, as quoted) and lower-cased (as matched)."""
        found = self._line_facts.get(i)
        if found is None:
            text = self.facts.lines[i].strip()
            found = (Fact(LOG, "", text, i), text.lower())
            self._line_facts[i] = found
        return found

    def matches(self, signal: Signal) -> list[Match]:
        key = id(signal)
        found = self._matches.get(key)
        if found is None:
            found = self._match_statuses(signal)
            if LOG in signal.sources:
                found.extend(self._match_log(signal))
            self._matches[key] = found
        return found

    def _match_log(self, signal: Signal) -> list[Match]:
        out: list[Match] = []
        if signal.pattern is None:
            if signal.any_text:  # "the log is there": its last non-blank line stands for it
                last = next((i for i in range(len(self.facts.lines) - 1, -1, -1)
                             if self.facts.lines[i].strip()), None)
                if last is not None:
                    fact, _ = self.line(last)
                    out.append((fact, fact.message, None))
            return out
        for i in self.log.candidates(signal):
            fact, lowered = self.line(i)
            hit = match_fact(signal, fact, lowered)
            if hit is not None:
                out.append((fact, *hit))
        return out

    def _match_statuses(self, signal: Signal) -> list[Match]:
        out: list[Match] = []
        statuses = self.statuses
        if not statuses or (len(signal.sources) == 1 and signal.sources[0] == LOG):
            return out
        if signal.pattern is not None and not signal.reasons:
            rows: Sequence[int] = self.status_index().candidates(signal)
        else:
            rows = range(len(statuses))
        sources = signal.sources
        for i in rows:
            fact = statuses[i]
            if fact.source in sources:
                hit = match_fact(signal, fact, self.status_lower(i))
                if hit is not None:
                    out.append((fact, *hit))
        return out

    def any_match(self, signal: Signal) -> bool:
        return bool(self.matches(signal))

    def last_unexplained_error(self) -> int | None:
        """The last log line that reads like the error that ended the process and that no
        specific row explains (e.g. `KeyError: 'O'`); None when there is none."""
        if self._unexplained_known:
            return self._last_unexplained
        result: int | None = None
        for fact, _quote, _n in reversed(self.matches(self.terminal)):
            if not self._explained(fact.index):
                result = fact.index
                break
        self._last_unexplained, self._unexplained_known = result, True
        return result

    def _explained(self, index: int) -> bool:
        fact, lowered = self.line(index)
        for rule in self.rules:
            signal = rule.when
            if rule.category == "app_error" and rule.decisive:
                continue
            if LOG not in signal.sources or signal.pattern is None:
                continue
            if self.log.row_has_key(index, signal) and match_fact(signal, fact, lowered):
                return True
        return False


def match_fact(signal: Signal, fact: Fact, lowered: str) -> tuple[str, int | None] | None:
    """(quote, number) when `signal` matches `fact`, else None. Patterns run on `lowered`,
    the fact's message lower-cased; the quote is the message as found."""
    if signal.reasons and fact.reason.lower() not in signal.reasons:
        return None
    if signal.states and fact.state not in signal.states:
        return None
    if signal.exit_codes and (
        fact.state != "terminated" or fact.exit_code not in signal.exit_codes
    ):
        return None
    number: int | None = None
    if signal.pattern is not None:
        if signal.numbers:
            number = _number_in(signal.pattern, lowered, signal.numbers)
            if number is None:
                return None
        elif signal.pattern.search(lowered) is None:
            return None
    if signal.exclude is not None and signal.exclude.search(lowered):
        return None
    message = fact.message
    if signal.pattern is not None:
        return message, number
    if signal.exit_codes and not (signal.reasons and message):
        return f"exit code {fact.exit_code}", number
    quote = message or fact.reason or (f"exit code {fact.exit_code}" if fact.exit_code else "")
    return quote, number


def _number_in(pattern: re.Pattern[str], message: str, numbers: frozenset[int]) -> int | None:
    for n, match in enumerate(pattern.finditer(message)):
        if n >= MAX_PATTERN_MATCHES:
            break
        value = int(match.group("num"))
        if value in numbers:
            return value
    return None


def fire(rule: Rule, ctx: Context) -> Hit | None:
    found = ctx.matches(rule.when)
    if not found:
        return None
    if LOG in rule.when.sources and rule.when.yields:
        cutoff = ctx.last_unexplained_error()
        if cutoff is not None:
            found = [m for m in found if m[0].source != LOG or m[0].index >= cutoff]
            if not found:
                return None
    if rule.also and not all(ctx.any_match(s) for s in rule.also):
        return None
    if rule.unless and any(ctx.any_match(s) for s in rule.unless):
        return None
    fact, quote, number = _choose(rule, found)
    return Hit(rule, fact, quote, number)


def _choose(rule: Rule, found: list[Match]) -> Match:
    """The most telling match: from the first source the signal lists that matched; in a log
    the last matching line (the error before exit) unless the row asks for the first."""
    for source in rule.when.sources:
        mine = [m for m in found if m[0].source == source]
        if mine:
            if source == LOG and not rule.pick_first:
                return mine[-1]
            return mine[0]
    return found[0]


@dataclass(frozen=True)
class Outcome:
    winner: Hit | None
    corroborated: bool  # another row of the same category fired too
    context: tuple[Hit, ...]  # non-decisive rows that fired
    ctx: Context


def evaluate(facts: Facts, rules: tuple[Rule, ...], terminal: Signal) -> Outcome:
    ctx = Context(facts, rules, terminal)
    context: list[Hit] = []
    for position, rule in enumerate(rules):
        hit = fire(rule, ctx)
        if hit is None:
            continue
        if not rule.decisive:
            context.append(hit)
            continue
        corroborated = any(
            other.decisive and other.category == rule.category and fire(other, ctx) is not None
            for other in rules[position + 1 :]
        )
        return Outcome(hit, corroborated, (), ctx)
    return Outcome(None, False, tuple(context), ctx)
