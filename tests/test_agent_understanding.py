"""The question-understanding layer (agent/understanding): names from the history, typos,
synonyms, time expressions, and answers that say what they understood."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.answer.planner import answer_deterministic, make_plan
from agent.evals.seed import load_history_spec, seed_history
from agent.time_windows import WindowError
from agent.types import ToolContext
from agent.understanding.question import understand
from agent.understanding.vocabulary import Vocabulary
from agent.understanding.when import read_time
from tests.fixtures_agent import AgentHistory, make_agent_history

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # a Thursday
VOCAB = Vocabulary(
    {
        "project": ("recsys", "search-ranking", "team-nlp", "vision"),
        "node": ("dgx-a100-02", "dgx-a100-03", "dgx-h100-01"),
        "image": ("ghcr.io/acme/ranker:2.0", "nvcr.io/nvidia/pytorch:24.05-py3"),
        "workload_name": ("ranker-train", "vit-pretrain-00531"),
        "department": (),
        "category": ("evicted", "gpu_oom", "nccl", "oom_killed", "preempted"),
        "workload_type": ("distributed", "inference", "training", "workspace"),
    }
)


def read(question: str):  # type: ignore[no-untyped-def]
    return understand(question, NOW, VOCAB)


# ------------------------------------------------------------------ time


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("failures in november", "2026-11-01", "2026-11-26T12:00", "November 2026"),
        ("what broke in nov", "2026-11-01", "2026-11-26T12:00", "November 2026"),
        ("oom in october 2025", "2025-10-01", "2025-11-01", "October 2025"),
        ("failures in december", "2025-12-01", "2026-01-01", "December 2025"),  # not yet begun
        ("failures yesterdy", "2026-11-25", "2026-11-26", "yesterday"),
        ("lst 3 days", "2026-11-23T12:00", "2026-11-26T12:00", "last 3 days"),
        ("since novmber", "2026-11-01", "2026-11-26T12:00", "since November 2026"),
        ("between nov 1 and nov 10", "2026-11-01", "2026-11-11", "from 2026-11-01 to 2026-11-10"),
        ("did anything break overnight", "2026-11-25T20:00", "2026-11-26T08:00", "overnight"),
        # "night" was mended into "tonight" and the default window used without a word
        ("what failed last night", "2026-11-25T20:00", "2026-11-26T08:00", "overnight"),
        ("anything break this morning", "2026-11-26T06:00", "2026-11-26T12:00", "this morning"),
        ("errors yesterday evening", "2026-11-25T18:00", "2026-11-26", "yesterday evening"),
        ("since the start of the month", "2026-11-01", "2026-11-26T12:00", "this month"),
        ("since the beginning of the week", "2026-11-23", "2026-11-26T12:00", "this week"),
    ],
)
def test_time_expressions(text: str, start: str, end: str, label: str) -> None:
    window = read_time(text, NOW).window
    assert window is not None
    assert window.start == datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert window.end == datetime.fromisoformat(end).replace(tzinfo=UTC)
    assert window.label == label


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("yesterday vs the day before", "yesterday", "the day before"),
        ("this week compared to the week before", "this week", "the week before"),
        ("how did this week compare to last week for team-nlp", "this week", "last week"),
        ("last 7 days vs the 7 days before", "last 7 days", "the 7 days before"),
        ("last 24h vs previous 24h", "last 24 hours", "the 24 hours before"),
        ("past 7 days compared to the prior 7 days", "last 7 days", "the 7 days before"),
    ],
)
def test_the_second_window_may_be_said_relative_to_the_first(
    text: str, first: str, second: str
) -> None:
    reading = read_time(text, NOW)
    assert reading.window is not None and reading.compare_with is not None
    assert (reading.window.label, reading.compare_with.label) == (first, second)
    assert reading.compare_with.end == reading.window.start


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("failures in q3", "could not read the time in `q3`"),
        ("failures on 11/05", "could not read the time in `11/05`"),
        ("how many failures last quarter", "could not read the time in `quarter`"),
    ],
)
def test_a_time_it_cannot_read_is_refused_not_defaulted(question: str, said: str) -> None:
    plan = read(question)
    assert plan.intent == "refuse"
    assert plan.refusal is not None and said in plan.refusal


def test_a_grouping_the_history_lacks_is_said_on_line_one(agent_history: AgentHistory) -> None:
    answer = answer_deterministic("failures by user this week", agent_history.ctx)
    first = answer.markdown.splitlines()[0]
    assert "Not understood: `by user`: the history records no user" in first
    plan = read("which gpu types fail most")
    assert plan.ignored and "GPU type" in plan.ignored[0]
    assert plan.group_by is None
    vague = read("failures in the last few days")
    assert vague.default_window and "names no definite window" in vague.ignored[0]


def test_three_sides_are_compared_in_the_order_named(agent_history: AgentHistory) -> None:
    plan = read("compare training, inference and workspace failures this month")
    assert plan.intent == "compare" and plan.compare_dimension == "workload_type"
    assert plan.filters["workload_type"] == ("training", "inference", "workspace")
    answer = answer_deterministic("team-a vs team-b vs research this week", agent_history.ctx)
    assert "### team-a vs team-b vs research" in answer.markdown
    assert "Most failures: **team-a**" in answer.markdown


def test_a_short_name_made_of_question_words_is_still_a_name() -> None:
    plan = read("is the failure rate of team-a going up")  # "team" and "a" are plain words
    assert plan.intent == "unknown"
    assert [(u.dimension, u.value) for u in plan.unknown] == [("project", "team-a")]
    assert read("out-of-memory errors this week").unknown == ()


def test_an_xid_number_filters_by_that_code(tmp_path: Path) -> None:
    plan = read("any xid 13 or 43 this month")
    assert plan.tool_filters() == {"xid_code": ["13", "43"]}
    spec = {
        "failures": [
            {"workload_name": "a", "category": "gpu_hardware", "at": "-1d", "details": {"xid": 79}},
            {"workload_name": "b", "category": "gpu_hardware", "at": "-1d", "details": {"xid": 79}},
            {"workload_name": "c", "category": "cuda_error", "at": "-2d", "details": {"xid": 13}},
        ]
    }
    h = make_agent_history(tmp_path, spec)
    answer = answer_deterministic("how many xid 79 this week", h.ctx).markdown
    assert "**2 failures** in all" in answer  # not the 3 rows carrying any Xid


def test_a_breakdown_is_ordered_by_the_measure_asked(agent_history: AgentHistory) -> None:
    plan = read("give me the worst 3 projects by gpu hours lost this month")
    assert (plan.group_by, plan.top, plan.rank_by) == ("project", 3, "gpu_hours_lost")
    assert read("which node has the highest failure rate").rank_by == "failure_rate"
    assert read("which images had the most failures since monday, top 3").top == 3
    answer = answer_deterministic("which project requested the most gpus", agent_history.ctx)
    rows = [line for line in answer.markdown.splitlines() if line.startswith("| `")]
    gpus = [float(row.split("|")[-2]) for row in rows[:4]]
    assert gpus == sorted(gpus, reverse=True)


def test_part_of_a_name_next_to_its_dimension_means_those_names() -> None:
    plan = read("NCCL problems on h100 nodes")
    assert plan.filters["node"] == ("dgx-h100-01",)
    assert plan.mended == (("h100", "dgx-h100-01"),)
    assert read("what should the nlp team fix first").filters["project"] == ("team-nlp",)
    assert read("failures on train").unknown == ()  # a plain word alone is no part-name
    assert "node" not in read("failures on train").filters
    # asked about by itself, a part that names one workload only is that workload
    assert read("what went wrong with the pretrain job").workload == "vit-pretrain-00531"
    assert read("why did llama fail").unknown


def test_days_and_hours_of_an_analysis_are_asked_for_by_themselves(
    agent_history: AgentHistory,
) -> None:
    assert read("how many failures per day this week").analysis_parts == ("daily", "causes")
    assert read("when do failures usually happen").analysis_parts == ("peaks", "causes")
    answer = answer_deterministic("failures per day this week", agent_history.ctx).markdown
    assert "**Failures per day (UTC)**" in answer and "| 2026-11-25 |" in answer


def test_a_sibling_name_is_not_a_typo(agent_history: AgentHistory) -> None:
    # team-d differs from team-a by one letter, as dgx-a100-09 from dgx-a100-02 by one digit
    answer = answer_deterministic("how is team-d doing", agent_history.ctx)
    assert "no project `team-d` in the history" in answer.markdown
    assert read("how is serch-ranking doing").filters["project"] == ("search-ranking",)


def test_the_last_n_failures_is_a_list_of_n(agent_history: AgentHistory) -> None:
    plan = read("show the 3 most recent failures")
    assert (plan.intent, plan.top, plan.window.label) == ("list", 3, "all recorded history")
    answer = answer_deterministic("last 5 failures", agent_history.ctx).markdown
    assert "the newest 5:" in answer
    assert read("how many jobs are waiting for gpus").filters == {"kind": ("pending",)}
    assert read("how many jobs are waiting for gpus").measure == "workloads"


def test_excluding_keeps_every_other_known_value(agent_history: AgentHistory) -> None:
    plan = read("failed runs this week excluding search-ranking")
    assert plan.filters["project"] == ("recsys", "team-nlp", "vision")
    assert "project other than `search-ranking`" in plan.interpretation()
    not_hw = read("failures not caused by hardware this week").filters["category"]
    assert "gpu_hardware" not in not_hw and "gpu_oom" in not_hw
    assert read("failures except on dgx-a100-02").filters["node"] == ("dgx-a100-03", "dgx-h100-01")
    answer = answer_deterministic("failures this week excluding team-a", agent_history.ctx)
    assert "(**5 failures** in all)" in answer.markdown  # 11 this week, 6 of them team-a's
    assert "| `team-a` |" not in answer.markdown


def test_which_of_two_and_sets_of_causes_are_compared() -> None:
    assert read("did recsys or vision fail more this week").intent == "compare"
    assert read("failures in recsys or vision since monday").intent != "compare"
    plan = read("ooms vs evictions in nov")
    assert plan.intent == "compare"
    assert plan.sides() == (("gpu_oom", "oom_killed"), ("evicted",))
    assert read("per-project breakdown for november").group_by == "project"
    assert read("nodes ranked by failures").group_by == "node"


def test_more_shapes_operators_type() -> None:
    # "which team wastes ...": a question about teams, not about a team named "wastes"
    wastes = read("which team wastes the most gpu hours")
    assert (wastes.unknown, wastes.group_by, wastes.rank_by) == ((), "project", "gpu_hours_lost")
    days = read("failures from the 20th to the 24th").window
    assert (days.start.day, days.end.day) == (20, 25)
    for question in ("has search-ranking improved since last week",
                     "compare this week to last week for search-ranking"):  # fmt: skip
        plan = read(question)
        assert plan.intent == "compare" and plan.compare_window is not None
        assert (plan.window.label, plan.compare_window.label) == ("this week", "last week")
    assert read("failures of jobs using pytorch this week").filters["image"] == (
        "nvcr.io/nvidia/pytorch:24.05-py3",
    )
    assert read("repeat offenders this month").analysis_parts == ("repeats", "causes")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("top-3 projects by failures in November", {"group_by": "project", "top": 3}),
        ("breakdown by kind this week", {"group_by": "kind"}),
        ("how many failed vs degraded this week", {"intent": "compare"}),
        ("what's the total gpu count requested by pending jobs", {"measure": "gpus"}),
        ("driver issues this month", {"filters": {"category": ("cuda_driver",)}}),
        ("unknown failures this month", {"filters": {"category": ("unknown",)}}),
    ],
)
def test_words_for_dimensions_kinds_and_causes(question: str, expected: dict[str, object]) -> None:
    plan = read(question)
    assert {key: getattr(plan, key) for key in expected} == expected
    assert read("failures the day before yesterday").window.label == "the day before"


def test_a_name_written_with_a_space_or_named_by_the_word_after_it() -> None:
    spaced = read("how is search ranking doing")
    assert spaced.filters["project"] == ("search-ranking",)
    assert spaced.mended == (("search ranking", "search-ranking"),)
    foo = read("failures for the foo image")
    assert foo.intent == "unknown" and [(u.dimension, u.value) for u in foo.unknown] == [
        ("image", "foo")
    ]
    assert read("whihc nodes failed the most").unknown == ()  # a typo of a question word


def test_a_filter_on_something_the_history_does_not_record_is_refused(
    agent_history: AgentHistory,
) -> None:
    answer = answer_deterministic("failures for user alice this week", agent_history.ctx)
    assert "the history records no user, so `alice` cannot be looked up" in answer.markdown
    assert not answer.answered
    assert read("app errors from user code").intent != "refuse"  # words, not a user's name


def test_hours_of_one_day_and_the_latest_failure() -> None:
    hours = read("show me failures between 9am and noon today").window
    assert (hours.start.hour, hours.end.hour, hours.start.day) == (9, 12, 26)
    evening = read("failures from 2pm to 6pm yesterday").window
    assert (evening.start.hour, evening.end.hour, evening.start.day) == (14, 18, 25)
    assert read("failures at 9am").intent == "refuse"  # a time of no day range: said so
    latest = read("most recent failure")
    assert (latest.intent, latest.top, latest.window.label) == ("list", 1, "all recorded history")


def test_runs_and_live_gpu_state_are_not_answered_with_failures(
    agent_history: AgentHistory,
) -> None:
    assert read("how many workloads ran this week").measure == "runs"
    assert read("success rate of recsys this week").measure == "runs"
    answer = answer_deterministic("how many runs completed this week", agent_history.ctx)
    assert "runs finished**: " in answer.markdown and "completed," in answer.markdown
    idle = read("how many gpus are idle")
    assert idle.intent == "refuse" and "Prometheus" in (idle.refusal or "")


def test_a_share_is_of_all_failures_in_the_same_scope(agent_history: AgentHistory) -> None:
    assert read("what fraction of failures are OOMs this month").measure == "share"
    answer = answer_deterministic(
        "what percentage of team-a failures were gpu oom this week", agent_history.ctx
    ).markdown
    assert "**3 of 6 failures** (50.0%) were category `gpu_oom`." in answer
    assert read("any problems with the h100s").filters["node"] == ("dgx-h100-01",)


def test_off_topic_requests_are_not_answered_with_figures() -> None:
    assert read("write me a haiku about gpus").intent == "help"
    assert read("what's the weather on node dgx-a100-02").intent != "help"  # a name: on topic


def test_two_windows_are_compared_not_shifted() -> None:
    reading = read_time("failures today compared to yesterday", NOW)
    assert reading.window is not None and reading.compare_with is not None
    assert (reading.window.label, reading.compare_with.label) == ("today", "yesterday")
    week = read_time("is team-nlp failing more this week than last week", NOW)
    assert week.compare_with is not None and week.compare_with.label == "last week"


def test_an_inverted_range_is_refused_not_read_as_since(agent_history: AgentHistory) -> None:
    refusal = read_time("from 2026-11-20 to 2026-11-10", NOW).refusal
    assert refusal is not None and "ends before it starts" in refusal
    answer = answer_deterministic("failures from 2026-11-20 to 2026-11-10", agent_history.ctx)
    assert answer.tool_calls == () and not answer.answered
    assert "the range ends before it starts" in answer.markdown


# ------------------------------------------------------------------ names and synonyms


def test_typos_are_mended_but_other_names_are_not_typos() -> None:
    typo = read("failures in serach-ranking this week")
    assert typo.filters["project"] == ("search-ranking",)
    assert ("serach-ranking", "search-ranking") in typo.mended
    other = read("what is wrong with dgx-h200-99")
    assert other.intent == "unknown" and not other.filters
    (unknown,) = other.unknown
    assert (unknown.dimension, unknown.value) == ("node", "dgx-h200-99")
    assert "known nodes look like" in unknown.sentence()
    assert read("How is team-zeta doing?").intent == "unknown"  # not a typo of team-nlp


def test_project_slash_name_is_one_workload_of_one_project() -> None:
    story = read("team-nlp/vit-pretrain-00531 story")
    assert (story.intent, story.workload, story.workload_project) == (
        "detail", "vit-pretrain-00531", "team-nlp",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("question", "filters", "xid", "group_by"),
    [
        ("OOM failures this week", {"category": ("gpu_oom", "oom_killed")}, False, None),
        ("GPU OOM failures", {"category": ("gpu_oom",)}, False, None),
        ("oom killed jobs", {"category": ("oom_killed",)}, False, None),
        ("which nodes had Xid errors", {}, True, "node"),
        ("which machines fail most", {}, False, "node"),
        ("failures per host", {}, False, "node"),
        ("failures by docker image", {}, False, "image"),
        ("evicted or preempted in november", {"category": ("evicted", "preempted")}, False, None),
        ("recsys or vision failures", {"project": ("recsys", "vision")}, False, None),
        ("training or inference failures", {"workload_type": ("training", "inference")}, False,
         None),
    ],
)  # fmt: skip
def test_synonyms_and_or_filters(
    question: str, filters: dict[str, tuple[str, ...]], xid: bool, group_by: str | None
) -> None:
    understood = read(question)
    assert dict(understood.filters) == filters
    assert (understood.xid, understood.group_by) == (xid, group_by)


def test_shapes_top_n_comparison_measures() -> None:
    top = read("top 5 nodes since Monday")
    assert (top.intent, top.group_by, top.top, top.window.label) == (
        "statistics", "node", 5, "since Monday",
    )  # fmt: skip
    versus = read("search-ranking vs recsys last 7 days")
    assert (versus.intent, versus.compare_dimension) == ("compare", "project")
    assert read("how many distinct workloads failed yesterday").measure == "workloads"
    assert read("GPU-hours lost to failures last week").measure == "gpu_hours"
    assert read("what should I fix first this week").intent == "fix_first"


def test_every_answer_opens_with_what_was_understood(agent_history: AgentHistory) -> None:
    answer = answer_deterministic("OOM failures in tema-a yesterdy", agent_history.ctx)
    first = answer.markdown.splitlines()[0]
    assert first.startswith("_Understood: failure episodes for project `team-a`, category ")
    assert "yesterday (2026-11-25 00:00 to 2026-11-26 00:00 UTC)" in first
    assert "read `tema-a` as `team-a`" in first and "read `yesterdy` as `yesterday`" in first
    call = answer.tool_calls[0]
    assert call.arguments["category"] == ["gpu_oom", "oom_killed"]


def test_an_unknown_name_is_reported_and_never_widened(agent_history: AgentHistory) -> None:
    answer = answer_deterministic("failures on node-gpu-99 this week", agent_history.ctx)
    assert answer.tool_calls == ()  # nothing cluster-wide stands in for it
    assert not answer.answered
    assert "no node `node-gpu-99` in the history; known nodes look like `node-gpu-0" in (
        answer.markdown
    )
    assert make_plan("failures on node-gpu-03 this week", agent_history.ctx).intent != "unknown"


# ------------------------------------------------------------------ honest measures


def test_headline_separates_kinds_and_measures_equal_sql(agent_history: AgentHistory) -> None:
    h = agent_history
    answer = answer_deterministic("how many distinct workloads failed this week", h.ctx)
    week = make_plan("this week", h.ctx).window
    kinds = dict(
        h.sql(
            'SELECT kind, count(*) FROM failure_events WHERE "timestamp" >= ? AND "timestamp" < ?'
            " GROUP BY 1",
            [week.start, week.end],
        )
    )
    workloads = h.scalar(
        'SELECT count(DISTINCT workload_id) FROM failure_events WHERE "timestamp" >= ? '
        'AND "timestamp" < ?',
        [week.start, week.end],
    )
    assert f"**{workloads} distinct workloads** failed." in answer.markdown
    assert (
        f"**{kinds.get('failed', 0)} failed**, **{kinds.get('degraded', 0)} degraded**, "
        f"**{kinds.get('pending', 0)} stuck pending**"
    ) in answer.markdown
    hours = answer_deterministic("GPU-hours lost this week", h.ctx)
    lost = h.scalar(
        "SELECT sum(gpus_requested * (epoch(finished_at) - epoch(created_at)) / 3600) "
        "FROM workload_runs WHERE phase = 'Failed' AND finished_at >= ? AND finished_at < ?",
        [week.start, week.end],
    )
    assert f"**{lost:g} GPU-hours** were lost" in hours.markdown


def _spec_with_young_history() -> dict[str, object]:
    return {
        "failures": [{"workload_name": "a", "node": "n1", "at": "-1d", "count": 3, "every": "2h"}],
        "runs": [{"node": "n1", "at": "-2d", "count": 5, "every": "3h"}],
    }


def test_no_trend_against_a_window_before_the_history_begins(tmp_path: Path) -> None:
    h = make_agent_history(tmp_path, _spec_with_young_history())
    answer = answer_deterministic("is the failure rate going up this week?", h.ctx)
    assert "Yes, it is going up" not in answer.markdown
    assert "Cannot tell yet" in answer.markdown and "the history begins" in answer.markdown


def test_inference_and_workspaces_get_no_rate(tmp_path: Path) -> None:
    spec = {
        "failures": [
            {"workload_name": "serve", "workload_type": "inference", "at": "-1d"},
            {"workload_name": "nb", "workload_type": "workspace", "at": "-2d"},
        ],
    }
    h = make_agent_history(tmp_path, spec)
    answer = answer_deterministic("failure rate of inference workloads this week", h.ctx)
    assert "no failure rate: inference servers rarely complete" in answer.markdown
    causes = answer.markdown.split("**By cause**")[1].split("\n\n")[1].splitlines()[2:]
    assert [row.split(" | ")[3] for row in causes] == ["—"]  # rate column (was 100.0%)
    by_type = answer_deterministic("failures by workload type this week", h.ctx).markdown
    types = by_type.split("**By type**")[1].split("\n\n")[1].splitlines()[2:]
    assert [row.split(" | ")[5] for row in types] == ["—", "—"]
    assert "workspaces rarely complete" in by_type


def test_none_group_sorts_last_and_ties_break_by_name(tmp_path: Path) -> None:
    spec = {
        "failures": [
            {"workload_name": "p", "kind": "pending", "category": "unschedulable", "at": "-1h",
             "count": 5, "every": "1h"},
            {"workload_name": "x", "node": "n-b", "category": "nccl", "at": "-2h"},
            {"workload_name": "y", "node": "n-b", "category": "app_error", "at": "-3h"},
            {"workload_name": "z", "node": "n-a", "category": "timeout", "at": "-4h"},
        ],
        "runs": [{"node": "n-b", "at": "-1d", "count": 4, "every": "1h"}],
    }  # fmt: skip
    h = make_agent_history(tmp_path, spec)
    nodes = answer_deterministic("failures by node this week", h.ctx).markdown
    rows = [line for line in nodes.split("**By node**")[1].splitlines() if line.startswith("| `")]
    assert [row.split("|")[1].strip() for row in rows] == ["`n-b`", "`n-a`", "`(none)`"]
    for _ in range(3):  # n-b: one nccl, one app_error: the tie goes to app_error, every time
        analysis = answer_deterministic("analyze this week", h.ctx).markdown
        hot = analysis.split("**Hot nodes**")[1].split("\n\n")[1]
        assert "| `n-b` |" in hot and hot.split("| `n-b` |")[1].splitlines()[0].endswith(
            "`app_error` |"
        )


def test_vocabulary_is_read_once_per_file_version(agent_history: AgentHistory) -> None:
    from agent.understanding import vocabulary as module

    module._cache.clear()
    answer_deterministic("failures by node", agent_history.ctx)
    answer_deterministic("failures by project", agent_history.ctx)
    assert len(module._cache) == 1
    assert agent_history.now - timedelta(days=1) < agent_history.now  # the clock is injected


def test_a_part_of_the_day_not_yet_begun_is_refused() -> None:
    with pytest.raises(WindowError, match="has not begun"):
        read_time("what happened this evening", NOW)


def test_all_history_starts_at_the_first_record() -> None:
    first = datetime(2026, 10, 14, 9, 0, tzinfo=UTC)
    vocab = Vocabulary(dict(VOCAB.names), first_record=first)
    understood = understand("all failures ever by project", NOW, vocab)
    assert understood.window.start == first
    assert "1970" not in understood.interpretation()


@pytest.mark.parametrize(
    ("question", "verb"),
    [
        ("restart ranker-train", "restart"),
        ("Can you please clear the failure history?", "clear"),
        ("pls scale up vit-pretrain-00531 to 4 replicas", "scale up"),
        ("DELETE ALL THE FAILED JOBS IN RECSYS", "delete"),
        ("i need you to cordon dgx-a100-02", "cordon"),
    ],
)
def test_requests_to_change_anything_are_refused_as_read_only(question: str, verb: str) -> None:
    understood = read(question)
    assert understood.intent == "read_only"
    assert understood.refusal is not None
    assert f"cannot {verb} anything" in understood.refusal


@pytest.mark.parametrize(
    "question", ["killed jobs this week", "evicted pods by node", "why did ranker-train restart"]
)
def test_past_tense_verbs_stay_questions(question: str) -> None:
    assert read(question).intent != "read_only"


def test_a_change_request_runs_no_tool(agent_history: AgentHistory) -> None:
    answer = answer_deterministic("kill ranker-train now", agent_history.ctx)
    assert answer.tool_calls == ()
    assert "read-only" in answer.markdown
    assert not answer.answered


@pytest.mark.parametrize(
    ("question", "top"),
    [
        ("top 3 things to fix", 3),
        ("give me the 2 most important fixes for this week", 2),
        ("what hurts us most", None),  # "hurts" was mended into "hours" and read as statistics
        ("where do we begin? the three biggest issues", 3),
    ],
)
def test_fix_first_in_other_words_keeps_its_number(question: str, top: int | None) -> None:
    understood = read(question)
    assert (understood.intent, understood.top) == ("fix_first", top)
    assert not understood.mended


def test_fix_first_lists_exactly_the_number_asked(agent_history: AgentHistory) -> None:
    markdown = answer_deterministic("top 2 things to fix", agent_history.ctx).markdown
    assert "\n2. " in markdown and "\n3. " not in markdown


@pytest.mark.parametrize(
    "question",
    [
        "what % of runs fail in recsys",
        "how often do training jobs fail",
        "how reliable is vision this week",
        "failure rate of team-nlp",
    ],
)
def test_failure_rate_in_other_words(question: str) -> None:
    understood = read(question)
    assert (understood.intent, understood.measure) == ("statistics", "rate")


def test_the_failure_rate_is_stated_first(agent_history: AgentHistory) -> None:
    markdown = answer_deterministic("what % of runs fail", agent_history.ctx).markdown
    assert "**Failure rate " in markdown.split("\n\n")[3]


@pytest.mark.parametrize(
    "question",
    [
        "which jobs are stuck pending",
        "anything queued right now? oldest first",
        "show me workloads waiting for GPUs since Monday",  # "GPUs" was read as the measure
        "list pending workloads in vision",
    ],
)
def test_pending_questions_list_the_waiting_workloads(question: str) -> None:
    understood = read(question)
    assert (understood.intent, understood.measure) == ("pending", "failures")
    assert understood.filters["kind"] == ("pending",)


def test_pending_list_is_oldest_first_with_how_long_each_waited(tmp_path: Path) -> None:
    path = tmp_path / "queue.db"
    seed_history(path, load_history_spec("queue"), NOW)
    ctx = ToolContext(db_path=str(path), prometheus_url=None, now=NOW)
    markdown = answer_deterministic("which jobs are stuck pending", ctx).markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| 2026-")]
    assert [row.split("`")[1] for row in rows] == ["sweep-old", "finetune-7b", "eval-batch"]
    assert "left Pending by 2026-11-24 02:00" in rows[0]  # its later run shows it left
    assert "1 d 5 h" in rows[1] and "still waiting" in rows[1]
    detail = answer_deterministic("how long has finetune-7b been waiting", ctx).markdown
    assert "pending since 2026-11-25 06:30 UTC: **1 d 5 h**" in detail


@pytest.mark.parametrize(
    ("question", "group_by", "growth", "now_start", "before_start"),
    [
        ("which cause grew the most this week", "category", "up", "2026-11-23", "2026-11-19T12:00"),
        ("which cause increased the most compared to last week", "category", "up", "2026-11-23",
         "2026-11-16"),
        ("what project grew the most since yesterday", "project", "up", "2026-11-25",
         "2026-11-23T12:00"),
        ("which node improved the most today", "node", "down", "2026-11-26", "2026-11-25T12:00"),
    ],
)  # fmt: skip
def test_which_group_grew_the_most_sets_two_windows(
    question: str, group_by: str, growth: str, now_start: str, before_start: str
) -> None:
    understood = read(question)
    assert (understood.intent, understood.group_by, understood.growth) == (
        "growth", group_by, growth
    )
    assert understood.window.start == datetime.fromisoformat(now_start).replace(tzinfo=UTC)
    assert understood.compare_window is not None
    assert understood.compare_window.start == datetime.fromisoformat(before_start).replace(
        tzinfo=UTC
    )


def test_growth_names_a_tie_and_ranks_by_change(agent_history: AgentHistory) -> None:
    from agent.answer.compose import growth_headline, growth_section

    def data(label: str, counts: dict[str, int]) -> Any:
        groups = [{"key": k, "failures": n} for k, n in counts.items()]
        return {"group_by": "category", "window": {"label": label}, "groups": groups}

    before = data("last week", {"evicted": 4, "gpu_oom": 0})
    after = data("this week", {"gpu_oom": 3, "nccl": 3, "evicted": 1})
    assert "`gpu_oom` and `nccl` grew the most**, tied at +3" in growth_headline(
        before, after, up=True
    )
    rows = growth_section(before, after, up=False).splitlines()[2:]
    assert rows[0].startswith("| `evicted`") and rows[0].endswith("| -3 |")


def test_names_sharing_a_part_are_compared_as_sets() -> None:
    understood = read("do h100s fail more than a100s")  # "more than" was no comparison
    assert understood.intent == "compare"
    assert understood.sides() == (("dgx-h100-01",), ("dgx-a100-02", "dgx-a100-03"))


def test_a_side_of_a_comparison_that_maps_to_nothing_is_said() -> None:
    understood = read("hardware vs software failures")  # "software" was dropped silently
    assert understood.filters["category"] == ("gpu_hardware",)
    assert any("`software`" in note and "not compared" in note for note in understood.ignored)
    refused = read("GPU vs network problems")  # was cluster-wide statistics
    assert refused.intent == "refuse"
    assert refused.refusal is not None and "`network`" in refused.refusal
    assert read("training vs inference").ignored == ()


@pytest.mark.parametrize(
    ("question", "group_by", "top"),
    [
        ("which 2 projects fail the most", "project", 2),
        ("show me the three worst nodes", "node", 3),
    ],
)
def test_a_number_before_the_dimension_is_the_top_n(
    question: str, group_by: str, top: int
) -> None:
    understood = read(question)
    assert (understood.group_by, understood.top) == (group_by, top)


def test_more_reliable_than_compares_failure_rates() -> None:
    understood = read("is recsys more reliable than vision")
    assert (understood.intent, understood.measure) == ("compare", "rate")
    assert understood.sides() == (("recsys",), ("vision",))


def test_xid_is_a_side_of_its_own() -> None:
    understood = read("nccl errors vs xid this month")  # was nccl AND xid: no failures
    assert understood.intent == "compare"
    assert understood.sides() == (("nccl",), ("xid",))
    assert not understood.xid


@pytest.mark.parametrize(
    ("question", "read_as"),
    [
        ("how reliabel is team-nlp", ("reliabel", "reliable")),
        ("top 3 thigns to fix", ("thigns", "things")),
    ],
)
def test_question_words_of_the_new_shapes_are_mended(
    question: str, read_as: tuple[str, str]
) -> None:
    assert read_as in read(question).mended


@pytest.mark.parametrize("question", ["is team-nlp trending up", "should I buy nvidia stock"])
def test_words_near_pending_are_not_mended_into_it(question: str) -> None:
    assert read(question).intent != "pending"


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("failures between 8 and 10 this morning", "2026-11-26T08:00", "2026-11-26T10:00"),
        ("errors between 6 and 9 yesterday evening", "2026-11-25T18:00", "2026-11-25T21:00"),
    ],
)
def test_bare_hours_are_read_within_a_part_of_the_day(text: str, start: str, end: str) -> None:
    window = read_time(text, NOW).window  # the hours were dropped for the whole morning
    assert window is not None
    assert (window.start, window.end) == (
        datetime.fromisoformat(start).replace(tzinfo=UTC),
        datetime.fromisoformat(end).replace(tzinfo=UTC),
    )


def test_hours_that_cannot_be_placed_are_refused() -> None:
    assert read_time("failures between 2 and 5", NOW).refusal is not None  # was the default


def test_a_question_after_a_change_verb_is_a_question() -> None:
    assert read("stop the bleeding: what do i fix").intent == "fix_first"
    assert read("can you delete what failed yesterday").intent == "read_only"


def test_a_minimum_wait_keeps_only_those_waiting_that_long(tmp_path: Path) -> None:
    assert read("pending jobs older than a day").min_wait == timedelta(days=1)
    path = tmp_path / "queue.db"
    seed_history(path, load_history_spec("queue"), NOW)
    ctx = ToolContext(db_path=str(path), prometheus_url=None, now=NOW)
    markdown = answer_deterministic("pending jobs older than a day", ctx).markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| 2026-")]
    assert [row.split("`")[1] for row in rows] == ["finetune-7b"]  # all three were listed


def test_flaky_is_a_question_about_the_failure_rate() -> None:
    assert read("is team-nlp more flaky than search-ranking").measure == "rate"
