"""The shape of a rule row: which signals it matches and what it concludes.

A `Signal` matches facts of one or more sources (facts.py): an exact reason (case-insensitive),
a pattern searched in the message, a pattern that must not occur in it, container exit codes or
states, and a set of numbers that the pattern's `num` group must fall in (Xids, exit codes).
A `Rule` fires when its `when` signal matches, every `also` signal matches somewhere in the
bundle (co-evidence), and no `unless` signal does (a veto).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from exporter.classifier.facts import CONTAINER, EVENT, POD, WORKLOAD

ANY_STATUS = (EVENT, POD, CONTAINER, WORKLOAD)
# Common fragments of many keys: when a gate is absent from a text, so are all keys holding it,
# so a healthy log costs one scan per gate instead of one per key.
GATES = (
    "error",
    "fail",
    "memory",
    "nccl",
    "cuda",
    "kill",
    "process",
    "dist",
    "driver",
    "exit",
    "signal",
    "exec",
    "not ",
    "open",
    "device",
    "launch",
)


def gate_of(key: str) -> str | None:
    return next((gate for gate in GATES if gate in key and gate != key), None)


def rx(pattern: str) -> re.Pattern[str]:
    """A pattern for lower-cased text, compiled once at import.

    The engine matches against lower-cased lines (IGNORECASE makes Python's regex engine several
    times slower), so literal letters are lower-cased here and the table can keep writing them
    as they appear in real logs. Escapes (\\S, \\d, \\b...) and `(?P<` are left alone. Patterns
    avoid nested unbounded quantifiers: they run on untrusted text.
    """
    return re.compile(lower_literals(pattern))


def lower_literals(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif pattern.startswith("(?P<", i):
            out.append("(?P<")
            i += 4
        else:
            out.append(pattern[i].lower())
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class Signal:
    sources: tuple[str, ...]
    reasons: frozenset[str] = frozenset()  # lower-case; empty: any reason
    pattern: re.Pattern[str] | None = None  # searched in the message (a log line)
    # Lower-case fragments, one of which every text the pattern matches contains: the engine
    # runs the regex only on the (few) lines and messages that hold one.
    keys: tuple[str, ...] = ()
    exclude: re.Pattern[str] | None = None  # the same message must not match this
    exit_codes: frozenset[int] = frozenset()  # containers: terminated with one of these
    states: frozenset[str] = frozenset()  # containers: in one of these states
    numbers: frozenset[int] = frozenset()  # pattern group "num" must be one of these
    # A log match on a line followed later by an error line that no specific rule explains is
    # superseded: the last error before exit weighs most. Hardware signals never yield.
    yields: bool = True
    gates: tuple[str | None, ...] = field(init=False, compare=False, repr=False)

    @property
    def any_text(self) -> bool:
        """No condition at all: any non-blank text of its sources (e.g. "a log was read")."""
        return not (self.reasons or self.pattern or self.exit_codes or self.states)

    def __post_init__(self) -> None:
        object.__setattr__(self, "gates", tuple(gate_of(k) for k in self.keys))
        if self.pattern is not None and not self.keys:
            raise ValueError("a signal with a pattern needs keys")
        if any(k != k.lower() or any(c.isdigit() for c in k) for k in self.keys):
            raise ValueError("keys are lower-case and hold no digits (the index drops digits)")
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
