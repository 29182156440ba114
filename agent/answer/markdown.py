"""Markdown building blocks for answers: tables, numbers, and quoting of untrusted text.

Anything that came from a cluster (log lines, event messages, summaries, names) is shown inside
a code span or code block, so it reads as data and cannot inject markdown or HTML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

MAX_QUOTE = 400  # characters of one quoted value in a table or sentence


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def code(text: object, limit: int = MAX_QUOTE) -> str:
    """An inline code span that holds any text safely (backticks, pipes, HTML)."""
    value = _one_line("" if text is None else str(text))
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    if not value:
        return "—"
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    # A pipe ends a table cell even inside a code span (GFM), so it is escaped.
    return f"{fence}{pad}{value.replace('|', chr(92) + '|')}{pad}{fence}"


def code_block(text: object, limit: int = 2000) -> str:
    value = "" if text is None else str(text)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{value}\n{fence}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def plain(text: object) -> str:
    """Untrusted text as plain prose: markdown specials escaped, HTML brackets as entities."""
    value = _one_line("" if text is None else str(text))
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = _MARKDOWN_SPECIAL.sub(r"\\\1", value)
    # A leading #, -, + or digit-dot would start a heading or a list item.
    return re.sub(r"^([#+-]|\d+\.)", r"\\\1", value)


def count(value: int | float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def plural(n: int | float | None, word: str) -> str:
    """ "1 failure", "3 failures" (the count formatted like count())."""
    return f"{count(n)} {word}{'' if n == 1 else 's'}"


def pct(ratio: float | None) -> str:
    return "—" if ratio is None else f"{100 * ratio:.1f}%"


def points(delta: float | None) -> str:
    """A change of a rate, in percentage points with a sign."""
    return "—" if delta is None else f"{100 * delta:+.1f} pp"


def when(value: str | datetime | None) -> str:
    if value is None or value == "":
        return "—"
    moment = value if isinstance(value, datetime) else _parse(str(value))
    return moment.strftime("%Y-%m-%d %H:%M") if moment else _one_line(str(value))[:40]


def duration(seconds: float) -> str:
    """ "2 d 3 h", "5 h 10 min", "12 min": the two largest units, for how long something waited."""
    minutes = max(0, int(seconds // 60))
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _parse(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()
) -> str:
    """A GFM table; `numeric` column indexes are right-aligned. Cells must be rendered already."""
    if not rows:
        return "_(none)_"
    align = ["---:" if i in numeric else "---" for i in range(len(headers))]
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]
    return "\n".join(lines)


def bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def numbered(items: Sequence[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))
