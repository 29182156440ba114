"""Markdown helpers: untrusted text stays data; numbers print the same way everywhere."""

from __future__ import annotations

import pytest

from agent.answer.markdown import code, code_block, count, pct, plain, plural, points, table, when


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("OOMKilled", "`OOMKilled`"),
        ("has `ticks` inside", "``has `ticks` inside``"),
        ("`starts with a tick", "`` `starts with a tick ``"),
        ("a | b", "`a \\| b`"),
        ("line one\nline two", "`line one line two`"),
        ("", "—"),
        (None, "—"),
    ],
)
def test_code_span(text: str | None, expected: str) -> None:
    assert code(text) == expected


def test_code_span_truncates() -> None:
    assert code("x" * 500, limit=10) == "`" + "x" * 9 + "…`"


def test_code_block_fence_outgrows_backticks_inside() -> None:
    block = code_block("before\n```\nrm -rf /\n```\nafter")
    assert block.startswith("````text\n") and block.endswith("\n````")


def test_plain_escapes_markdown_and_html() -> None:
    assert plain("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert plain("**bold** [link](x) | pipe") == r"\*\*bold\*\* \[link\](x) \| pipe"
    assert plain("# heading") == r"\# heading"
    assert plain("1. item") == r"\1. item"


def test_numbers() -> None:
    assert count(1234567) == "1,234,567"
    assert count(8.0) == "8" and count(2.5) == "2.5" and count(None) == "—"
    assert pct(0.166666) == "16.7%" and pct(None) == "—"
    assert points(0.132) == "+13.2 pp" and points(-0.05) == "-5.0 pp"
    assert plural(1, "failure") == "1 failure" and plural(3, "failure") == "3 failures"
    assert when("2026-11-25T10:00:00+00:00") == "2026-11-25 10:00"
    assert when("2026-11-25T09:58:00Z") == "2026-11-25 09:58"
    assert when(None) == "—"


def test_table() -> None:
    assert table(["A", "B"], [["x", "1"]], numeric=(1,)) == "| A | B |\n| --- | ---: |\n| x | 1 |"
    assert table(["A"], []) == "_(none)_"
