"""Run eval cases: each is a question, a seeded history, and the facts its answer must contain.

A case file (agent/evals/cases/*.json) holds one case:
    {"question": "Why did train-llama-7b fail?",
     "tags": ["workload", "detail"],
     "history": "standard"            (a name in histories/, or an inline spec),
     "now": "2026-11-26T12:00:00Z"    (optional; the clock the history is relative to),
     "must_contain": ["gpu_oom", "CUDA out of memory"],
     "must_not_contain": ["Traceback"],
     "must_contain_any": [["does not exist", "no node", "unknown node"]]
                                      (each inner list: at least one alternative must appear),
     "must_match" / "must_not_match": [r"regex", ...]   (re.IGNORECASE | re.MULTILINE),
     "must_state": [{"number": "7", "near": ["search-ranking"]}]
                                      (the number as a whole number, on one line within
                                       NEAR_CHARS of one of the words; "must_not_state" the same
                                       for a number that would be a wrong answer),
     "derive": [{"sql": "SELECT count(*) FROM failure_events WHERE ...", "value": 7}]
                                      (how an expected number follows from the history; the tests
                                       re-run the SQL against the seeded file),
     "tools": ["failure_detail"]      (optional: tool names that must have run),
     "forbidden_tools": ["promql_query"] (optional: tool names that must not run)}
Facts are matched case-insensitively on the answer's markdown.

Two parts: cases/ (development: the planner is built against them) and heldout/ (scored, never
developed against). Development cases the planner is known to fail are listed, each with a
reason, in expected_failures.txt; the held-out part is judged by its pass rate against
thresholds.json.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from agent.evals.seed import load_history_spec, seed_history
from agent.types import Answer, ToolContext

EVALS_DIR = Path(__file__).resolve().parent
CASES_DIR = EVALS_DIR / "cases"
HELDOUT_DIR = EVALS_DIR / "heldout"
EXPECTED_FAILURES_FILE = EVALS_DIR / "expected_failures.txt"
THRESHOLDS_FILE = EVALS_DIR / "thresholds.json"
# How far (characters, same line) a stated number may sit from the word it belongs to: a table
# row ("| search-ranking | 7 |"), "7 failures in search-ranking" and "search-ranking: 7" all fit.
NEAR_CHARS = 60
# Tags that describe how a question is phrased rather than what it asks; every other tag is an
# intent tag, and each intent needs at least three phrasings.
PHRASING_TAGS = frozenset(
    {"typo", "abbreviation", "nonexistent", "comparison", "offtopic", "or_filter", "synonym",
     "project_name_form", "casual", "top_n", "time_expression"}
)  # fmt: skip
DEFAULT_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

AnswerFn = Callable[[str, ToolContext], Answer]


@dataclass(frozen=True)
class StatedNumber:
    """A number the answer must (or must not) state next to one of the `near` words."""

    number: str
    near: tuple[str, ...]

    def pattern(self) -> re.Pattern[str]:
        # A whole number: not a piece of a date, a time, a node name, a longer number, a window
        # ("last 7 days", "top 3"), a size in quoted evidence ("Tried to allocate 6.00 GiB") or
        # (unless the number itself is one) a percentage; "7" also matches "7.0", "50%" also
        # "50.0 %".
        before = r"(?<![\w.,:/-])(?<!top )"
        if self.number.endswith("%"):
            core = re.escape(self.number[:-1].strip())
            return re.compile(rf"{before}{core}(?:\.0+)?\s*%", re.IGNORECASE)
        after = (
            r"(?![\w:/]|[.,]\d|\s*%"
            r"|\s*(?:days?|hours?|weeks?|months?|minutes?|hrs?|pp|[kmgt]i?b|bytes?)\b)"
        )
        return re.compile(rf"{before}{re.escape(self.number)}(?:\.0+)?{after}", re.IGNORECASE)

    def found_in(self, text: str) -> bool:
        words = [w.lower() for w in self.near]
        for line in text.lower().splitlines():
            for hit in self.pattern().finditer(line):
                window = line[max(0, hit.start() - NEAR_CHARS) : hit.end() + NEAR_CHARS]
                if any(w in window for w in words):
                    return True
        return False

    def describe(self) -> str:
        return f"{self.number} near {'/'.join(self.near)}"


@dataclass(frozen=True)
class Derivation:
    """How an expected number follows from the seeded history (checked by the tests)."""

    sql: str
    value: float | int | str


@dataclass(frozen=True)
class Case:
    name: str
    question: str
    tags: tuple[str, ...]
    history: str | Mapping[str, Any]
    now: datetime
    must_contain: tuple[str, ...]
    must_not_contain: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    forbidden_tools: tuple[str, ...] = ()
    must_contain_any: tuple[tuple[str, ...], ...] = ()
    must_match: tuple[str, ...] = ()
    must_not_match: tuple[str, ...] = ()
    must_state: tuple[StatedNumber, ...] = ()
    must_not_state: tuple[StatedNumber, ...] = ()
    derive: tuple[Derivation, ...] = ()


@dataclass(frozen=True)
class CaseResult:
    case: Case
    passed: bool
    problems: tuple[str, ...] = ()
    markdown: str = ""


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    def by_tag(self) -> dict[str, tuple[int, int]]:
        """{tag: (passed, total)}, sorted by tag."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for result in self.results:
            for tag in result.case.tags:
                counts[tag][0] += int(result.passed)
                counts[tag][1] += 1
        return {tag: (p, t) for tag, (p, t) in sorted(counts.items())}


def load_case(path: Path) -> Case:
    try:
        raw = json.loads(path.read_text())
        now = raw.get("now")
        return Case(
            name=path.stem,
            question=str(raw["question"]),
            tags=tuple(raw.get("tags", ())),
            history=raw.get("history", "standard"),
            now=(
                datetime.fromisoformat(now.replace("Z", "+00:00")).astimezone(UTC)
                if now
                else DEFAULT_NOW
            ),
            must_contain=tuple(str(f) for f in raw.get("must_contain", ())),
            must_not_contain=tuple(str(f) for f in raw.get("must_not_contain", ())),
            tools=tuple(raw.get("tools", ())),
            forbidden_tools=tuple(raw.get("forbidden_tools", ())),
            must_contain_any=tuple(
                tuple(str(a) for a in alternatives)
                for alternatives in raw.get("must_contain_any", ())
            ),
            must_match=tuple(_regex(r) for r in raw.get("must_match", ())),
            must_not_match=tuple(_regex(r) for r in raw.get("must_not_match", ())),
            must_state=tuple(_stated(s) for s in raw.get("must_state", ())),
            must_not_state=tuple(_stated(s) for s in raw.get("must_not_state", ())),
            derive=tuple(Derivation(str(d["sql"]), d["value"]) for d in raw.get("derive", ())),
        )
    except (ValueError, KeyError, TypeError, AttributeError, re.error) as exc:
        raise ValueError(f"bad eval case {path.name}: {exc}") from exc


def _regex(value: object) -> str:
    re.compile(str(value))  # a broken pattern is a broken case file, said at load time
    return str(value)


def _stated(raw: Mapping[str, Any]) -> StatedNumber:
    near = raw["near"]
    words = (near,) if isinstance(near, str) else tuple(str(w) for w in near)
    if not words:
        raise ValueError("a stated number needs at least one `near` word")
    return StatedNumber(str(raw["number"]), words)


def load_cases(folder: Path = CASES_DIR, tag: str | None = None) -> list[Case]:
    cases = [load_case(p) for p in sorted(folder.glob("*.json"))]
    return [c for c in cases if tag is None or tag in c.tags]


def check(case: Case, answer: Answer) -> CaseResult:
    text = answer.markdown.lower()
    problems = [f"missing {fact!r}" for fact in case.must_contain if fact.lower() not in text]
    problems += [f"must not say {f!r}" for f in case.must_not_contain if f.lower() in text]
    problems += [
        f"missing one of {list(alternatives)!r}"
        for alternatives in case.must_contain_any
        if not any(a.lower() in text for a in alternatives)
    ]
    flags = re.IGNORECASE | re.MULTILINE
    problems += [f"no match for /{r}/" for r in case.must_match if not re.search(r, text, flags)]
    problems += [f"must not match /{r}/" for r in case.must_not_match if re.search(r, text, flags)]
    problems += [f"does not state {s.describe()}" for s in case.must_state if not s.found_in(text)]
    problems += [f"states {s.describe()}" for s in case.must_not_state if s.found_in(text)]
    ran = [call.name for call in answer.tool_calls]
    problems += [f"tool {t} did not run (ran: {ran})" for t in case.tools if t not in ran]
    problems += [f"tool {t} must not run" for t in case.forbidden_tools if t in ran]
    return CaseResult(case, not problems, tuple(problems), answer.markdown)


class Histories:
    """One DuckDB file per distinct (history, now), built once per run in a temp folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, Path] = {}

    def path_for(self, case: Case) -> Path:
        spec = load_history_spec(case.history) if isinstance(case.history, str) else case.history
        key = json.dumps([spec, case.now.isoformat()], sort_keys=True)
        if key not in self.files:
            path = self.folder / f"history-{len(self.files)}.db"
            if spec.get("missing"):  # a case about a sidecar that never wrote the file
                self.files[key] = path
            else:
                seed_history(path, spec, case.now)
                self.files[key] = path
        return self.files[key]


def run_cases(
    cases: Iterable[Case],
    answer: AnswerFn,
    prometheus_url: str | None = None,
) -> Report:
    report = Report()
    with tempfile.TemporaryDirectory(prefix="agent-eval-") as tmp:
        histories = Histories(Path(tmp))
        for case in cases:
            ctx = ToolContext(
                db_path=str(histories.path_for(case)), prometheus_url=prometheus_url, now=case.now
            )
            report.results.append(check(case, answer(case.question, ctx)))
    return report


def derivation_problems(case: Case, db_path: Path) -> list[str]:
    """Re-run each of the case's `derive` queries against its seeded history file."""
    problems: list[str] = []
    with duckdb.connect(str(db_path), read_only=True) as conn:
        for derivation in case.derive:
            row = conn.execute(derivation.sql).fetchone()
            got = None if row is None else row[0]
            if not _same_value(got, derivation.value):
                problems.append(
                    f"{derivation.sql!r} gives {got!r}, the case says {derivation.value!r}"
                )
    return problems


def _same_value(got: object, expected: object) -> bool:
    if isinstance(got, int | float) and isinstance(expected, int | float):
        return abs(float(got) - float(expected)) < 1e-6
    return str(got) == str(expected)


def load_expected_failures(path: Path = EXPECTED_FAILURES_FILE) -> dict[str, str]:
    """{case name: reason}. One case per line, `name: reason`; blank lines and # comments skip."""
    expected: dict[str, str] = {}
    if not path.is_file():
        return expected
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, reason = line.partition(":")
        if not sep or not name.strip() or not reason.strip():
            raise ValueError(f"{path.name} line {number}: expected `case-name: reason`")
        expected[name.strip()] = reason.strip()
    return expected


def heldout_min_pass_rate(path: Path = THRESHOLDS_FILE) -> float:
    """The held-out pass rate the deterministic planner must reach (one number, in one file)."""
    rate = float(json.loads(path.read_text())["heldout_min_pass_rate"])
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{path.name}: heldout_min_pass_rate must be within 0..1, got {rate}")
    return rate
