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
# A weekday as people type it: the full name, or a short form ("tue", "thurs").
WEEKDAY_WORD = r"(mon|tue|wed|thu|fri|sat|sun)(?:day|s?day|nesday|rsday|urday|r|rs|s)?"
_MONTHS = (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
)  # fmt: skip
_UNIT_SECONDS = {
    "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "fortnight": 14 * 86400,
}  # fmt: skip
_WORD_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "fourteen": 14, "thirty": 30,
    "couple": 2,  # "the past couple of days" ("few" is no number: left to the default)
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
_MONTH_NAME = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"
# "nov 20", "November 20th, 2026", "20 nov", "the 24th of november"
_MONTH_DAY = (
    rf"((?:{_MONTH_NAME} \d{{1,2}}{_ORDINAL}|(?:the )?\d{{1,2}}{_ORDINAL} (?:of )?{_MONTH_NAME})"
    r"(?:,? ?\d{4})?)(?![\d:])"
)
_DATE = rf"(?:{_ISO_DATE}|{_MONTH_DAY})"
_TO = r"(?:-|to|until|through)"


def _parse_date(text: str, now: datetime) -> date | None:
    """The date `text` names; WindowError when it has a date's form but no such day exists."""
    text = text.strip().lower()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        text = re.sub(r"^the |(?<=\d)(?:st|nd|rd|th)\b| of\b|[.,]", "", text)
        found = re.fullmatch(r"([a-z]{3})[a-z]* (\d{1,2})(?: ?(\d{4}))?", text) or re.fullmatch(
            r"(?P<d>\d{1,2}) (?P<m>[a-z]{3})[a-z]*(?: ?(?P<y>\d{4}))?", text
        )
        if found and found.re.groupindex:  # day first
            month_word, day_text, year_text = found["m"], found["d"], found["y"]
        elif found:
            month_word, day_text, year_text = found.group(1), found.group(2), found.group(3)
        if found and month_word in _MONTHS:
            year = int(year_text) if year_text else now.year
            day = date(year, _MONTHS.index(month_word) + 1, int(day_text))
            # "Nov 30" asked on Nov 26 with no year means last year's Nov 30.
            if not year_text and day > now.date():
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
    return _day_range(first, last)


def _day_range(first: date, last: date) -> Window:
    """Whole days from `first` to `last`, both included; refused when it ends before it starts."""
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


def _weekday_number(word: str) -> int:
    return [w[:3] for w in _WEEKDAYS].index(word[:3])


def _last_weekday(word: str, today: datetime, before_today: bool = False) -> datetime:
    """Midnight of the latest such weekday up to today ("last" one: before today)."""
    back = (today.weekday() - _weekday_number(word)) % 7
    if before_today and back == 0:
        back = 7
    return today - timedelta(days=back)


def _day_window(start: datetime, now: datetime, label: str) -> Window:
    return Window(start, min(start + timedelta(days=1), now), label)


def _since_weekday(text: str, now: datetime, today: datetime) -> Window | None:
    if re.search(r"\bsince yesterday\b", text):
        return Window(today - timedelta(days=1), now, "since yesterday")
    found = re.search(rf"\b(?:since|from) (?:last )?{WEEKDAY_WORD}\b(?! (?:to|and|until|-))", text)
    if not found:
        return None
    day = _WEEKDAYS[_weekday_number(found.group(1))]
    return Window(_last_weekday(day, today), now, f"since {day.capitalize()}")


def _weekday_range(text: str, now: datetime, today: datetime) -> Window | None:
    """ "between Monday and Wednesday", "from tue to thu": the latest such days, in order."""
    found = re.search(
        rf"\b(?:between|from) {WEEKDAY_WORD} ?(?:and|to|until|through|-) ?{WEEKDAY_WORD}\b", text
    )
    if not found:
        return None
    last = _last_weekday(found.group(2), today)
    first = last - timedelta(days=(last.weekday() - _weekday_number(found.group(1))) % 7)
    names = [_WEEKDAYS[d.weekday()].capitalize() for d in (first, last)]
    end = min(last + timedelta(days=1), now)
    return Window(first, end, f"{names[0]} {first:%Y-%m-%d} to {names[1]} {last:%Y-%m-%d}")


def _weekday(text: str, now: datetime, today: datetime) -> Window | None:
    """ "on Tuesday", "last friday", "tuesday's failures": that whole day, the latest one."""
    found = re.search(
        rf"\b(?:(last|on|this|past) )?(monday|tuesday|wednesday|thursday|friday|saturday|sunday"
        rf"|{WEEKDAY_WORD}(?!\w))\b",
        text,
    )
    if not found or (found.group(2)[:3] == found.group(2) and not found.group(1)):
        return None  # "sat", "sun", "wed" alone are other words far more often
    start = _last_weekday(found.group(2), today, before_today=found.group(1) == "last")
    return _day_window(start, now, f"{_WEEKDAYS[start.weekday()].capitalize()} {start:%Y-%m-%d}")


def _weekend(text: str, now: datetime, today: datetime) -> Window | None:
    """ "this weekend", "over the weekend": the latest Saturday-Sunday that has begun."""
    found = re.search(r"\b(last|this|the|past|previous) weekend\b|\bweekend\b", text)
    if not found:
        return None
    saturday = _last_weekday("saturday", today, before_today=found.group(1) == "last")
    return Window(
        saturday, min(saturday + timedelta(days=2), now), f"the weekend of {saturday:%Y-%m-%d}"
    )


def _days_of_month(text: str, now: datetime, today: datetime) -> Window | None:
    """ "from the 20th to the 24th": days of this month (of the one before if still ahead)."""
    found = re.search(
        r"\b(?:from|between) the (\d{1,2})(?:st|nd|rd|th)? (?:-|to|and|until|through) "
        r"(?:the )?(\d{1,2})(?:st|nd|rd|th)\b",
        text,
    )
    if not found:
        return None
    first = _day_of_month(f"the {found.group(1)}th", now, today)
    last = _day_of_month(f"the {found.group(2)}th", now, today)
    if first is None or last is None:
        return None
    return _day_range(first.start.date(), last.start.date())


def _day_of_month(text: str, now: datetime, today: datetime) -> Window | None:
    """ "on the 25th", "since the 20th": a day of this month (of last month if still ahead)."""
    found = re.search(
        r"\b(since |from |after )?the (\d{1,2})(?:st|nd|rd|th)\b(?! (?:week|day|month|hour))", text
    )
    if not found:
        return None
    day_number = int(found.group(2))
    start = None
    for back in (0, 1, 2):  # this month's, or the latest month that has such a day
        try:
            start = _month_start(now.year, now.month - back).replace(day=day_number)
        except ValueError:
            continue
        if start <= today:
            break
    if start is None or start > today:
        raise WindowError(f"the {found.group(2)} is not a day of the month")
    if found.group(1):
        return Window(start, now, f"since {start:%Y-%m-%d}")
    return _day_window(start, now, f"{start:%Y-%m-%d}")


def _ago(text: str, now: datetime, today: datetime) -> Window | None:
    """ "3 days ago": that day; "since 2 weeks ago": from then to now."""
    found = re.search(r"\b(since |from )?(\d+|[a-z]+) (day|week|hour)s? ago\b", text)
    if not found:
        return None
    count = _number(found.group(2))
    if count is None or count <= 0:
        return None
    unit = found.group(3)
    if unit == "day":
        start = today - timedelta(days=count)
        if found.group(1):
            return Window(start, now, f"since {start:%Y-%m-%d}")
        return _day_window(start, now, f"{start:%Y-%m-%d}")
    start = now - timedelta(seconds=_UNIT_SECONDS[unit] * count)
    return Window(start, now, f"last {count} {unit}{'' if count == 1 else 's'}")


def _numeric_date(text: str, now: datetime, today: datetime) -> Window | None:
    """ "11/25", "25/11/2026": only where the order cannot be mistaken (one part above 12);
    "11/05" could be either day, so it is left unread (and said so) rather than guessed."""
    found = re.search(
        r"(?<![\w/])(since |from |after )?(\d{1,2})/(\d{1,2})(?:/(\d{4}))?(?![\w/])", text
    )
    if not found:
        return None
    a, b = int(found.group(2)), int(found.group(3))
    if (a > 12) == (b > 12):
        return None
    month, day_number = (b, a) if a > 12 else (a, b)
    year = int(found.group(4)) if found.group(4) else now.year
    try:
        day = date(year, month, day_number)
    except ValueError:
        raise WindowError(f"{found.group(0).strip()} is not a date") from None
    if not found.group(4) and day > now.date():
        day = day.replace(year=year - 1)
    if found.group(1):
        return Window(_midnight(day), now, f"since {day}")
    return _day_window(_midnight(day), now, str(day))


def _month_day_range(text: str, now: datetime, today: datetime) -> Window | None:
    """ "nov 20-24", "20-24 nov", "nov 20 to 24": two days of one month."""
    found = re.search(
        rf"\b(?:({_MONTH_NAME}) (\d{{1,2}}){_ORDINAL} ?{_TO} ?(\d{{1,2}}){_ORDINAL}"
        rf"|(\d{{1,2}}){_ORDINAL} ?{_TO} ?(\d{{1,2}}){_ORDINAL} ({_MONTH_NAME}))"
        r"(?![\d:])",
        text,
    )
    if not found:
        return None
    month, first_day, last_day = (
        found.group(1, 2, 3) if found.group(1) else (found.group(6), found.group(4), found.group(5))
    )
    first = _parse_date(f"{month} {first_day}", now)
    last = _parse_date(f"{month} {last_day}", now)
    if first is None or last is None:
        return None
    return _day_range(first, last)


def _relative(text: str, now: datetime, today: datetime) -> Window | None:
    found = re.search(
        r"(?:last|past|previous|recent|within the last|in the last|within) ?(\d+|[a-z]+)?"
        r"(?: of)? ?(minute|min|hour|hr|h|day|d|week|wk|w|fortnight|month)s?\b",
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
        (
            r"\bday before yesterday\b",
            Window(today - timedelta(days=2), today - timedelta(days=1), "the day before"),
        ),
        (r"\byesterday\b", Window(today - timedelta(days=1), today, "yesterday")),
        (r"\btoday\b|\bso far today\b", Window(today, now, "today")),
        (
            r"\bthis week\b|\bweek to date\b|\b(?:start|beginning) of (?:the |this )?week\b",
            Window(monday, now, "this week"),
        ),
        (
            r"\blast week\b|\bprevious week\b",
            Window(monday - timedelta(days=7), monday, "last week"),
        ),
        (
            r"\bthis month\b|\bmonth to date\b|\b(?:start|beginning) of (?:the |this )?month\b",
            Window(month, now, "this month"),
        ),
        (
            r"\blast month\b|\bprevious month\b",
            Window(_month_start(now.year, now.month - 1), month, "last month"),
        ),
        (
            r"\bthis year\b|\byear to date\b|\bytd\b"
            r"|\b(?:start|beginning) of (?:the |this )?year\b",
            Window(datetime(now.year, 1, 1, tzinfo=UTC), now, "this year"),
        ),
        (
            r"\blast year\b|\bprevious year\b",
            Window(
                datetime(now.year - 1, 1, 1, tzinfo=UTC),
                datetime(now.year, 1, 1, tzinfo=UTC),
                f"{now.year - 1}",
            ),
        ),
        (r"\ball[- ]time\b|\bever\b|\ball (?:recorded )?history\b", all_time(now)),
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
_MATCHERS = (
    _between, _month_day_range, _days_of_month, _weekday_range, _since_date, _since_weekday,
    _numeric_date, _day_of_month, _ago, _calendar, _weekend, _weekday, _relative, _on_date,
)  # fmt: skip
