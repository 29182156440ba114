"""Time in a question: one window, two windows to compare, or a range that cannot be.

Misspelt time words are mended first ("yesterdy", "novmber", "lst 3 days") with rapidfuzz
against the small set of words time phrases are made of. Month names with or without a year
("in November", "in nov", "October 2025") and two windows set against each other ("today vs
yesterday", "this week compared to last week") are read here; every other phrase is read by
agent.time_windows, the one reader the tools share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from rapidfuzz import fuzz, process

from agent.time_windows import WEEKDAY_WORD, Window, WindowError, find_window
from agent.understanding import lexicon

MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip
_MONTH_ABBREVIATIONS = {m[:3]: i + 1 for i, m in enumerate(MONTHS)} | {"sept": 9}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Words time phrases are made of: a misspelling of one of these (4+ letters) is mended.
TIME_WORDS = (
    "today", "yesterday", "tonight", "week", "weeks", "month", "months", "hours", "days",
    "since", "last", "past", "previous", "minutes", "overnight", "night", "morning",
    "afternoon", "evening", "start", "beginning", *MONTHS, *WEEKDAYS,
)  # fmt: skip
# Words questions are built around (not time, but mended the same way): "whihc nodes failed
# the most" must still read as a ranking of nodes.
QUESTION_WORDS = (
    "which", "what", "failures", "failed", "failing", "nodes", "machines", "projects",
    "images", "workloads", "statistics", "most", "breakdown", "compare", "analyze",
    "reliable", "reliability", "priorities", "things",
)  # fmt: skip
_MENDABLE = (*TIME_WORDS, *QUESTION_WORDS)
_TIME_TYPO_SCORE = 80.0
# Short forms people type, too short to mend by similarity.
_SHORT_FORMS = {
    "lst": "last", "pst": "past", "yday": "yesterday", "yest": "yesterday", "tdy": "today",
    "wek": "week", "wk": "week", "hr": "hour",
    "hrs": "hours", "wks": "weeks", "mins": "minutes", "mnth": "month", "mth": "month",
}  # fmt: skip
_SPLIT = re.compile(
    r"\s+(?:vs\.?|versus|compared? (?:to|with)|compares (?:to|with)|against|than|over)\s+"
)
_COMPARE_LEAD = re.compile(r"\bcompare (.+?) (?:to|with|against|and) (.+)$")
# The second side of a comparison said relative to the first: "yesterday vs the day before".
_BEFORE_IT = re.compile(
    r"\b(?:the|a) (?:\w+ )?(?:days?|weeks?|months?|hours?|period|window) (?:before|prior)\b"
    r"|\bbefore (?:that|it)\b|\bthe previous (?:period|window)\b|\bthe (?:week|day) prior\b"
    r"|\bthe (?:prior|preceding) (?:\w+ )?(?:days?|weeks?|months?|hours?|period)\b"
)
_MONTH_RE = (
    r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?"
    r"|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_ISO_DATE = r"\d{4}-\d{2}-\d{2}"
_MONTH_DAY = (
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?"
    r"(?:,? \d{4})?|\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"[a-z]*(?:,? \d{4})?"
)
_DATE = rf"({_ISO_DATE}|{_MONTH_DAY})"


@dataclass(frozen=True)
class TimeReading:
    """What the question says about time."""

    window: Window | None = None  # None: the question names no window
    compare_with: Window | None = None  # "today vs yesterday": the second window
    refusal: str | None = None  # a range that cannot be ("ends before it starts")
    mended: tuple[tuple[str, str], ...] = field(default=())  # (as typed, read as)
    text: str = ""  # the question with time words mended


def mend_time_words(text: str, known: frozenset[str]) -> tuple[str, list[tuple[str, str]]]:
    """Replace misspelt time words; words in `known` (names, lexicon) are left alone."""
    mended: list[tuple[str, str]] = []

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        if re.fullmatch(WEEKDAY_WORD, word):  # "thurs", "tues": a day, not a misspelt "hours"
            return word
        if word in _SHORT_FORMS and word not in known:
            mended.append((word, _SHORT_FORMS[word]))
            return _SHORT_FORMS[word]
        if len(word) < 4 or word in known or word in lexicon.LEXICON_WORDS or word in _MENDABLE:
            return word
        hit = process.extractOne(word, _MENDABLE, scorer=fuzz.ratio, score_cutoff=_TIME_TYPO_SCORE)
        if hit is None or word.startswith(hit[0]) or hit[0].startswith(word):
            return word  # "compared", "weekly": another form of the word, not a typo
        mended.append((word, str(hit[0])))
        return str(hit[0])

    return re.sub(r"[a-z]+", fix, text), mended


def _month_number(word: str) -> int:
    return _MONTH_ABBREVIATIONS[word[:4] if word.startswith("sept") else word[:3]]


def _month_window(month: int, year: int | None, now: datetime) -> Window | None:
    if year is None:  # the latest such month that has begun
        year = now.year if month <= now.month else now.year - 1
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    if start >= now:
        return None
    return Window(start, min(end, now), f"{MONTHS[month - 1].capitalize()} {year}")


def find_month(text: str, now: datetime) -> Window | None:
    """ "in November", "in nov", "during October 2025", "november 2026", "since November"."""
    found = re.search(
        rf"(?:\b(?P<lead>in|during|for|of|since|from|over|throughout)\s+)?\b{_MONTH_RE}\b"
        r"(?!\.? ?\d{1,2}(?:st|nd|rd|th)?\b(?!\d))(?:,?\s+(?P<year>\d{4}))?",
        text,
    )
    if not found:
        return None
    word = found.group("month")
    if word == "may" and not found.group("lead") and not found.group("year"):
        return None  # "may" alone is a verb far more often than a month
    if word in ("mar", "sep", "jun", "jul") and not found.group("lead"):
        return None
    year = int(found.group("year")) if found.group("year") else None
    window = _month_window(_month_number(word), year, now)
    if window is not None and found.group("lead") == "since":
        return Window(window.start, now, f"since {window.label}")
    return window


def _parse_day(text: str, now: datetime) -> date | None:
    text = text.strip().rstrip(",")
    if re.fullmatch(_ISO_DATE, text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    parts = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", text).replace(",", " ").replace(".", " ")
    words = parts.split()
    month = next((w for w in words if w[:3] in _MONTH_ABBREVIATIONS), None)
    numbers = [int(w) for w in words if w.isdigit()]
    if month is None or not numbers:
        return None
    day_number = next((n for n in numbers if n <= 31), None)
    year = next((n for n in numbers if n > 31), None)
    if day_number is None:
        return None
    try:
        day = date(year or now.year, _month_number(month), day_number)
    except ValueError:
        return None
    if year is None and day > now.date():
        day = day.replace(year=day.year - 1)
    return day


def inverted_range(text: str, now: datetime) -> str | None:
    """A refusal for "from 2026-11-20 to 2026-11-10": the range ends before it starts."""
    found = re.search(rf"(?:from|between) {_DATE} (?:to|and|until|till|through|-) {_DATE}", text)
    if not found:
        return None
    first, last = _parse_day(found.group(1), now), _parse_day(found.group(2), now)
    if first is not None and last is not None and last < first:
        return f"the range ends before it starts ({first} to {last}); ask for {last} to {first}?"
    return None


# "Overnight" / "last night": from 20:00 UTC the evening before to 08:00 UTC (or now).
NIGHT_START_HOUR, NIGHT_END_HOUR = 20, 8


def overnight(text: str, now: datetime) -> Window | None:
    if not re.search(r"\bover ?night\b|\blast night\b|\bduring the night\b", text):
        return None
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    end = today + timedelta(hours=NIGHT_END_HOUR)
    if now < end:
        end = now
    start = today - timedelta(hours=24 - NIGHT_START_HOUR)
    return Window(start, end, "overnight")


# Parts of a day, in UTC hours [start, end): "this morning", "yesterday afternoon".
DAY_PARTS = {"morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}


def part_of_day(text: str, now: datetime) -> Window | None:
    """ "this morning", "yesterday evening", "earlier this afternoon": those hours of that day;
    WindowError for one that has not begun yet ("this evening" asked at noon)."""
    found = re.search(r"\b(this|yesterday|today|last) (morning|afternoon|evening)\b", text)
    if not found or (found.group(1) == "last" and found.group(2) != "evening"):
        return None
    first, last = DAY_PARTS[found.group(2)]
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    day = today - timedelta(days=1) if found.group(1) in ("yesterday", "last") else today
    start, end = day + timedelta(hours=first), day + timedelta(hours=last)
    label = f"{'yesterday' if day < today else 'this'} {found.group(2)}"
    if start >= now:
        raise WindowError(f"{label} ({start:%H:%M} UTC on) has not begun yet (it is {now:%H:%M})")
    return Window(start, min(end, now), label)


def _one_window(text: str, now: datetime) -> Window | None:
    """The one window a stretch of text names: a range, a date, a relative or calendar phrase
    (agent.time_windows), a month, the night or a part of a day."""
    night = overnight(text, now) or part_of_day(text, now)
    if night is not None:
        return night
    month = find_month(text, now)
    if month is not None and re.search(rf"(?<!\d )(?<!\d\w\w )\b{_MONTH_RE},?\s+\d{{4}}\b", text):
        return month  # "October 2025": a month of a year, not "October 20"
    found = find_window(text, now)
    if found is None:
        return month
    if month is not None and found.label in ("last month", "this month"):
        return found
    if month is not None and re.fullmatch(
        r"last \d+ (?:minute|hour|day|week)s?|last [a-z]+", found.label
    ):
        return found
    return found if month is None or found.duration < month.duration else month


def _before(first: Window, words: str) -> Window:
    """The window just before `first`: a named unit ("the week before") is that unit's
    length; otherwise as long as `first` ("the 7 days before")."""
    unit = re.search(r"\b(day|week|month)\b", words)
    if unit is None:
        return first.previous()
    if unit.group(1) == "month":
        start = (first.start.replace(day=1) - timedelta(days=1)).replace(day=1)
    else:
        start = first.start - timedelta(days=7 if unit.group(1) == "week" else 1)
    return Window(start, first.start, f"the {unit.group(1)} before")


def read_time(text: str, now: datetime, known: frozenset[str] = frozenset()) -> TimeReading:
    """`text` is the lower-cased question."""
    now = now.astimezone(UTC)
    mended_text, mended = mend_time_words(text, known)
    refusal = inverted_range(mended_text, now)
    if refusal:
        return TimeReading(refusal=refusal, mended=tuple(mended), text=mended_text)
    compared = _COMPARE_LEAD.search(mended_text)  # "compare this week to last week"
    sides = list(compared.groups()) if compared else _SPLIT.split(mended_text, maxsplit=1)
    since_last = re.search(r"\bsince last (week|month)\b", mended_text)
    if since_last and len(sides) == 1:  # "has it improved since last week": this vs last
        sides = [f"this {since_last.group(1)}", f"last {since_last.group(1)}"]
    if len(sides) == 2:
        first = _one_window(sides[0], now)
        before_it = _BEFORE_IT.search(sides[1])
        second = (
            _before(first, before_it.group(0))
            if first is not None and before_it
            else _one_window(sides[1], now)
        )
        if first is not None and first == second and re.search(r"\b(?:previous|prior)\b", sides[1]):
            second = first.previous()  # "last 24h vs the previous 24h": the 24 h before
        if first is not None and second is not None and first != second:
            return TimeReading(first, second, mended=tuple(mended), text=mended_text)
    window = _one_window(mended_text, now)
    hours = _clock_range(mended_text, window, now)
    if hours is None and _CLOCK_RANGE.search(mended_text):  # "between 2 and 5": not guessed
        found = _CLOCK_RANGE.search(mended_text)
        assert found is not None
        refusal = (
            f"I could not read the hours in {found.group(0)!r}; say them as clock times, "
            'e.g. "between 8am and 10am today" or "from 14:00 to 18:00 yesterday"'
        )
        return TimeReading(refusal=refusal, mended=tuple(mended), text=mended_text)
    return TimeReading(hours or window, mended=tuple(mended), text=mended_text)


_CLOCK = r"(\d{1,2}(?::\d{2})? ?(?:am|pm)?|noon|midnight)"
_CLOCK_RANGE = re.compile(rf"\b(?:between|from) {_CLOCK} (?:and|to|until|till|-) {_CLOCK}\b")


def _clock_hour(text: str, part: str | None = None) -> float | None:
    """ "9am" -> 9, "5:30 pm" -> 17.5, "noon" -> 12, "14:00" -> 14; a bare "8" only within a
    part of the day ("8" in the morning is 8, in the evening 20); None when not a time."""
    if text in ("noon", "midnight"):
        return 12.0 if text == "noon" else 0.0
    found = re.fullmatch(r"(\d{1,2})(?::(\d{2}))? ?(am|pm)?", text)
    if found and part is not None and found.group(2) is None and found.group(3) is None:
        hour = int(found.group(1)) % 12 + (0 if part == "morning" else 12)
        first, last = DAY_PARTS[part]
        return float(hour) if first <= hour <= last else None
    if not found or (found.group(2) is None and found.group(3) is None):
        return None  # "between 2 and 5": days or hours? not guessed
    hour = int(found.group(1)) % 12 if found.group(3) else int(found.group(1))
    if found.group(3) == "pm":
        hour += 12
    return hour + int(found.group(2) or 0) / 60 if hour < 24 else None


def _clock_range(text: str, day: Window | None, now: datetime) -> Window | None:
    """ "between 9am and noon (today|yesterday)": those hours of that one day (today when no
    day is named)."""
    found = _CLOCK_RANGE.search(text)
    if not found:
        return None
    # bare hours are read within a part of the day named: "between 8 and 10 this morning"
    part = next((p for p in DAY_PARTS if day is not None and day.label.endswith(p)), None)
    first, last = (_clock_hour(found.group(i), part) for i in (1, 2))
    if first is None or last is None or last <= first:
        return None
    if day is not None and day.duration > timedelta(days=1):
        return None
    midnight = (day.start if day is not None else now).replace(hour=0, minute=0, second=0)
    start, end = midnight + timedelta(hours=first), midnight + timedelta(hours=last)
    if start >= now:
        return None
    label = f"{start:%Y-%m-%d} {start:%H:%M} to {min(end, now):%H:%M}"
    return Window(start, min(end, now), label)


def default_window(now: datetime, days: int = 7) -> Window:
    return Window(now - timedelta(days=days), now, f"last {days} days")
