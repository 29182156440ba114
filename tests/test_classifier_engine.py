"""The engine's parts: the key index, matching one fact, co-evidence, vetoes, yielding."""

from __future__ import annotations

import pytest

from exporter.classifier.engine import Index, evaluate, match_fact
from exporter.classifier.facts import CONTAINER, EVENT, LOG, Fact, read
from exporter.classifier.rules import RULES, TERMINAL_ERROR
from exporter.classifier.table import Rule, Signal, lower_literals, rx


def test_index_finds_the_rows_holding_a_key_across_repeated_shapes() -> None:
    index = Index(["step 1 loss 0.5", "NCCL WARN boom", "step 2 loss 0.4", "nccl warn again"])
    assert index.rows_with("nccl warn") == (1, 3)
    assert index.rows_with("loss") == (0, 2)  # one shape (digits dropped), two rows
    assert index.rows_with("absent") == ()


def test_index_gate_short_circuits_absent_keys() -> None:
    index = Index(["all good here"])
    assert index.rows_with("nccl warn", gate="nccl") == ()
    assert index.rows_with("nccl") == ()


def test_index_row_numbers_survive_case_folding_that_changes_length() -> None:
    index = Index(["İİİ", "İ x", "needle"])
    assert index.rows_with("needle") == (2,)


def test_lower_literals_keeps_escapes_and_named_groups() -> None:
    assert lower_literals(r"Xid\S(?P<num>\d)[A-Z]\B") == r"xid\S(?P<num>\d)[a-z]\B"
    assert rx(r"CUDA Error").search("cuda error") is not None


def test_signal_validation() -> None:
    with pytest.raises(ValueError):
        Signal((LOG,), pattern=rx("x"))  # a pattern needs keys
    with pytest.raises(ValueError):
        Signal((LOG,), pattern=rx("x1"), keys=("x1",))  # keys hold no digits
    with pytest.raises(ValueError):
        Signal((EVENT,), pattern=rx("x"), keys=("x",), numbers=frozenset({1}))  # needs (?P<num>)


def test_match_fact_checks_reason_state_exit_code_pattern_and_exclude() -> None:
    signal = Signal((CONTAINER,), exit_codes=frozenset({137}))
    killed = Fact(CONTAINER, "Error", "", 0, exit_code=137, state="terminated")
    waiting = Fact(CONTAINER, "Error", "", 0, exit_code=137, state="waiting")
    assert match_fact(signal, killed, "") == ("exit code 137", None)
    assert match_fact(signal, waiting, "") is None
    pattern = Signal((EVENT,), pattern=rx("boom"), exclude=rx("harmless"), keys=("boom",))
    assert match_fact(pattern, Fact(EVENT, "", "Boom!", 0), "boom!") == ("Boom!", None)
    assert match_fact(pattern, Fact(EVENT, "", "harmless boom", 0), "harmless boom") is None


def test_numbers_are_checked_in_every_match_of_the_line() -> None:
    xid = next(r for r in RULES if r.id == "hw.xid").when
    line = "NVRM: Xid (PCI:0000:dc:00): 45, pid=1, Ch 00000001 caused by previous Xid 149"
    assert match_fact(xid, Fact(EVENT, "", line, 0), line.lower()) == (line, 149)


def _rule(rule_id: str, **kwargs: object) -> Rule:
    base = {
        "id": rule_id,
        "category": "app_error",
        "confidence": 0.5,
        "when": Signal((LOG,), pattern=rx("marker"), keys=("marker",)),
        "summary": "s.",
        "recommendation": "r.",
    }
    base.update(kwargs)
    return Rule(**base)  # type: ignore[arg-type]


def test_co_evidence_and_veto() -> None:
    needs = Signal((LOG,), pattern=rx("second"), keys=("second",))
    rules = (_rule("needs", also=(needs,)), _rule("vetoed", unless=(needs,)))
    with_both = evaluate(read({"logs": "marker\nsecond"}), rules, TERMINAL_ERROR)
    assert with_both.winner is not None and with_both.winner.rule.id == "needs"
    alone = evaluate(read({"logs": "marker"}), rules, TERMINAL_ERROR)
    assert alone.winner is not None and alone.winner.rule.id == "vetoed"


def test_a_later_unexplained_error_supersedes_a_yielding_match() -> None:
    rules = (_rule("early", category="gpu_oom"),)
    late_error = evaluate(read({"logs": "marker\nValueError: real"}), rules, TERMINAL_ERROR)
    assert late_error.winner is None
    error_first = evaluate(read({"logs": "ValueError: real\nmarker"}), rules, TERMINAL_ERROR)
    assert error_first.winner is not None


def test_non_yielding_signals_are_never_superseded() -> None:
    steady = Signal((LOG,), pattern=rx("marker"), keys=("marker",), yields=False)
    rules = (_rule("steady", category="gpu_hardware", when=steady),)
    outcome = evaluate(read({"logs": "marker\nValueError: later"}), rules, TERMINAL_ERROR)
    assert outcome.winner is not None


def test_pick_first_and_last_log_line() -> None:
    logs = "marker one\nmarker two"
    last = evaluate(read({"logs": logs}), (_rule("last"),), TERMINAL_ERROR).winner
    first = evaluate(
        read({"logs": logs}), (_rule("first", pick_first=True),), TERMINAL_ERROR
    ).winner
    assert last is not None and last.quote == "marker two"
    assert first is not None and first.quote == "marker one"


def test_non_decisive_rows_are_context_only() -> None:
    rules = (_rule("ctx", category="unknown", decisive=False),)
    outcome = evaluate(read({"logs": "marker"}), rules, TERMINAL_ERROR)
    assert outcome.winner is None and [h.rule.id for h in outcome.context] == ["ctx"]


@pytest.mark.parametrize(
    ("logs", "fires"),
    [("step 1\nstep 2\n\n", True), ("", False), ("  \n\n", False)],
)
def test_a_bare_log_signal_asks_whether_a_log_was_read(logs: str, fires: bool) -> None:
    rule = Rule("t.exit", "app_error", 0.5,
                Signal((EVENT,), reasons=frozenset({"exited"})), "S.", "R.",
                also=(Signal((LOG,)),))
    bundle = {"events": [{"reason": "Exited", "message": "exit 1"}], "logs": logs}
    outcome = evaluate(read(bundle), (rule,), TERMINAL_ERROR)
    assert (outcome.winner is not None) == fires
