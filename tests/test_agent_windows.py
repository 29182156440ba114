"""Time-window phrases -> [start, end) in UTC, relative to an injected now (a Thursday)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.time_windows import Window, WindowError, all_time, find_window, resolve_window

NOW = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)  # Thursday
TODAY = datetime(2026, 11, 26, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("Analyze failures from the last 7 days", NOW - timedelta(days=7), NOW),
        ("past 24h", NOW - timedelta(hours=24), NOW),
        ("in the past 24 hours", NOW - timedelta(hours=24), NOW),
        ("last 3 hours", NOW - timedelta(hours=3), NOW),
        ("past hour", NOW - timedelta(hours=1), NOW),
        ("last 30 minutes", NOW - timedelta(minutes=30), NOW),
        ("last two weeks", NOW - timedelta(days=14), NOW),
        ("within the last 14d", NOW - timedelta(days=14), NOW),
        ("yesterday", TODAY - timedelta(days=1), TODAY),
        ("failures today", TODAY, NOW),
        ("this week", MONDAY, NOW),
        ("last week", MONDAY - timedelta(days=7), MONDAY),
        ("since Monday", MONDAY, NOW),
        ("since yesterday", TODAY - timedelta(days=1), NOW),
        ("since tuesday", at(2026, 11, 24), NOW),
        ("since Thursday", TODAY, NOW),  # today is Thursday: since this morning
        ("since Friday", at(2026, 11, 20), NOW),
        ("this month", at(2026, 11, 1), NOW),
        ("last month", at(2026, 10, 1), at(2026, 11, 1)),
        ("last 2 months", at(2026, 9, 26, 12, 30), NOW),
        ("this year", at(2026, 1, 1), NOW),
        ("on 2026-11-20", at(2026, 11, 20), at(2026, 11, 21)),
        ("2026-11-20", at(2026, 11, 20), at(2026, 11, 21)),
        ("Nov 20", at(2026, 11, 20), at(2026, 11, 21)),
        ("December 5", at(2025, 12, 5), at(2025, 12, 6)),  # no year, in the future: last year
        # Phrases operators type that once fell back to the default window (issue 13).
        ("past fortnight", NOW - timedelta(days=14), NOW),
        ("the past couple of days", NOW - timedelta(days=2), NOW),
        ("within 24 hours", NOW - timedelta(hours=24), NOW),
        ("on tuesday", at(2026, 11, 24), at(2026, 11, 25)),
        ("what broke tuesday", at(2026, 11, 24), at(2026, 11, 25)),
        ("last friday", at(2026, 11, 20), at(2026, 11, 21)),
        ("last thursday", at(2026, 11, 19), at(2026, 11, 20)),  # today is Thursday: a week back
        ("on thursday", TODAY, NOW),
        ("since thurs", TODAY, NOW),
        ("what happened on sat", at(2026, 11, 21), at(2026, 11, 22)),
        ("between monday and wednesday", MONDAY, at(2026, 11, 26)),
        ("from tue to wed", at(2026, 11, 24), at(2026, 11, 26)),
        ("over the weekend", at(2026, 11, 21), MONDAY),
        ("on the 25th", at(2026, 11, 25), TODAY),
        ("since the 20th", at(2026, 11, 20), NOW),
        ("the 31st", at(2026, 10, 31), at(2026, 11, 1)),  # November has none: October's
        ("3 days ago", MONDAY, at(2026, 11, 24)),
        ("since 2 days ago", at(2026, 11, 24), NOW),
        ("on 25 november", at(2026, 11, 25), TODAY),
        ("on the 24th of november", at(2026, 11, 24), at(2026, 11, 25)),
        ("nov 20th", at(2026, 11, 20), at(2026, 11, 21)),
        ("nov 20-24", at(2026, 11, 20), at(2026, 11, 25)),
        ("20 to 24 nov", at(2026, 11, 20), at(2026, 11, 25)),
        ("from 20 nov to 24 nov", at(2026, 11, 20), at(2026, 11, 25)),
        ("since 11/20", at(2026, 11, 20), NOW),
        ("on 25/11", at(2026, 11, 25), TODAY),
        ("last year", at(2025, 1, 1), at(2026, 1, 1)),
        ("ytd", at(2026, 1, 1), NOW),
        ("since 2026-11-01", at(2026, 11, 1), NOW),
        ("from 2026-11-01 to 2026-11-10", at(2026, 11, 1), at(2026, 11, 11)),
        ("between Nov 1 and Nov 3", at(2026, 11, 1), at(2026, 11, 4)),
    ],
)
def test_phrases(phrase: str, start: datetime, end: datetime) -> None:
    window = find_window(phrase, NOW)
    assert window is not None, phrase
    assert (window.start, window.end) == (start, end)
    assert window.start.tzinfo is not None and window.end.tzinfo is not None


@pytest.mark.parametrize(
    "phrase",
    [
        "Show me failure statistics",
        "why did train-llama-7b fail",
        "last few days",
        "on 11/05",  # the 11th of May or the 5th of November: not guessed
        "the 2nd week of november was bad",  # not "the 2nd"
        "sat on the queue",  # "sat" alone is not Saturday
    ],
)
def test_no_window_named(phrase: str) -> None:
    assert find_window(phrase, NOW) is None


def test_default_is_last_7_days_and_says_so() -> None:
    window = resolve_window("Show me failure statistics", NOW)
    assert (window.start, window.end) == (NOW - timedelta(days=7), NOW)
    assert "last 7 days" in window.describe()
    assert "2026-11-19 12:30 to 2026-11-26 12:30 UTC" in window.describe()


def test_now_in_another_zone_is_converted_to_utc() -> None:
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))  # already Friday there
    window = find_window("today", tokyo)
    assert window == Window(TODAY, NOW, "today")


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        find_window("today", datetime(2026, 11, 26, 12))


def test_previous_window_has_equal_length() -> None:
    window = find_window("this week", NOW)
    assert window is not None
    before = window.previous()
    assert before.end == window.start and before.duration == window.duration


def test_all_time_starts_at_the_epoch() -> None:
    window = all_time(NOW)
    assert window.start.year == 1970 and window.end == NOW
    assert "the beginning" in window.describe()


def test_absurd_spans_clamp_to_the_epoch() -> None:
    for phrase in ("last 99999999 days", "last 999999999999 hours"):
        window = find_window(phrase, NOW)
        assert window is not None and window.start == all_time(NOW).start and window.end == NOW


def test_edge_of_calendar_dates_do_not_crash() -> None:
    assert find_window("on 9999-12-31", NOW) is None
    assert find_window("from 0001-01-01 to 9999-12-31", NOW) is not None  # since 0001-01-01


# ---- issue 18: an inverted or impossible window is said plainly, never reinterpreted -------
@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("failures between 2030-01-01 and 2020-01-01",
         "the range ends before it starts (2020-01-01 is before 2030-01-01)"),
        ("from 2026-11-20 to 2026-11-02", "the range ends before it starts"),
        ("what failed on 2026-02-30?", "2026-02-30 is not a date"),
        ("failures between 2026-11-01 and 2026-13-01", "2026-13-01 is not a date"),
    ],
)  # fmt: skip
def test_inverted_or_impossible_windows_are_errors(question: str, message: str) -> None:
    with pytest.raises(WindowError, match=re.escape(message)):
        find_window(question, NOW_FOR_ERRORS)


NOW_FOR_ERRORS = datetime(2026, 11, 26, 12, tzinfo=UTC)
