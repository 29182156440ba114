"""The shape of a rule row: which signals it matches and what it concludes.

A `Signal` matches facts of one or more sources (facts.py): an exact reason (case-insensitive),
a pattern searched in the message, a pattern that must not occur in it, container exit codes or
states, and a set of numbers that the pattern's `num` group must fall in (Xids, exit codes).
A `Rule` fires when its `when` signal matches, every `also` signal matches somewhere in the
bundle (co-evidence), and no `unless` signal does (a veto).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.classifier.facts import CONTAINER, EVENT, LOG, POD, WORKLOAD

ANY_STATUS = (EVENT, POD, CONTAINER, WORKLOAD)


def rx(pattern: str) -> re.Pattern[str]:
    """Case-insensitive, compiled once at import. Patterns avoid nested unbounded quantifiers."""
    return re.compile(pattern, re.IGNORECASE)


@dataclass(frozen=True)
class Signal:
    sources: tuple[str, ...]
    reasons: frozenset[str] = frozenset()  # lower-case; empty: any reason
    pattern: re.Pattern[str] | None = None  # searched in the message (a log line)
    # Logs only: lower-case fragments, one of which every line the pattern matches contains.
    # They let the engine skip the regex on the (many) lines that cannot match.
    keys: tuple[str, ...] = ()
    exclude: re.Pattern[str] | None = None  # the same message must not match this
    exit_codes: frozenset[int] = frozenset()  # containers: terminated with one of these
    states: frozenset[str] = frozenset()  # containers: in one of these states
    numbers: frozenset[int] = frozenset()  # pattern group "num" must be one of these
    # A log match on a line followed later by an error line that no specific rule explains is
    # superseded: the last error before exit weighs most. Hardware signals never yield.
    yields: bool = True

    def __post_init__(self) -> None:
        if LOG in self.sources and self.pattern is not None and not self.keys:
            raise ValueError("a log signal with a pattern needs keys")
        if self.numbers and (self.pattern is None or "num" not in self.pattern.groupindex):
            raise ValueError("a signal with numbers needs a pattern with a (?P<num>...) group")


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    confidence: float
    when: Signal
    summary: str
    recommendation: str
    also: tuple[Signal, ...] = ()
    unless: tuple[Signal, ...] = ()
    # False: the row says something true but not why (BackoffLimitExceeded, a bare SIGKILL).
    # It is kept as evidence when nothing decisive matches, never as the verdict.
    decisive: bool = True
    # Which matching log line to quote: the last (the error that ended the run) or the first
    # (where a cascade began, e.g. the first rank whose collective failed).
    pick_first: bool = False
