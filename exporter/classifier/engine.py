"""The one small engine that walks the rule table.

For each row in order: find the facts its `when` signal matches, drop log matches that a later
unexplained error line supersedes, check co-evidence (`also`) and vetoes (`unless`), and stop at
the first decisive row that fires. Non-decisive rows that fire are kept as context for an
`unknown` verdict.

Logs are matched through a key index: each log signal names lower-case fragments that any line
it can match contains, so the regex runs only on the few lines that hold one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.classifier.facts import LOG, Fact, Facts
from exporter.classifier.table import Rule, Signal

MAX_PATTERN_MATCHES = 16  # per fact, when looking for a captured number in a set


@dataclass(frozen=True)
class Hit:
    rule: Rule
    fact: Fact
    quote: str  # the decisive line or field, as found
    number: int | None = None  # the pattern's `num` group (an Xid, an exit code)


class LogIndex:
    """Lower-cased log text with memoised key lookups: key -> indices of lines holding it."""

    def __init__(self, lines: tuple[Fact, ...]) -> None:
        self.lines = lines
        self.lower = "\n".join(f.message for f in lines).lower()
        self._by_key: dict[str, tuple[int, ...]] = {}

    def lines_with(self, key: str) -> tuple[int, ...]:
        found = self._by_key.get(key)
        if found is None:
            found = self._scan(key)
            self._by_key[key] = found
        return found

    def _scan(self, key: str) -> tuple[int, ...]:
        text = self.lower
        pos = text.find(key)
        out: list[int] = []
        line, counted = 0, 0
        while pos != -1:
            # lower() keeps newlines, so counting them gives the line even if lengths changed.
            line += text.count("\n", counted, pos)
            out.append(line)
            end = text.find("\n", pos)
            if end == -1:
                break
            counted = end
            pos = text.find(key, end)
        return tuple(out)

    def candidates(self, keys: tuple[str, ...]) -> list[int]:
        if len(keys) == 1:
            return list(self.lines_with(keys[0]))
        merged: set[int] = set()
        for key in keys:
            merged.update(self.lines_with(key))
        return sorted(merged)

    def line_has_key(self, index: int, keys: tuple[str, ...]) -> bool:
        return any(index in self.lines_with(key) for key in keys)


class Context:
    """One bundle's facts plus memoised signal matches, shared by all rows."""

    def __init__(self, facts: Facts, rules: tuple[Rule, ...], terminal: Signal) -> None:
        self.facts = facts
        self.rules = rules
        self.terminal = terminal
        self.log = LogIndex(facts.lines)
        self._matches: dict[int, list[tuple[Fact, str, int | None]]] = {}
        self._unexplained_known = False
        self._last_unexplained: int | None = None

    def matches(self, signal: Signal) -> list[tuple[Fact, str, int | None]]:
        key = id(signal)
        found = self._matches.get(key)
        if found is None:
            found = []
            for source in signal.sources:
                found.extend(self._match_source(signal, source))
            self._matches[key] = found
        return found

    def _match_source(self, signal: Signal, source: str) -> list[tuple[Fact, str, int | None]]:
        if source == LOG:
            if signal.pattern is None:
                return []
            lines = self.facts.lines
            out = []
            for i in self.log.candidates(signal.keys):
                hit = match_fact(signal, lines[i])
                if hit is not None:
                    out.append((lines[i], *hit))
            return out
        out = []
        for fact in self.facts.of(source):
            hit = match_fact(signal, fact)
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
        lines = self.facts.lines
        for fact, _quote, _n in reversed(self.matches(self.terminal)):
            if not self._explained(fact.index, lines[fact.index]):
                result = fact.index
                break
        self._last_unexplained, self._unexplained_known = result, True
        return result

    def _explained(self, index: int, line: Fact) -> bool:
        for rule in self.rules:
            signal = rule.when
            if rule.category == "app_error" and rule.decisive:
                continue
            if LOG not in signal.sources or signal.pattern is None:
                continue
            if self.log.line_has_key(index, signal.keys) and match_fact(signal, line):
                return True
        return False


def match_fact(signal: Signal, fact: Fact) -> tuple[str, int | None] | None:
    """(quote, number) when `signal` matches `fact`, else None."""
    if signal.reasons and fact.reason.lower() not in signal.reasons:
        return None
    if signal.states and fact.state not in signal.states:
        return None
    if signal.exit_codes and (
        fact.state != "terminated" or fact.exit_code not in signal.exit_codes
    ):
        return None
    number: int | None = None
    message = fact.message
    if signal.pattern is not None:
        if signal.numbers:
            number = _number_in(signal.pattern, message, signal.numbers)
            if number is None:
                return None
        elif signal.pattern.search(message) is None:
            return None
    if signal.exclude is not None and signal.exclude.search(message):
        return None
    if signal.pattern is not None:
        return message, number
    if signal.exit_codes and not (signal.reasons and message):
        return f"exit code {fact.exit_code}", number
    return (message or fact.reason or (f"exit code {fact.exit_code}" if fact.exit_code else "")), (
        number
    )


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


def _choose(rule: Rule, found: list[tuple[Fact, str, int | None]]) -> tuple[Fact, str, int | None]:
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
