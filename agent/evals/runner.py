"""Run eval cases: each is a question, a seeded history, and the facts its answer must contain.

A case file (agent/evals/cases/*.json) holds one case:
    {"question": "Why did train-llama-7b fail?",
     "tags": ["workload", "detail"],
     "history": "standard"            (a name in histories/, or an inline spec),
     "now": "2026-11-26T12:00:00Z"    (optional; the clock the history is relative to),
     "must_contain": ["gpu_oom", "CUDA out of memory"],
     "must_not_contain": ["Traceback"],
     "tools": ["failure_detail"]      (optional: tool names that must have run),
     "forbidden_tools": ["promql_query"] (optional: tool names that must not run)}
Facts are matched case-insensitively on the answer's markdown.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.evals.seed import load_history_spec, seed_history
from agent.types import Answer, ToolContext

CASES_DIR = Path(__file__).resolve().parent / "cases"
DEFAULT_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

AnswerFn = Callable[[str, ToolContext], Answer]


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
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"bad eval case {path.name}: {exc}") from exc


def load_cases(folder: Path = CASES_DIR, tag: str | None = None) -> list[Case]:
    cases = [load_case(p) for p in sorted(folder.glob("*.json"))]
    return [c for c in cases if tag is None or tag in c.tags]


def check(case: Case, answer: Answer) -> CaseResult:
    text = answer.markdown.lower()
    problems = [f"missing {fact!r}" for fact in case.must_contain if fact.lower() not in text]
    problems += [f"must not say {f!r}" for f in case.must_not_contain if f.lower() in text]
    ran = [call.name for call in answer.tool_calls]
    problems += [f"tool {t} did not run (ran: {ran})" for t in case.tools if t not in ran]
    problems += [f"tool {t} must not run" for t in case.forbidden_tools if t in ran]
    return CaseResult(case, not problems, tuple(problems), answer.markdown)


class _Histories:
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
        histories = _Histories(Path(tmp))
        for case in cases:
            ctx = ToolContext(
                db_path=str(histories.path_for(case)), prometheus_url=prometheus_url, now=case.now
            )
            report.results.append(check(case, answer(case.question, ctx)))
    return report
