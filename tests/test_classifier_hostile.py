"""Hostile input: whatever arrives, classify returns a valid verdict, quickly, and never raises."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from exporter.classifier import classify
from exporter.classifier.facts import LOG_TAIL_LINES, MAX_EVENTS
from history.categories import CATEGORIES

BOUND_S = 2.0  # generous for a loaded CI machine; typical cases take milliseconds


def check(bundle: object) -> Any:
    start = time.perf_counter()
    verdict = classify(bundle)
    elapsed = time.perf_counter() - start
    assert elapsed < BOUND_S, f"took {elapsed:.2f}s"
    assert verdict.category in CATEGORIES
    assert 0.0 <= verdict.confidence <= 1.0
    assert verdict.evidence_source in ("log", "event", "pod_status", "workload", "none")
    assert isinstance(verdict.evidence, str) and len(verdict.evidence) <= 500
    assert verdict.summary and verdict.recommendation
    return verdict


ODD_VALUES: list[object] = [
    None,
    0,
    -1,
    3.5,
    True,
    "",
    "not a bundle",
    b"\xff\xfe\x00binary",
    [],
    [1, 2, 3],
    {},
    {"workload": None, "events": None, "pods": None, "logs": None},
    {"workload": [], "events": {}, "pods": "x", "logs": 12},
    {"workload": {"conditions": "nope", "phaseMessage": ["a"]}, "events": [None, 1, "x", []]},
    {"pods": [None, 1, {"status": []}, {"status": {"containerStatuses": {"a": 1}}}]},
    {"pods": [{"status": {"containerStatuses": [{"state": {"terminated": "OOMKilled"}}]}}]},
    {
        "pods": [
            {"status": {"containerStatuses": [{"state": {"terminated": {"exitCode": "137x"}}}]}}
        ]
    },
    {
        "pods": [
            {"status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 10**40}}}]}}
        ]
    },
    {"events": [{"reason": {"nested": True}, "message": ["list"]}]},
    {"logs": ["line one", b"bytes line", None, 5, {"k": "v"}]},
    {"logs": {"pod-a": "Traceback (most recent call last):\nKeyError: 'x'", "pod-b": None}},
    {"workload": {"phaseMessage": float("nan"), "conditions": [{"status": None}]}},
]


@pytest.mark.parametrize("bundle", ODD_VALUES, ids=[repr(v)[:40] for v in ODD_VALUES])
def test_odd_types_anywhere(bundle: object) -> None:
    check(bundle)


def test_random_bytes_as_logs_and_as_bundle() -> None:
    rng = random.Random(1)
    for _ in range(20):
        noise = bytes(rng.randrange(256) for _ in range(4096))
        check(noise)
        check({"logs": noise})
        check({"logs": noise.decode("latin-1")})


def test_invalid_utf8_bytes_still_find_the_error() -> None:
    logs = b"\xc3\x28 garbage \xa0\xa1\nRuntimeError: CUDA error: out of memory\n\xff\xfe"
    assert check({"logs": logs}).category == "gpu_oom"


def test_ten_megabyte_line_is_read_as_a_bounded_tail() -> None:
    line = "A" * (10 * 2**20)
    check({"logs": line})
    verdict = check({"logs": line + "\nSegmentation fault (core dumped)"})
    assert verdict.category == "app_error"


def test_pathological_lines_for_the_exception_pattern() -> None:
    # Shapes that make naive nested-quantifier patterns backtrack for a long time.
    lines = [
        "a." * 600 + "!",
        "[" * 3000,
        "[x]" * 1000 + "Error",
        "_" * 5000 + "Error",
        ("Xid (" + "0" * 60) * 100,
        'secrets "' + "a" * 5000,
        "x" * 3000 + "Tried to allocate " + "9" * 3000,
    ]
    for line in lines:
        check({"logs": "\n".join([line] * 400)})
        check({"events": [{"reason": "Failed", "message": line}] * 50})


def test_huge_event_list_is_bounded() -> None:
    events = [{"reason": "BackOff", "message": f"Back-off restarting {i}"} for i in range(200_000)]
    events.append(
        {"reason": "OOMKilling", "message": "Memory cgroup out of memory: Killed process"}
    )
    verdict = check({"events": events})
    # Only the head and the tail of a long list are read, so the last event still counts.
    assert verdict.category == "oom_killed"
    assert len(events) > MAX_EVENTS


def test_huge_pod_and_container_lists_are_bounded() -> None:
    containers = [
        {"name": f"c{i}", "state": {"terminated": {"reason": "Error", "exitCode": 1}}}
        for i in range(10_000)
    ]
    pods = [{"name": f"p{i}", "status": {"containerStatuses": containers}} for i in range(1_000)]
    check({"pods": pods})


def test_only_the_log_tail_is_read() -> None:
    early = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"
    filler = "\n".join(f"step {i} loss 0.1" for i in range(LOG_TAIL_LINES + 10))
    verdict = check({"logs": early + "\n" + filler})
    assert verdict.category != "gpu_oom"  # the OOM scrolled out of the bounded tail


def test_deeply_nested_json_is_not_walked() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(50_000):
        node["x"] = {}
        node = node["x"]
    check({"workload": deep, "events": [deep], "pods": [deep], "logs": deep})


def test_unicode_that_changes_length_when_lower_cased_keeps_line_numbers() -> None:
    # 'İ'.lower() is two code points: line lookups must not drift.
    noisy = "\n".join(["İİİİ progress İ" * 20] * 50)
    verdict = check({"logs": noisy + "\nRuntimeError: CUDA error: an illegal memory access"})
    assert verdict.category == "cuda_error"
    assert verdict.evidence == "RuntimeError: CUDA error: an illegal memory access"


def test_control_characters_and_nul_bytes() -> None:
    logs = "\x00\x01\x02\x1b[31mERROR\x1b[0m\r\n\x0bKeyError: 'x'\x00\n\u2028FileNotFoundError: y"
    check({"logs": logs})
    check({"events": [{"reason": "Failed\x00", "message": "\x00" * 10_000}]})


def test_secret_values_in_logs_are_not_copied_into_the_recommendation() -> None:
    token = "hf_" + "Z" * 34
    logs = f"HF_TOKEN={token}\nTraceback (most recent call last):\nValueError: bad config"
    verdict = check({"logs": logs})
    assert token not in verdict.recommendation and token not in verdict.summary


@pytest.mark.parametrize("bundle", ODD_VALUES, ids=[repr(v)[:40] for v in ODD_VALUES])
def test_odd_types_are_handled_without_the_last_resort_guard(bundle: object) -> None:
    # classify() wraps the work in a never-raise guard; the reading itself must not need it.
    from exporter.classifier import _classify

    assert _classify(bundle).summary != "The evidence bundle could not be read."
