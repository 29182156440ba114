"""Time-window phrases ("last 7 days", "yesterday", "since Monday", "2026-11-20") -> [start, end).

Everything is UTC and relative to an injected `now`, so the same question gives the same window
in tests and in production. Calendar units follow ISO: a week starts on Monday 00:00 UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

DEFAULT_DAYS = 7
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS = (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
)  # fmt: skip
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
_WORD_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "fourteen": 14, "thirty": 30,
}  # fmt: skip


class WindowError(ValueError):
    """The question names a window that cannot be: it ends before it starts, or a date that
    does not exist. Said plainly (a 400 from the API), never silently read as another window."""


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval [start, end) and the words it came from."""

    start: datetime
    end: datetime
    label: str

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Window:
        """The window of equal length just before this one (for trends)."""
        return Window(self.start - self.duration, self.start, f"the {_span(self.duration)} before")

    def describe(self) -> str:
        return f"{self.label} ({_fmt(self.start)} to {_fmt(self.end)} UTC)"

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "label": self.label}


def _fmt(moment: datetime) -> str:
    if moment <= _EPOCH:
        return "the beginning"
    return moment.strftime("%Y-%m-%d %H:%M")


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours < 48:
        return f"{hours:g} hours"
    return f"{hours / 24:g} days"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def _number(token: str) -> int | None:
    if token.isdigit():
        return int(token)
    return _WORD_NUMBERS.get(token)


_ISO_DATE = r"(\d{4}-\d{2}-\d{2})"
_MONTH_DAY = r"((?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(?:, ?\d{4})?)"
_DATE = rf"(?:{_ISO_DATE}|{_MONTH_DAY})"


def _parse_date(text: str, now: datetime) -> date | None:
    """The date `text` names; WindowError when it has a date's form but no such day exists."""
    text = text.strip().lower()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        found = re.fullmatch(r"([a-z]{3})[a-z]*\.? (\d{1,2})(?:, ?(\d{4}))?", text)
        if found and found.group(1) in _MONTHS:
            year = int(found.group(3)) if found.group(3) else now.year
            day = date(year, _MONTHS.index(found.group(1)) + 1, int(found.group(2)))
            # "Nov 30" asked on Nov 26 with no year means last year's Nov 30.
            if not found.group(3) and day > now.date():
                day = day.replace(year=year - 1)
            return day
    except ValueError:
        raise WindowError(f"{text} is not a date") from None
    return None


def find_window(question: str, now: datetime) -> Window | None:
    """The window a question names, or None when it names none."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    text = " ".join(question.lower().replace("’", "'").split())
    today = _midnight(now.date())
    for matcher in _MATCHERS:
        try:
            window = matcher(text, now, today)
        except OverflowError:  # a date at the very edge of the calendar (9999-12-31)
            continue
        if window is not None:
            return window
    return None


def resolve_window(question: str, now: datetime, default_days: int = DEFAULT_DAYS) -> Window:
    """The named window, or the default (last `default_days` days) when none is named."""
    found = find_window(question, now)
    if found is not None:
        return found
    now = now.astimezone(UTC)
    return Window(now - timedelta(days=default_days), now, f"last {default_days} days")


def all_time(now: datetime) -> Window:
    return Window(_EPOCH, now.astimezone(UTC), "all recorded history")


def _between(text: str, now: datetime, today: datetime) -> Window | None:
    found = re.search(rf"(?:from|between) {_DATE} (?:to|and|until|through|-) {_DATE}", text)
    if not found:
        return None
    first = _parse_date(found.group(1) or found.group(2), now)
    last = _parse_date(found.group(3) or found.group(4), now)
    if first is None or last is None:
        return None
    if last < first:
        raise WindowError(f"the range ends before it starts ({last} is before {first})")
    return Window(_midnight(first), _midnight(last) + timedelta(days=1), f"from {first} to {last}")


def _since_date(text: str, now: datetime, today: datetime) -> Window | None:
    found = re.search(rf"(?:since|after|from) {_DATE}", text)
    if not found:
        return None
    first = _parse_date(found.group(1) or found.group(2), now)
    if first is None or _midnight(first) >= now:
        return None
    return Window(_midnight(first), now, f"since {first}")


def _since_weekday(text: str, now: datetime, today: datetime) -> Window | None:
    if re.search(r"\bsince yesterday\b", text):
        return Window(today - timedelta(days=1), now, "since yesterday")
    found = re.search(r"since (?:last )?(" + "|".join(_WEEKDAYS) + r")\b", text)
    if not found:
        return None
    back = (now.weekday() - _WEEKDAYS.index(found.group(1))) % 7
    return Window(today - timedelta(days=back), now, f"since {found.group(1).capitalize()}")


def _relative(text: str, now: datetime, today: datetime) -> Window | None:
    found = re.search(
        r"(?:last|past|previous|recent|within the last|in the last) ?(\d+|[a-z]+)? ?"
        r"(minute|min|hour|hr|h|day|d|week|wk|w|month)s?\b",
        text,
    )
    if not found:
        return None
    count_text, unit = found.group(1), found.group(2)
    count = 1 if count_text is None else _number(count_text)
    if count is None or count <= 0:
        return None
    unit = {"min": "minute", "hr": "hour", "h": "hour", "d": "day", "wk": "week", "w": "week"}.get(
        unit, unit
    )
    plural = "" if count == 1 else "s"
    if unit == "month":  # same day and time `count` months back, clamped to the 28th
        start = _month_start(now.year, now.month - count) + timedelta(
            days=min(now.day, 28) - 1, hours=now.hour, minutes=now.minute
        )
        return Window(start, now, f"last {count} month{plural}")
    try:  # "last 99999999 days" reaches before the epoch: that is all of the history
        start = max(now - timedelta(seconds=_UNIT_SECONDS[unit] * count), _EPOCH)
    except OverflowError:
        start = _EPOCH
    label = f"last {count} {unit}{plural}" if count_text is not None else f"last {unit}"
    return Window(start, now, label)


def _calendar(text: str, now: datetime, today: datetime) -> Window | None:
    monday = today - timedelta(days=now.weekday())
    month = _month_start(now.year, now.month)
    phrases: tuple[tuple[str, Window], ...] = (
        (r"\byesterday\b", Window(today - timedelta(days=1), today, "yesterday")),
        (r"\btoday\b|\bso far today\b", Window(today, now, "today")),
        (r"\bthis week\b|\bweek to date\b", Window(monday, now, "this week")),
        (
            r"\blast week\b|\bprevious week\b",
            Window(monday - timedelta(days=7), monday, "last week"),
        ),
        (r"\bthis month\b|\bmonth to date\b", Window(month, now, "this month")),
        (
            r"\blast month\b|\bprevious month\b",
            Window(_month_start(now.year, now.month - 1), month, "last month"),
        ),
        (r"\bthis year\b", Window(datetime(now.year, 1, 1, tzinfo=UTC), now, "this year")),
        (r"\ball[- ]time\b|\bever\b|\ball history\b", all_time(now)),
    )
    for pattern, window in phrases:
        if re.search(pattern, text):
            return window
    return None


def _on_date(text: str, now: datetime, today: datetime) -> Window | None:
    found = re.search(rf"(?:on |for |of )?{_DATE}", text)
    if not found:
        return None
    day = _parse_date(found.group(1) or found.group(2), now)
    if day is None:
        return None
    return Window(_midnight(day), _midnight(day) + timedelta(days=1), str(day))


# Most specific first: a range beats "since <date>", which beats a bare date.
_MATCHERS = (_between, _since_date, _since_weekday, _calendar, _relative, _on_date)
