"""Root-cause classifier: one evidence bundle in, one `Classification` out.

    from exporter.classifier import classify
    verdict = classify(bundle)   # pure: no I/O, no global state, never raises

The rules are data (rules.py, an ordered table of `Rule` rows); engine.py walks them;
facts.py reads the untrusted bundle within fixed bounds; details.py and advice.py turn the
winning evidence into details and sentences.
"""

from __future__ import annotations

import re

from exporter.classifier.advice import UNKNOWN_RECOMMENDATION, UNKNOWN_SUMMARY, recommend
from exporter.classifier.details import collect
from exporter.classifier.engine import Context, Hit, evaluate
from exporter.classifier.facts import CONTAINER, EVENT, LOG, POD, WORKLOAD, Fact, read
from exporter.classifier.rules import RULES, TERMINAL_ERROR
from exporter.classifier.table import Rule, Signal
from exporter.model import Classification

__all__ = ["RULES", "Rule", "Signal", "classify"]

EVIDENCE_CAP = 500
SOURCE_NAMES = {
    EVENT: "event",
    POD: "pod_status",
    CONTAINER: "pod_status",
    WORKLOAD: "workload",
    LOG: "log",
}
TELLING = re.compile(r"error|fail|fatal|exception|killed|denied|cannot|unable|abort", re.I)
UNKNOWN_CONFIDENCE = 0.2


def classify(bundle: object) -> Classification:
    """Name the root cause of one failure from its evidence bundle (failure-signals.md)."""
    try:
        return _classify(bundle)
    except Exception:  # the contract is "never raises": an unforeseen bundle still gets a verdict
        return Classification(
            category="unknown",
            confidence=0.0,
            evidence="",
            evidence_source="none",
            summary="The evidence bundle could not be read.",
            recommendation=UNKNOWN_RECOMMENDATION,
            details={},
        )


def _classify(bundle: object) -> Classification:
    facts = read(bundle)
    outcome = evaluate(facts, RULES, TERMINAL_ERROR)
    hit = outcome.winner
    details = collect(hit, outcome.ctx)
    if hit is not None:
        rule = hit.rule
        details["rule"] = rule.id  # which row decided: lets an operator audit the verdict
        confidence = min(0.99, rule.confidence + (0.04 if outcome.corroborated else 0.0))
        return Classification(
            category=rule.category,
            confidence=round(confidence, 2),
            evidence=hit.quote[:EVIDENCE_CAP],
            evidence_source=SOURCE_NAMES.get(hit.fact.source, "none"),
            summary=rule.summary,
            recommendation=recommend(rule.category, rule.recommendation, details),
            details=details,
        )
    telling = outcome.context[0] if outcome.context else _most_telling(outcome.ctx)
    if telling is None:
        return Classification(
            "unknown",
            UNKNOWN_CONFIDENCE,
            "",
            "none",
            UNKNOWN_SUMMARY,
            recommend("unknown", UNKNOWN_RECOMMENDATION, details),
            details,
        )
    summary = telling.rule.summary if telling.rule.id else UNKNOWN_SUMMARY
    base = telling.rule.recommendation if telling.rule.id else UNKNOWN_RECOMMENDATION
    return Classification(
        category="unknown",
        confidence=UNKNOWN_CONFIDENCE,
        evidence=telling.quote[:EVIDENCE_CAP],
        evidence_source=SOURCE_NAMES.get(telling.fact.source, "none"),
        summary=summary,
        recommendation=recommend("unknown", base, details),
        details=details,
    )


_NO_RULE = Rule(
    "",
    "unknown",
    UNKNOWN_CONFIDENCE,
    Signal((LOG,)),
    UNKNOWN_SUMMARY,
    UNKNOWN_RECOMMENDATION,
    decisive=False,
)


def _most_telling(ctx: Context) -> Hit | None:
    """With no rule to go on, the line a person would read first: the last log line that reads
    like an error, the last warning event, the workload's message, the last log line."""
    facts = ctx.facts
    for i in range(len(facts.lines) - 1, -1, -1):
        line = facts.lines[i].strip()
        if TELLING.search(line):
            return Hit(_NO_RULE, Fact(LOG, "", line, i), line)
    for fact in (*reversed(facts.events), *facts.pods, *facts.workload):
        if fact.message:
            return Hit(_NO_RULE, fact, fact.message)
    for i in range(len(facts.lines) - 1, -1, -1):
        line = facts.lines[i].strip()
        if line:
            return Hit(_NO_RULE, Fact(LOG, "", line, i), line)
    return None
