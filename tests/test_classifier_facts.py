"""Reading a bundle into facts: shapes, bounds and the order evidence is kept in."""

from __future__ import annotations

from exporter.classifier.facts import (
    CONTAINER,
    EVENT,
    LINE_CAP,
    LOG_TAIL_CHARS,
    LOG_TAIL_LINES,
    MAX_EVENTS,
    POD,
    WORKLOAD,
    integer,
    log_text,
    read,
)


def test_empty_and_missing_parts_read_as_nothing() -> None:
    facts = read({})
    assert (facts.events, facts.pods, facts.containers, facts.workload, facts.lines) == (
        (),
        (),
        (),
        (),
        (),
    )


def test_workload_phase_message_conditions_and_pending_messages() -> None:
    facts = read(
        {
            "workload": {
                "phaseReason": "Unschedulable",
                "phaseMessage": "waiting",
                "conditions": [
                    {"status": "True", "reason": "A", "message": "held"},
                    {"status": "False", "reason": "B", "message": "does not hold"},
                ],
                "pendingSchedulingMessages": [{"reason": "NoNodes", "userMessage": "pool full"}],
            }
        }
    )
    assert [(f.source, f.reason, f.message) for f in facts.workload] == [
        (WORKLOAD, "Unschedulable", "waiting"),
        (WORKLOAD, "A", "held"),
        (WORKLOAD, "NoNodes", "pool full"),
    ]


def test_pod_conditions_keep_only_the_bad_news() -> None:
    facts = read(
        {
            "pods": [
                {
                    "name": "p",
                    "nodeName": "n",
                    "status": {
                        "conditions": [
                            {"type": "PodScheduled", "status": "True", "reason": "fine"},
                            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
                            {"type": "DisruptionTarget", "status": "True", "reason": "Preempted"},
                            {"type": "DisruptionTarget", "status": "False", "reason": "gone"},
                        ]
                    },
                }
            ]
        }
    )
    assert [f.reason for f in facts.pods] == ["Unschedulable", "Preempted"]
    assert all(f.source == POD and f.pod == "p" and f.node == "n" for f in facts.pods)


def test_container_states_current_before_last_with_init_containers_first() -> None:
    facts = read(
        {
            "pods": [
                {
                    "name": "p",
                    "status": {
                        "initContainerStatuses": [
                            {"name": "init", "state": {"terminated": {"exitCode": 0}}}
                        ],
                        "containerStatuses": [
                            {
                                "name": "main",
                                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                "lastState": {
                                    "terminated": {"reason": "OOMKilled", "exitCode": 137}
                                },
                            }
                        ],
                    },
                }
            ]
        }
    )
    assert [(f.container, f.state, f.reason, f.exit_code) for f in facts.containers] == [
        ("init", "terminated", "", 0),
        ("main", "waiting", "CrashLoopBackOff", None),
        ("main", "terminated", "OOMKilled", 137),
    ]
    assert all(f.source == CONTAINER for f in facts.containers)


def test_long_event_lists_keep_head_and_tail() -> None:
    events = [{"reason": f"R{i}", "message": "m"} for i in range(MAX_EVENTS * 3)]
    facts = read({"events": events})
    reasons = [f.reason for f in facts.events]
    assert len(reasons) == MAX_EVENTS
    assert reasons[0] == "R0" and reasons[-1] == f"R{MAX_EVENTS * 3 - 1}"
    assert all(f.source == EVENT for f in facts.events)


def test_log_tail_is_bounded_in_lines_chars_and_line_length() -> None:
    many = "\n".join(f"line {i}" for i in range(LOG_TAIL_LINES * 2))
    lines = read({"logs": many}).lines
    assert len(lines) == LOG_TAIL_LINES and lines[-1] == f"line {LOG_TAIL_LINES * 2 - 1}"
    huge = read({"logs": "x" * (LOG_TAIL_CHARS * 4)}).lines
    assert len(huge) == 1 and len(huge[0]) == LINE_CAP


def test_log_shapes_str_bytes_list_and_map() -> None:
    assert log_text("a\nb") == "a\nb"
    assert log_text(b"a\xffb") == "a\ufffdb"
    assert log_text(["a", b"b", None, 3]) == "a\nb\n\n"
    assert log_text({"pod-1": "x", "pod-2": "y"}) == "x\ny"
    assert log_text(42) == "" and log_text(None) == ""


def test_integer_accepts_only_plain_integers() -> None:
    assert integer(137) == 137 and integer("137") == 137 and integer(137.0) == 137
    assert integer(True) is None and integer("13x") is None and integer(10**40) is None
    assert integer(-9) == -9 and integer(None) is None


def test_images_come_from_the_workload_and_pod_containers() -> None:
    facts = read(
        {
            "workload": {"images": ["nvcr.io/nvidia/pytorch:24.05-py3", 5]},
            "pods": [{"containers": [{"image": "busybox"}]}],
        }
    )
    assert facts.images == ("nvcr.io/nvidia/pytorch:24.05-py3", "busybox")
