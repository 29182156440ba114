"""A question -> an Understood: intent, window(s), filters, grouping, measure, and what was
not understood, all before any tool runs.

Names are looked up in the history's own vocabulary (exact, then typo-tolerant); a name-shaped
word that matches nothing is reported as unknown, never dropped, so an answer is never widened
to the whole cluster without a word. Stored text (logs, evidence) is never read here.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.answer.markdown import code
from agent.time_windows import Window, all_time, find_window
from agent.understanding import lexicon
from agent.understanding.vocabulary import NAME_DIMENSIONS, Vocabulary
from agent.understanding.when import TIME_WORDS, TimeReading, default_window, read_time

DIMENSION_NAMES = {
    "project": "project",
    "node": "node",
    "image": "image",
    "workload_name": "workload",
    "department": "department",
    "workload_type": "workload type",
    "category": "category",
    "kind": "kind",
    "xid_code": "Xid",
}
MEASURE_NAMES = {
    "failures": "failure episodes",
    "workloads": "distinct workloads that failed",
    "gpus": "GPUs requested by the failures",
    "gpu_hours": "GPU-hours lost by failed runs",
    "runs": "finished runs (completed and failed)",
    "share": "the share of all failures",
    "rate": "the failure rate (failed of finished runs)",
}
RANK_NAMES = {
    "gpu_hours_lost": "GPU-hours lost",
    "gpus_requested": "GPUs requested",
    "workloads": "distinct workloads",
    "failure_rate": "failure rate",
}
# The measure a question asks about orders its breakdown too ("most GPU-hours lost by project").
_RANK_OF_MEASURE = {
    "gpu_hours": "gpu_hours_lost", "gpus": "gpus_requested", "workloads": "workloads",
    "rate": "failure_rate",
}  # fmt: skip
_BY_RATE = (
    r"\b(?:highest|worst|biggest|top|most|max)\b[^.?!]{0,25}\b(?:failure )?rates?\b"
    r"|\brates?\b[^.?!]{0,15}\b(?:highest|worst)\b"
)
DEFAULT_TOP = 20
MAX_COMPARED = 6  # "recsys vs vision vs team-nlp": side by side up to this many
# "why did X fail" names a workload even when X is not in the history: say so, don't guess.
_ASKED_WORKLOAD = re.compile(
    r"(?:why did|why has|why does|what happened to|what went wrong with) (?:the )?"
    r"(?:workload |job )?([A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])",
    flags=re.IGNORECASE,
)
_PRONOUNS = frozenset(
    ("it", "they", "this", "that", "the", "my", "our", "we", "so", "jobs", "workloads", "things",
     "everything", "all", "there", "these", "those", "yesterday", "today")
)  # fmt: skip
_NAME_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]*[A-Za-z0-9]|[A-Za-z0-9]")
_TIME_TOKEN = re.compile(
    r"\d+(?:[hdwm]|hrs?|mins?|days?|st|nd|rd|th)?|\d{4}-\d{2}-\d{2}|\d{1,2}:\d{2}|q[1-4]"
    r"|\d{1,2}/\d{1,2}(?:/\d{2,4})?|\d{1,2}(?::\d{2})?(?:am|pm)",
    re.IGNORECASE,
)
# "for the foo image", "in the ml-platform department": a word between these is meant as a name
_NAME_BEFORE = re.compile(r"\b(?:the|for|in|on|of|from|with|about|at|our|my)\s+$", re.I)
_SINGULAR_FOLLOW = re.compile(
    r"\s*(?:node|machine|host|server|project|team|image|workload|job|department)\b(?!s)", re.I
)
_RANK_TOKEN = re.compile(r"(?:top|worst|last|first|best)-?\d+", re.IGNORECASE)  # "top-3"
# A word shaped like a name (a digit, a dash, a dot, a colon or a slash in it): when nothing in
# the history matches it, the question named something that is not there.
_NAME_SHAPED = re.compile(r"[0-9_.:/-]")
# A plain word right after one of these ("project vision", "on node gpu") is meant as a name.
_SINGULAR_LEAD = re.compile(
    r"(?<!which )(?<!what )(?<!each )(?<!every )(?<!whose )(?<!per )"
    r"\b(?:node|machine|host|server|project|team|image|workload|job|department)\s*$",
    re.I,
)  # "which team wastes the most": a question about teams, "wastes" is no team's name


@dataclass(frozen=True)
class Unknown:
    """A name the question used that the history does not contain."""

    dimension: str  # a NAME_DIMENSIONS entry, or "name" when it cannot be told
    value: str
    examples: tuple[str, ...] = ()

    def sentence(self) -> str:
        what = DIMENSION_NAMES.get(self.dimension, "name")
        hint = ""
        if self.examples:
            plural = {"category": "causes", "workload_type": "workload types"}.get(
                self.dimension, f"{what}s"
            )
            hint = f"; known {plural} look like " + ", ".join(code(e) for e in self.examples)
        return f"no {what} {code(self.value)} in the history{hint}"


@dataclass(frozen=True)
class Understood:
    question: str
    intent: str  # help | promql | refuse | read_only | unknown | detail | fix_first | compare
    # | trend | pending | list | analysis | statistics | scope
    window: Window
    window_named: bool
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    xid: bool = False
    group_by: str | None = None
    top: int | None = None
    measure: str = "failures"
    compare_dimension: str | None = None  # "project", "workload_type", "window"
    compare_window: Window | None = None
    workload: str | None = None
    workload_project: str | None = None
    promql: str | None = None
    unknown: tuple[Unknown, ...] = ()
    mended: tuple[tuple[str, str], ...] = ()  # (as typed, read as)
    refusal: str | None = None
    default_window: bool = False
    ignored: tuple[str, ...] = ()  # parts of the question not understood, said on line one
    rank_by: str = "failures"  # what orders a breakdown's groups (agent.tools.stats.RANKINGS)
    analysis_parts: tuple[str, ...] = ()  # "per day", "when do they happen": those parts
    excluded: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # "all but X"
    compare_sides: tuple[tuple[str, ...], ...] = ()  # sides that are sets ("OOM vs evicted")
    growth: str | None = None  # "up": which group grew the most; "down": fell the most
    history_start: datetime | None = None  # the history's first record, when known
    min_wait: timedelta | None = None  # pending lists: only those that waited at least this

    def sides(self) -> tuple[tuple[str, ...], ...]:
        """What a comparison sets side by side: one value each, or a set each."""
        if self.compare_sides:
            return self.compare_sides
        return tuple((v,) for v in self.filters.get(self.compare_dimension or "", ()))

    def tool_filters(self) -> dict[str, Any]:
        """The filters as tool arguments: one value as a string, several as a list."""
        out: dict[str, Any] = {
            k: (v[0] if len(v) == 1 else list(v)) for k, v in self.filters.items()
        }
        if self.xid:
            out["xid"] = True
        return out

    def scope_words(self, skip: str | tuple[str, ...] | None = None) -> str:
        """ "project `a` or `b`, cause `gpu_oom`" (empty when unfiltered)."""
        words = [
            f"{DIMENSION_NAMES.get(k, k)} "
            + (
                "other than " + " or ".join(code(v) for v in self.excluded[k])
                if k in self.excluded
                else " or ".join(code(v) for v in values)
            )
            for k, values in self.filters.items()
            if k != skip and not (isinstance(skip, tuple) and k in skip)
        ]
        if self.xid:
            words.append("evidence carrying an Xid")
        return ", ".join(words)

    def interpretation(self) -> str:
        """One line: what the answer is about (window, filters, measure, grouping)."""
        if self.intent == "read_only":
            return "_Understood: a request to change something, not a question; nothing was done._"
        if self.intent == "refuse":
            return (
                f"_Understood: a question about {MEASURE_NAMES[self.measure]} that cannot be "
                "answered as asked (why below)._"
            )
        if self.intent == "detail" and self.workload:
            who = (
                f"{self.workload_project}/{self.workload}"
                if self.workload_project
                else self.workload
            )
            line = f"the failures of workload {code(who)}"
            if self.window_named:
                line += f", {self.window.describe()}"
        else:
            line = MEASURE_NAMES[self.measure]
            scope = self.scope_words(skip=self.compare_dimension)
            if scope:
                line += f" for {scope}"
            if self.compare_dimension and self.compare_dimension != "window":
                what = DIMENSION_NAMES.get(self.compare_dimension, self.compare_dimension)
                line += f" {'and' if scope else 'for'} {what} "
                line += " vs ".join(
                    " + ".join(code(v) for v in side) for side in self.sides()
                )
            if self.compare_window is not None:
                line += f", {self.window.describe()} vs {self.compare_window.describe()}"
            else:
                line += f", {self.window.describe()}"
                if self.default_window:
                    line += " (no time named: the default)"
            if self.group_by and self.intent != "growth":
                top = f"top {self.top} " if self.top else ""
                line += f", {top}by {DIMENSION_NAMES[self.group_by]}"
                if self.rank_by != "failures":
                    line += f", ranked by {RANK_NAMES[self.rank_by]}"
            if self.intent == "fix_first":
                top = f"the top {self.top} " if self.top else ""
                line += f", {top}ranked by GPUs affected"
            if self.intent == "pending":
                line += ", oldest first, with how long each waited"
                if self.min_wait is not None:
                    line += f", those waiting at least {_plain_span(self.min_wait)}"
            if self.intent == "growth":
                what = DIMENSION_NAMES[self.group_by or "category"]
                way = "rise" if self.growth == "up" else "fall"
                top = f"the top {self.top} by " if self.top else ""
                line += f", the change by {what}, {top}largest {way} first"
            if "daily" in self.analysis_parts:
                line += ", per day"
            if "peaks" in self.analysis_parts:
                line += ", by hour of the day"
            if "repeats" in self.analysis_parts:
                line += ", workloads and images failing repeatedly"
        notes = [f"read {code(typed)} as {code(read)}" for typed, read in self.mended]
        text = f"_Understood: {line}" + (f" ({'; '.join(notes)})" if notes else "") + "._"
        if self.ignored:
            text += " _Not understood: " + "; ".join(self.ignored) + "._"
        return text

    def hints(self) -> dict[str, Any]:
        """The understood question as data for the LLM (structured hints, not instructions)."""
        return {
            "intent": self.intent,
            "window": self.window.to_dict(),
            "window_named_in_question": self.window_named,
            "compare_window": self.compare_window.to_dict() if self.compare_window else None,
            "filters": self.tool_filters(),
            "compare_dimension": self.compare_dimension,
            "compare_sides": [list(side) for side in self.sides()],
            "excluded": {k: list(v) for k, v in self.excluded.items()},
            "group_by": self.group_by,
            "rank_by": self.rank_by,
            "analysis_parts": list(self.analysis_parts),
            "growth": self.growth,
            "top": self.top,
            "measure": self.measure,
            "workload": self.workload,
            "workload_project": self.workload_project,
            "unknown_names": [{"dimension": u.dimension, "value": u.value} for u in self.unknown],
            "read_as": [{"typed": t, "read_as": r} for t, r in self.mended],
            "refusal": self.refusal,
            "not_understood": list(self.ignored),
        }


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


@dataclass
class _Names:
    values: dict[str, list[str]] = field(default_factory=dict)
    unknown: list[Unknown] = field(default_factory=list)
    mended: list[tuple[str, str]] = field(default_factory=list)
    workload_project: str | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)
    negated: set[tuple[str, str]] = field(default_factory=set)  # "excluding X": (dimension, X)
    text: str = ""
    # What each word named, in the order said: one value, or the set a part names ("the a100
    # nodes"), so "a100 vs h100 nodes" sets two sets side by side.
    sides: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)

    def add(
        self, dimension: str, value: str, span: tuple[int, int], side: bool = True
    ) -> None:
        found = self.values.setdefault(dimension, [])
        if value not in found:
            found.append(value)
        if side and (value,) not in self.sides.get(dimension, []):
            self.sides.setdefault(dimension, []).append((value,))
        self.spans.append(span)
        if _negated(self.text, span[0]):
            self.negated.add((dimension, value))

    def add_set(self, dimension: str, values: tuple[str, ...], span: tuple[int, int]) -> None:
        for value in values:
            self.add(dimension, value, span, side=False)
        self.sides.setdefault(dimension, []).append(values)


def _negated(text: str, start: int) -> bool:
    """Whether the words just before `start` put it out ("excluding", "not caused by")."""
    return re.search(lexicon.NEGATION, text[max(0, start - 40) : start].lower()) is not None


def _without(
    filters: dict[str, list[str]], negated: set[tuple[str, str]], vocab: Vocabulary
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Turn "all but X" into the other known values of X's dimension (the tools filter by
    inclusion); returns what was excluded per dimension, and notes for what could not be."""
    excluded: dict[str, tuple[str, ...]] = {}
    notes: list[str] = []
    for dimension, values in list(filters.items()):
        out = tuple(v for v in values if (dimension, v) in negated)
        if not out:
            continue
        kept = [v for v in values if (dimension, v) not in negated]
        if not kept:
            kept = [v for v in vocab.values(dimension) if v not in out]
        if kept:
            filters[dimension] = kept
            excluded[dimension] = out
        else:
            del filters[dimension]
            notes.append(f"excluding {', '.join(code(v) for v in out)}: nothing else is known")
    return excluded, notes


def _dimension_before(text: str, start: int) -> str | None:
    """The dimension a word is introduced by ("node X", "on machine X", "project X")."""
    before = text[:start].rstrip().lower()
    for pattern, dimension in lexicon.DIMENSION_WORDS:
        if re.search(rf"\b(?:{pattern})$", before):
            return dimension
    return None


def _candidates(question: str) -> list[tuple[str, tuple[int, int]]]:
    out = []
    for match in _NAME_TOKEN.finditer(question):
        token = match.group(0)
        end = match.end()
        if token.endswith("'s"):
            token, end = token[:-2], end - 2
        token = token.rstrip(".:")
        if len(token) < 2 or token.isdigit() or _TIME_TOKEN.fullmatch(token):
            continue
        if _RANK_TOKEN.fullmatch(token):
            continue
        out.append((token, (match.start(), match.start() + len(token))))
    return out[:64]


def _spaced_names(
    candidates: list[tuple[str, tuple[int, int]]], vocab: Vocabulary
) -> list[tuple[str, str, str, tuple[int, int]]]:
    """Two neighbouring words that are one name written with a space ("search ranking" for
    search-ranking): (dimension, name, as typed, span of both)."""
    found = []
    for (first, (start, _)), (second, (_, end)) in itertools.pairwise(candidates):
        for joined in (f"{first}-{second}", f"{first}_{second}", f"{first}{second}"):
            hit = next(
                ((d, v) for d in NAME_DIMENSIONS if (v := vocab.exact(d, joined)) is not None),
                None,
            )
            if hit is not None:
                found.append((hit[0], hit[1], f"{first} {second}", (start, end)))
                break
    return found


def _find_names(question: str, vocab: Vocabulary) -> _Names:
    names = _Names(text=question)
    asks_image = _has(r"\b(?:image|docker|container|using|built (?:on|from))", question.lower())
    candidates = _candidates(question)
    taken: list[tuple[int, int]] = []
    for dimension, value, typed, span in _spaced_names(candidates, vocab):
        if any(a < span[1] and span[0] < b for a, b in taken):
            continue
        names.add(dimension, value, span)
        names.mended.append((typed, value))
        taken.append(span)
    for token, span in candidates:
        if any(a <= span[0] < b for a, b in taken):
            continue
        lower = token.lower()
        if "/" in token and not vocab.exact("image", token):
            project, _, name = token.partition("/")
            known_project = vocab.exact("project", project) or vocab.typo_of("project", project)
            if known_project and name:
                workload = vocab.exact("workload_name", name) or vocab.typo_of(
                    "workload_name", name
                )
                names.add("project", known_project, span)
                if workload:
                    names.add("workload_name", workload, span)
                    names.workload_project = known_project
                else:
                    names.unknown.append(
                        Unknown("workload_name", token, vocab.examples("workload_name", name))
                    )
                continue
        exact = next(
            ((d, v) for d in NAME_DIMENSIONS if (v := vocab.exact(d, token)) is not None), None
        )
        if exact is None and asks_image and (repo := vocab.image_by_repo(token)):
            exact = ("image", repo)
        if exact is not None:
            names.add(exact[0], exact[1], span)
            continue
        parts = [part for part in re.split(r"[-_ ]+", lower) if part]
        if all(part in lexicon.LEXICON_WORDS and len(part) > 1 for part in parts):
            continue  # "GPU-hours", "out-of-memory": question words, not a name ("team-a" is)
        if lower in vocab.values("category") or lower in vocab.values("workload_type"):
            continue
        introduced = _dimension_before(question, span[0])
        typo = next(
            (
                (d, v)
                for d in ((introduced,) if introduced in NAME_DIMENSIONS else NAME_DIMENSIONS)
                if d is not None and (v := vocab.typo_of(d, token)) is not None
            ),
            None,
        )
        if typo is not None:
            names.add(typo[0], typo[1], span)
            names.mended.append((token, typo[1]))
            continue
        after = _dimension_after(question, span[1])
        part_of = _part_of_names(token, introduced or after, vocab)
        if part_of is not None:
            names.add_set(part_of[0], part_of[1], span)
            names.mended.append((token, ", ".join(part_of[1])))
            continue
        named_by = (introduced, after)  # "project X" / "the X project": X is meant as a name
        if (
            _NAME_SHAPED.search(token)
            or (introduced in NAME_DIMENSIONS and _SINGULAR_LEAD.search(question[: span[0]]))
            or (
                after in NAME_DIMENSIONS
                and _NAME_BEFORE.search(question[: span[0]])
                and _SINGULAR_FOLLOW.match(question[span[1] :])
            )
        ):
            dimension = next(
                (d for d in named_by if d in NAME_DIMENSIONS), None
            ) or _likely_dimension(token, vocab)
            examples = vocab.examples(dimension, token) if dimension != "name" else ()
            names.unknown.append(Unknown(dimension, token, examples))
            names.spans.append(span)
    return names


def _dimension_after(text: str, end: int) -> str | None:
    """The dimension a word is followed by ("h100 nodes", "the nlp team")."""
    after = text[end:].lstrip().lower()
    for pattern, dimension in lexicon.DIMENSION_WORDS:
        if re.match(rf"(?:{pattern})\b", after):
            return dimension
    return None


MAX_PART_MATCHES = 8  # "a100 nodes": more names than this and the word is too vague to filter


def _part_of_names(
    token: str, dimension: str | None, vocab: Vocabulary
) -> tuple[str, tuple[str, ...]] | None:
    """ "h100" -> the nodes whose names hold it as a part (dgx-h100-01, dgx-h100-02); "nlp
    team" -> team-nlp. Only next to a dimension word or for a word with a digit in it: a plain
    word alone ("train") is part of too many names to mean one set of them."""
    if len(token) < 3 or not (dimension in NAME_DIMENSIONS or re.search(r"\d", token)):
        return None
    word = re.sub(r"(?<=\d)s$", "", token.lower())  # "the h100s": the h100 nodes
    part = re.compile(rf"(?:^|[-_.:/]){re.escape(word)}(?:$|[-_.:/])")
    for candidate in (dimension,) if dimension in NAME_DIMENSIONS else NAME_DIMENSIONS:
        assert candidate is not None
        found = tuple(v for v in vocab.values(candidate) if part.search(v.lower()))
        if 0 < len(found) <= MAX_PART_MATCHES:
            return candidate, found
    return None


def _likely_dimension(token: str, vocab: Vocabulary) -> str:
    """The dimension whose names look most like token (by similarity), else "name"."""
    best, score = "name", 55.0
    for dimension in NAME_DIMENSIONS:
        near = vocab.closest(dimension, token)
        if near is not None and near[1] > score:
            best, score = dimension, near[1]
    return best


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with the names cut out, so a name never reads as a lexicon word."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


@dataclass
class _Causes:
    """The causes a question names: all of them, each phrase's set in the order said ("OOM vs
    evictions" is two sides, gpu_oom + oom_killed and evicted), and the excluded ones."""

    found: list[str] = field(default_factory=list)
    groups: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    negated: set[tuple[str, str]] = field(default_factory=set)
    xid: bool = False


def _categories(text: str) -> tuple[_Causes, str]:
    causes = _Causes()
    found, negated = causes.found, causes.negated
    for pattern, categories in lexicon.CATEGORY_TERMS:
        for match in list(re.finditer(rf"(?<![a-z0-9]){pattern}", text)):
            # "Xid" is a side of its own in "nccl errors vs xid": rows carrying an Xid
            named = tuple(c for c in categories if c != lexicon.XID) or categories
            if all(named != group for _, group in causes.groups):
                causes.groups.append((match.start(), named))
            for category in categories:
                if category == lexicon.XID:
                    causes.xid = True
                elif category not in found:
                    found.append(category)
                if _negated(text, match.start()):
                    negated.add(("category", category))
            text = text[: match.start()] + " " * (match.end() - match.start()) + text[match.end() :]
    causes.groups.sort()
    return causes, text


def _xid_codes(text: str) -> list[str]:
    """ "Xid 79", "xid 13 or 43", "Xids 31, 43": the numbers asked for (none: any Xid)."""
    codes: list[str] = []
    for found in re.finditer(
        r"\bxids?\s*(?:#|codes?|errors?|no\.?)?\s*(\d{1,3}(?:\s*(?:,|and|or|/|&)\s*\d{1,3})*)\b",
        text,
    ):
        codes += [c for c in re.findall(r"\d{1,3}", found.group(1)) if c not in codes]
    return codes


def _unheld_dimensions(text: str) -> tuple[list[str], str]:
    """ "by user", "which clusters": groupings the history cannot give, named and cut out."""
    notes: list[str] = []
    for pattern, what in lexicon.UNHELD_DIMENSIONS:
        asked = rf"\b(?:{lexicon.GROUP_LEADS})(?: (?:the|\d+|[a-z]+est))? (?:{pattern})\b"
        for match in list(re.finditer(asked, text)):
            notes.append(
                f"{code(match.group(0))}: the history records no {what}, so the answer is not "
                f"broken down by {what}"
            )
            text = text[: match.start()] + " " * (match.end() - match.start()) + text[match.end() :]
    return notes, text


def _unheld_filter(text: str) -> str | None:
    """Why "for user alice" cannot be answered (the history records no user), or None."""
    for found in re.finditer(lexicon.UNHELD_FILTER, text):
        value = found.group(2)
        if value in lexicon.LEXICON_WORDS:  # "user code", "cluster health": words, not names
            continue
        what = found.group(1).replace("nodepool", "node pool")
        return (
            f"the history records no {what}, so {code(value)} cannot be looked up; nothing is "
            "answered for the whole cluster in its place"
        )
    return None


# The window a baseline is set against when only the baseline is named ("compared to last week").
_COUNTERPART = {"last week": "this week", "yesterday": "today", "last month": "this month"}


_VERSUS = r"(?:vs\.?|versus|compared (?:to|with)|against|(?:more|less|fewer|worse|better) than)"
_SIDE_NOUN = r"(?:\s+(?:failures?|errors?|problems?|issues?|crashes|jobs?|workloads?|faults?))?"
_SIDE_WORDS = frozenset(
    lexicon.STOPWORDS | set(TIME_WORDS) | {"failures", "errors", "problems", "issues", "jobs"}
)


def _unmapped_sides(text: str) -> list[str]:
    """Words on either side of "vs" that nothing read (names and causes are cut out of `text`
    by then): "hardware vs software" leaves "software", which maps to no cause."""
    words = re.findall(rf"([a-z][\w-]*){_SIDE_NOUN}\s+{_VERSUS}\s", text)
    words += re.findall(rf"{_VERSUS}\s+(?:the\s+)?([a-z][\w-]*)", text)
    known = [p for p, _ in (*lexicon.TYPE_TERMS, *lexicon.KIND_TERMS)]
    return [
        w for w in dict.fromkeys(words)
        if w not in _SIDE_WORDS and not any(re.search(p, w) for p in known)
    ]  # fmt: skip


def _sides(
    dimension: str | None,
    causes: _Causes,
    names: _Names,
    excluded: Mapping[str, tuple[str, ...]],
) -> tuple[tuple[str, ...], ...]:
    """The sides of a comparison when one of them is a set: causes named by one word ("OOM vs
    evictions"), or names sharing a part ("a100 vs h100 nodes"); () when each is one value."""
    if dimension == "category" and 2 <= len(causes.groups) <= MAX_COMPARED:
        return tuple(group for _, group in causes.groups)
    sides = names.sides.get(dimension or "", [])
    if dimension in excluded or not any(len(side) > 1 for side in sides):
        return ()
    return tuple(sides)


def _growth_windows(
    time: TimeReading, window: Window, text: str, now: datetime
) -> tuple[Window, Window]:
    """The window to measure and the one before it: two named windows as said; one window
    named as the baseline ("compared to last week") set against its counterpart (this week);
    otherwise the window and the one of equal length before it."""
    if time.compare_with is not None:
        return window, time.compare_with
    baseline = time.window is not None and re.search(
        r"\b(?:compared? (?:to|with)|vs\.?|versus|than|against|relative to)\s", text
    )
    if baseline:
        counterpart = _COUNTERPART.get(window.label)
        current = find_window(counterpart, now) if counterpart else None
        if current is None:
            days = window.duration.days
            label = f"last {days} days" if days > 1 else "the same span to now"
            current = Window(now - window.duration, now, label)
        return current, window
    return window, window.previous()


_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
         "w": timedelta(weeks=1)}  # fmt: skip


def _span(found: re.Match[str]) -> timedelta | None:
    """ "more than 2 hours" -> 2 h (a lexicon.MIN_WAIT match)."""
    amount = 1 if found.group(1) in ("a", "an") else _number(found.group(1))
    return None if amount is None else amount * _UNIT[found.group(2)[0]]


def _plain_span(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    if hours >= 24 and hours % 24 == 0:
        days = int(hours // 24)
        return f"{days} day{'s' if days > 1 else ''}"
    return f"{hours:g} hour{'s' if hours != 1 else ''}" if hours >= 1 else f"{hours * 60:g} min"


def _within_history(window: Window | None, vocab: Vocabulary) -> Window | None:
    """ "ever", "all history": from the history's first record, so every line states its real
    span rather than one starting in 1970."""
    first = vocab.first_record
    if window is None or first is None or window.start.year > 1970:
        return window
    first = first.astimezone(UTC)
    return Window(first, window.end, window.label) if first < window.end else window


def _read_only(verb: str, names: _Names) -> str:
    """One line for a request to change something: the agent only reads, and what it can do."""
    workloads, nodes = names.values.get("workload_name", []), names.values.get("node", [])
    if workloads:
        instead = f'why {code(workloads[0])} failed (ask "why did {workloads[0]} fail")'
    elif nodes:
        instead = f'what is wrong with {code(nodes[0])} (ask "is node {nodes[0]} flaky")'
    else:
        instead = 'what failed and what to fix first (ask "what should I fix first")'
    return (
        f"this agent is read-only: it reads the failure history and cannot {verb} anything; "
        f"make the change in Run:ai (its UI, CLI or API). It can tell you {instead}"
    )


def _unread_time(text: str) -> str | None:
    """A time phrase the window reader could not read, or None."""
    found = re.search(lexicon.TIME_HINTS, text)
    return found.group(0) if found else None


def _number(word: str) -> int | None:
    return int(word) if word.isdigit() else lexicon.NUMBER_WORDS.get(word)


def _group_and_top(text: str) -> tuple[str | None, int | None]:
    top = None
    # "top 5", "top five", "worst 3", "the 3 worst": the first that says a number wins
    dimensions = "|".join(p for p, _ in lexicon.DIMENSION_WORDS)
    for found in re.finditer(
        r"\b(?:top|worst|biggest)[ -]?(\d+|[a-z]+)\b|\b(\d+|[a-z]+) (?=(?:worst|most|biggest)\b)"
        r"|\b(?:which|what|the|show|list|name)(?: me)?(?: the)? (\d+|[a-z]+) "
        rf"(?=(?:{dimensions})\b)",
        text,
    ):  # ... "which 2 projects fail the most": a number said before the dimension
        top = _number(found.group(1) or found.group(2) or found.group(3))
        if top is not None:
            break
    if top is None and _has(r"\btop\b", text):
        top = 5
    for pattern, dimension in lexicon.DIMENSION_WORDS:
        leads = rf"\b(?:{lexicon.GROUP_LEADS})(?: (?:the|\d+|[a-z]+est))? (?:{pattern})\b"
        most = (
            rf"\b(?:{pattern}) (?:with|has|have|had|that have|that had|saw) (?:the )?"
            r"(?:most|more|highest)"
        )
        most_failing = rf"\bmost (?:often )?fail(?:ing|ed|s)? (?:{pattern})\b"
        ranked = (
            rf"\b(?:{pattern}) (?:ranked|sorted|ordered)\b"
            rf"|\b(?:rank|sort|order)(?:ed)? (?:the |all )?(?:{pattern})\b"
        )
        if _has(leads, text) or _has(most, text) or _has(most_failing, text) or _has(ranked, text):
            return dimension, top
    return None, top


def understand(
    question: str, now: datetime, vocab: Vocabulary, promql: str | None = None
) -> Understood:
    """Read the question against the history's vocabulary (no tool runs here)."""
    original = " ".join(question.split())
    names = _find_names(original, vocab)
    lowered = " ".join(_blank(original, names.spans).lower().replace("’", "'").split())
    lowered = re.sub(r"\b(per|by|each|top|worst)-", r"\1 ", lowered)  # "per-project", "top-3"
    time = read_time(lowered, now, vocab.all_lower)  # names are never mended into time words
    text = time.text
    window = _within_history(time.window, vocab) or default_window(now)
    base = {
        "question": question,
        "window": window,
        "window_named": time.window is not None,
        "default_window": time.window is None,
        "mended": (*names.mended, *time.mended),
    }
    if promql:
        return Understood(intent="promql", promql=promql, **base)  # type: ignore[arg-type]
    typed = original.lower().replace("’", "'")
    change = re.search(lexicon.CHANGE_REQUEST, typed)
    if change and (
        _has(lexicon.POLITE_LEAD, typed[: change.start("verb")])
        or not _has(lexicon.QUESTION_WORD, typed[change.end() :])
    ):
        refusal = _read_only(change.group("verb"), names)
        return Understood(intent="read_only", refusal=refusal, **base)  # type: ignore[arg-type]
    if time.refusal:
        return Understood(intent="refuse", refusal=time.refusal, **base)  # type: ignore[arg-type]
    if _has(lexicon.OFFTOPIC, text) and not names.values and not names.unknown:
        return Understood(intent="help", **base)  # type: ignore[arg-type]
    ignored: list[str] = []
    if time.window is None:
        vague = re.search(lexicon.VAGUE_TIME, text)
        unread = _unread_time(text)
        if vague:
            ignored.append(
                f"{code(vague.group(0))} names no definite window, so the default is used"
            )
        elif unread:
            refusal = (
                f"I could not read the time in {code(unread)}; ask with a window such as "
                '"last 7 days", "since Monday", "on Tuesday", "2026-11-20" or "in November"'
            )
            return Understood(intent="refuse", refusal=refusal, **base)  # type: ignore[arg-type]
    live = re.search(lexicon.UNHELD_MEASURES, text)
    if live:
        refusal = (
            f"the history records failures and finished runs, not {code(live.group(0))}; live "
            'GPU state is in Prometheus (ask "GPU utilization from Prometheus")'
        )
        return Understood(intent="refuse", refusal=refusal, **base)  # type: ignore[arg-type]
    unheld_filter = _unheld_filter(text)
    if unheld_filter is not None:
        base["ignored"] = tuple(ignored)
        return Understood(intent="refuse", refusal=unheld_filter, **base)  # type: ignore[arg-type]
    unheld, text = _unheld_dimensions(text)
    ignored += unheld
    base["ignored"] = tuple(ignored)

    filters: dict[str, list[str]] = {k: list(v) for k, v in names.values.items()}
    codes = _xid_codes(text)
    if codes:
        filters["xid_code"] = codes
    causes, text = _categories(text)
    xid = causes.xid and not codes  # "Xid 79": the code filter says it all
    if causes.found:
        filters["category"] = sorted(causes.found)
    excluded, notes = _without(filters, names.negated | causes.negated, vocab)
    if notes:
        base["ignored"] = tuple(ignored + notes)
    kinds = [kind for pattern, kind in lexicon.KIND_TERMS if _has(pattern, text)]
    if kinds:
        filters["kind"] = kinds
    # In the order the question names them: "training vs inference" keeps its sides.
    named_types = [(m.start(), t) for p, t in lexicon.TYPE_TERMS if (m := re.search(p, text))]
    types = [t for _, t in sorted(named_types)]
    if types:
        filters["workload_type"] = types
    group_by, top = _group_and_top(text)
    # "waiting for GPUs" names the kind, not a measure of GPUs
    unkinded = re.sub("|".join(p for p, _ in lexicon.KIND_TERMS), " ", text)
    measure = next(
        (m for pattern, m in lexicon.MEASURE_TERMS if _has(pattern, unkinded)), "failures"
    )

    workloads = filters.get("workload_name", [])
    workload = workloads[0] if len(workloads) == 1 else None
    if workload and group_by == "workload_name":
        group_by = None
    compare_words = _has(lexicon.COMPARE, text) or _has(r"\b(?:vs|versus)\b", lowered)
    compare_dimension = None
    if time.compare_with is not None:
        compare_dimension = "window"
    elif (
        compare_words
        or _has(r"\bwhich\b.*\bor\b|\bwho\b.*\bor\b", text)
        or (_has(r"\bor\b", text) and _has(lexicon.MORE_OR_LESS, text))
    ):
        compare_dimension = next(
            (d for d in ("project", "workload_type", "node", "image", "category", "department",
                         "kind")
             if 2 <= len(causes.groups if d == "category" and causes.xid
                         else names.sides.get(d, filters.get(d, ()))) <= MAX_COMPARED),
            None,
        )  # fmt: skip
    if compare_words and compare_dimension is None:
        unmapped = _unmapped_sides(text)
        if unmapped and not (filters or xid):
            refusal = (
                f"no side of the comparison ({', '.join(code(w) for w in unmapped)}) names a "
                "cause, project, node, image, workload type or kind in the history, so nothing "
                'is compared; name them, e.g. "gpu_hardware vs nccl" or "recsys vs vision"'
            )
            return Understood(intent="refuse", refusal=refusal, **base)  # type: ignore[arg-type]
        ignored += [
            f"{code(word)} (a side of the comparison) names no cause, project, node, image, "
            "workload type or kind in the history, so it is not compared"
            for word in unmapped
        ]
        base["ignored"] = tuple(ignored)
    if compare_dimension == "category" and causes.xid:
        xid = False  # a side of the comparison, not a filter on both
    frozen = {k: tuple(v) for k, v in filters.items()}
    rank_by = "failure_rate" if _has(_BY_RATE, text) else _RANK_OF_MEASURE.get(measure, "failures")
    rest: dict[str, Any] = {
        "excluded": excluded,
        "rank_by": rank_by if group_by else "failures",
        **base,
        "filters": frozen,
        "xid": xid,
        "group_by": group_by,
        "top": top,
        "measure": measure,
        "unknown": tuple(names.unknown),
        "compare_dimension": compare_dimension,
        "compare_sides": _sides(compare_dimension, causes, names, excluded),
        "compare_window": time.compare_with,
        "workload_project": names.workload_project,
    }
    asked = _ASKED_WORKLOAD.search(original)
    if asked and not workload and not names.unknown:
        name = asked.group(1)
        part = _part_of_names(name, "workload_name", vocab)
        if part is not None and len(part[1]) == 1:  # "the nightly job": recsys-train-nightly
            workload = part[1][0]
            rest["mended"] = (*rest["mended"], (name, workload))
        elif name.lower() not in _PRONOUNS and not any(
            name.lower() == v.lower() for values in filters.values() for v in values
        ):
            names.unknown.append(
                Unknown("workload_name", name, vocab.examples("workload_name", name))
            )
            rest["unknown"] = tuple(names.unknown)
    if names.unknown and asked and names.unknown[-1].value == asked.group(1):
        # "why did X fail": the detail tool says whether X ever failed; the hint is added
        return Understood(intent="detail", workload=asked.group(1), **rest)
    if names.unknown:
        return Understood(intent="unknown", **rest)
    if _has(lexicon.HELP, text) and not (frozen or xid or workload):
        return Understood(intent="help", **rest)
    if workload and (
        _has(lexicon.DETAIL + "|" + lexicon.STORY, text)
        or not _has(lexicon.STATS + "|" + lexicon.LIST, text)
    ):
        rest["filters"] = {k: v for k, v in frozen.items() if k not in ("workload_name",)}
        return Understood(intent="detail", workload=workload, **rest)
    if _has(lexicon.FIX_FIRST, text):
        return Understood(intent="fix_first", **rest)
    growth = "up" if _has(lexicon.GROWTH, text) else "down" if _has(lexicon.SHRINK, text) else None
    if growth and measure == "failures":
        now_window, before = _growth_windows(time, window, lowered, now)
        rest.update(window=now_window, compare_window=before, default_window=time.window is None)
        rest.update(history_start=vocab.first_record, compare_dimension=None)
        return Understood(
            intent="growth", growth=growth, **{**rest, "group_by": group_by or "category"}
        )
    if compare_dimension is not None:
        return Understood(intent="compare", **rest)
    if _has(lexicon.TREND, text):
        return Understood(intent="trend", **rest)
    if (
        frozen.get("kind") == ("pending",)
        and measure == "failures"
        and group_by in (None, "workload_name")
        and (_has(lexicon.PENDING_LIST, text) or not _has(lexicon.STATS, text))
    ):
        wait = re.search(lexicon.MIN_WAIT, text)
        return Understood(
            intent="pending", min_wait=_span(wait) if wait else None, **{**rest, "group_by": None}
        )
    listed = re.search(lexicon.LIST_N, text)
    count = _number(listed.group(1) or listed.group(2)) if listed else None
    if count is None and _has(lexicon.LIST_ONE, text):
        count = 1
    if count and measure == "failures" and group_by is None:
        if not time.window:  # "the last 5 failures": the newest five, however old
            rest.update(window=_within_history(all_time(now), vocab), default_window=False)
        return Understood(intent="list", **{**rest, "top": count})
    parts = tuple(part for pattern, part in lexicon.ANALYSIS_PARTS if _has(pattern, text))
    if parts and group_by is None and measure == "failures":
        return Understood(intent="analysis", analysis_parts=(*parts, "causes"), **rest)
    if _has(lexicon.LIST, text) and not _has(lexicon.STATS, text) and measure == "failures":
        return Understood(intent="list", **rest)
    if _has(lexicon.ANALYSIS, text) and group_by is None and measure == "failures":
        return Understood(intent="analysis", **rest)
    if group_by or top or measure != "failures" or _has(lexicon.STATS, text):
        return Understood(intent="statistics", **rest)
    if frozen or xid:
        return Understood(intent="scope", **rest)
    if _has(lexicon.FAILURE_WORDS, text) or time.window is not None:
        return Understood(intent="statistics", **rest)
    return Understood(intent="help", **rest)
