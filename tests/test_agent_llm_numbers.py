import pytest

from agent.llm.numbers import check_numbers, find_claims, flag_unsupported, source_numbers

RESULTS = [
    {
        "total_failures": 120,
        "finished_runs": 1000,
        "failure_rate": 0.12,
        "by_category": [
            {"category": "gpu_hardware", "count": 30, "share": 0.25},
            {"category": "oom_killed", "count": 90},
        ],
        "previous_window_failures": 80,
        "evidence": "NVRM: Xid 79 on gpu-node-07 at 2026-11-25T03:00:00Z",
    }
]


@pytest.mark.parametrize(
    "answer",
    [
        "There were 120 failures, a 12% failure rate over 1,000 finished runs.",
        "gpu_hardware caused 30 (25.0%); oom_killed 90 (75%).",
        "Failures went up 50% from 80 to 120, 40 more.",
        "The log says Xid 79 on gpu-node-07 at 2026-11-25 03:00 UTC.",
        "Two categories: 2 in all. The last 7 days.",
        "1. oom_killed\n2. gpu_hardware\n",
        "The failure rate is 0.12, three times what oom_killed is 3x of.",
    ],
)
def test_supported_numbers_pass(answer):
    check = check_numbers(answer, source_numbers(RESULTS, "last 7 days"))
    assert check.ok, [c.text for c in check.unsupported]


@pytest.mark.parametrize(
    ("answer", "made_up"),
    [
        ("There were 4711 failures.", ["4711"]),
        ("The failure rate is 17%.", ["17%"]),
        ("gpu_hardware caused 30 failures, 31.5% of all.", ["31.5%"]),
        ("120 failures on 1,234 runs", ["1,234"]),
    ],
)
def test_made_up_numbers_are_caught(answer, made_up):
    check = check_numbers(answer, source_numbers(RESULTS))
    assert [c.text for c in check.unsupported] == made_up


def test_digits_of_timestamps_cannot_be_combined_into_counts():
    # 2026, 11, 25, 3 appear in a quoted timestamp: as is they are fine, summed they are not.
    sources = source_numbers([{"when": "2026-11-25T03:00:00Z"}])
    assert not check_numbers("36 failures", sources).ok


def test_names_and_dates_are_not_claims():
    text = "train-llama-7b on gpu-node-01 (NODE_3) since 2026-11-20 08:15; see #42"
    assert find_claims(text) == []


def test_flag_names_each_unsupported_number_once():
    check = check_numbers("4711 and 4711 and 120", source_numbers(RESULTS))
    flagged = flag_unsupported("answer", check)
    assert flagged.startswith("answer\n\n> **Warning: unverified numbers.** 4711 —")
    assert flagged.count("4711") == 1
    ok = check_numbers("120", source_numbers(RESULTS))
    assert flag_unsupported("answer", ok) == "answer"


def test_pair_search_stays_fast_on_large_results():
    import time

    rows = [{"failures": i * 37 % 5000, "share": i / 1000} for i in range(400)]
    sources = source_numbers([{"rows": rows}])
    answer = " ".join(f"{900_000 + i} failures" for i in range(50))
    started = time.perf_counter()
    check = check_numbers(answer, sources)
    assert time.perf_counter() - started < 2.0
    assert len(check.unsupported) == 50
