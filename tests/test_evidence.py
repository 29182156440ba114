"""Evidence gathering: which container's log is read, how events merge, the time budget."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from exporter.detect.episodes import Episode, parse_time
from exporter.evidence import (
    _merge_events,
    _targets,
    from_listing,
    gather,
    namespace_of,
    placement,
    within_budget,
)
from exporter.http_retry import RetryPolicy
from exporter.kube.client import KubeAccess, KubeClient
from exporter.model import Workload
from exporter.runai.client import RunaiClient
from tests.fixtures_exporter import Answer, ScriptedServer

FAST = RetryPolicy(attempts=2, base_delay_s=0.001, max_delay_s=0.002, timeout_s=2.0)
WORKLOAD = {"id": "w1", "name": "train-1", "type": "training", "phase": "Failed",
            "projectName": "team-a", "namespace": "runai-team-a"}


def k8s_pod(name: str, *statuses: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": "2026-01-01T00:00:30Z"},
            "spec": {"nodeName": f"node-{name}",
                                                 "containers": [{"name": "main"}]},
            "status": {"phase": "Failed", "reason": reason,
                       "containerStatuses": list(statuses)}}


def status(name: str = "main", *, state: dict[str, Any] | None = None,
           last: dict[str, Any] | None = None, restarts: int = 0) -> dict[str, Any]:
    return {"name": name, "restartCount": restarts, "state": state or {},
            "lastState": last or {}}


@pytest.mark.parametrize(
    ("pods", "expected"),
    [
        # crashed now beats crashed before beats waiting
        ([k8s_pod("a", status(state={"waiting": {"reason": "CrashLoopBackOff"}})),
          k8s_pod("b", status(state={"terminated": {"exitCode": 1}}))], ("b", "main", False, 1)),
        ([k8s_pod("a", status(state={"waiting": {"reason": "CrashLoopBackOff"}},
                              last={"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
                              restarts=3))], ("a", "main", True, 137)),
        # a sidecar that exited 0 does not hide the failing container
        ([k8s_pod("a", status("sidecar", state={"terminated": {"exitCode": 0}}),
                  status("main", state={"terminated": {"exitCode": 2}}))],
         ("a", "main", False, 2)),
        # no container status at all: the pod's first container
        ([k8s_pod("a")], ("a", "main", False, None)),
    ],
)
def test_failing_container_choice(pods: list[dict[str, Any]], expected: tuple[Any, ...]) -> None:
    first = _targets(pods)[0]
    assert (first.pod, first.container, first.restarted, first.exit_code) == expected


def test_events_deduplicated_and_oldest_first() -> None:
    events = [
        {"reason": "BackOff", "message": "restarting", "createdAt": "2026-01-01T00:02:00Z"},
        {"reason": "OOMKilling", "message": "killed", "createdAt": "2026-01-01T00:01:00Z"},
        {"reason": "BackOff", "message": "restarting", "createdAt": "2026-01-01T00:03:00Z"},
    ]
    assert [e["reason"] for e in _merge_events(events)] == ["OOMKilling", "BackOff"]


def test_namespace_falls_back_to_the_project_convention() -> None:
    assert namespace_of(Workload.from_api({"projectName": "x"})) == "runai-x"
    assert namespace_of(Workload.from_api({"projectName": "x", "namespace": "custom"})) == \
        "custom"


def listed(kind: str = "failed", *, current: bool = True, moved_on: bool = False) -> Episode:
    """WORKLOAD's episode as the monitor hands it over: entered its phase at 00:04 after
    being created at 00:00 (and, `moved_on`, resubmitted at 00:06), timeline read."""
    phase = {"failed": "Failed", "pending": "Pending", "degraded": "Degraded"}[kind]
    at = parse_time("2026-01-01T00:04:00Z")
    assert at is not None
    timeline = [_phase(0, "Creating"), _phase(4, phase)]
    if moved_on:
        timeline += [_phase(6, "Creating"), _phase(7, "Running")]
    workload = Workload.from_api(WORKLOAD | {"phase": phase, "phaseUpdatedAt": _at(4)})
    return Episode(f"w1@{at.isoformat()}", kind, at, workload, current, tuple(timeline))


@pytest.fixture
def clients(scripted: ScriptedServer) -> Iterator[tuple[RunaiClient, KubeClient]]:
    scripted.script("/api/v2/token", Answer(200, json.dumps(
        {"access_token": "t", "token_type": "Bearer", "expires_in": 3600})))
    with httpx.Client() as http:
        yield (RunaiClient(scripted.url, "c", "s", http=http, policy=FAST),
               KubeClient(KubeAccess(server=scripted.url, token="k"), http=http, policy=FAST))


def script_workload(scripted: ScriptedServer) -> None:
    scripted.script("/api/v1/workloads/w1", Answer(200, json.dumps(
        WORKLOAD | {"phaseMessage": "containers crashed"})))
    scripted.script("/api/v1/workloads/w1/events", Answer(200, json.dumps({"events": [
        {"type": "Warning", "reason": "BackOff", "message": "Back-off restarting",
         "source": "kubelet", "createdAt": "2026-01-01T00:05:00Z", "clusterId": "c"}]})))
    scripted.script("/api/v1/workloads/w1/pods", Answer(200, json.dumps({"pods": [
        {"name": "train-1-0", "nodeName": "gpu-7", "createdAt": "2026-01-01T00:00:30Z",
         "containers": [{"name": "main", "image": "nvcr.io/pytorch:24.01"}]}]})))
    scripted.script("/api/v1/namespaces/runai-team-a/pods", Answer(200, json.dumps({"items": [
        k8s_pod("train-1-0", status(state={"waiting": {"reason": "CrashLoopBackOff"}},
                                    last={"terminated": {"exitCode": 1, "reason": "Error"}},
                                    restarts=2))]})))
    scripted.script("/api/v1/namespaces/runai-team-a/pods/train-1-0/log",
                    Answer(200, "prev line\nKeyError: 'label'\n", media_type="text/plain"),
                    Answer(200, "", media_type="text/plain"))
    scripted.script("/api/v1/namespaces/runai-team-a/events", Answer(200, json.dumps({"items": [
        {"type": "Warning", "reason": "BackOff", "message": "Back-off restarting",
         "source": {"component": "kubelet"}, "lastTimestamp": "2026-01-01T00:05:00Z"},
        {"type": "Normal", "reason": "Pulled", "message": "pulled",
         "source": {"component": "kubelet"}, "lastTimestamp": "2026-01-01T00:01:00Z"}]})))


def test_gather_full_bundle(scripted: ScriptedServer, clients) -> None:
    runai, kube = clients
    script_workload(scripted)
    evidence = gather(listed(), runai, kube, deadline=time.monotonic() + 10)
    bundle = evidence.bundle
    assert set(bundle) == {"workload", "events", "pods", "logs"}
    assert bundle["workload"]["phase"] == "Failed"
    assert [e["reason"] for e in bundle["events"]] == ["Pulled", "BackOff"]
    assert bundle["pods"][0]["nodeName"] == "node-train-1-0"  # Kubernetes names it
    assert bundle["pods"][0]["status"]["containerStatuses"][0]["lastState"]["terminated"][
        "exitCode"] == 1
    assert "KeyError: 'label'" in bundle["logs"]
    assert "(previous)" in bundle["logs"]
    assert evidence.logs_available and not evidence.gaps
    assert (evidence.pod, evidence.node, evidence.exit_code) == (
        "train-1-0", "node-train-1-0", 1)
    assert not scripted.requests_to("/api/v1/workloads/w1/pods")  # not needed: Kubernetes had it
    # its timeline holds phase updates only: Run:ai's events come from /events
    assert len(scripted.requests_to("/api/v1/workloads/w1/events")) == 1
    previous = [s for s in scripted.requests_to(
        "/api/v1/namespaces/runai-team-a/pods/train-1-0/log") if "previous=true" in s.query]
    assert len(previous) == 1


def test_without_kubernetes_logs_are_marked_unavailable(scripted: ScriptedServer, clients):
    runai, _ = clients
    script_workload(scripted)
    evidence = gather(listed(), runai, None, deadline=time.monotonic() + 10)
    assert not evidence.logs_available and evidence.bundle["logs"] == ""
    assert evidence.node == "gpu-7"  # Run:ai still names the node
    assert evidence.container_image == "nvcr.io/pytorch:24.01"
    assert any("no Kubernetes access" in g for g in evidence.gaps)


def test_a_failing_endpoint_is_a_gap_not_a_loss(scripted: ScriptedServer, clients) -> None:
    runai, kube = clients
    script_workload(scripted)
    scripted.answers["/api/v1/workloads/w1/events"] = [Answer(503)]
    evidence = gather(listed(), runai, kube, deadline=time.monotonic() + 10)
    assert any(g.startswith("events: ") for g in evidence.gaps)
    assert "KeyError" in evidence.bundle["logs"]


def test_a_past_episode_is_not_judged_by_the_present_pods(
    scripted: ScriptedServer, clients
) -> None:
    runai, kube = clients
    script_workload(scripted)
    evidence = gather(listed(current=False, moved_on=True), runai, kube,
                      deadline=time.monotonic() + 10)
    assert evidence.bundle["logs"] == "" and not evidence.logs_available
    assert not [s for s in scripted.seen if s.path.startswith("/api/v1/namespaces/")]
    assert evidence.node == "gpu-7"  # Run:ai's pods still name the node
    assert any("moved on" in g for g in evidence.gaps)


def test_listing_fields_suffice_without_the_detail(scripted: ScriptedServer, clients) -> None:
    runai, kube = clients
    script_workload(scripted)
    failure = listed()
    evidence = gather(failure, runai, kube, deadline=time.monotonic() + 10)
    assert evidence.bundle["workload"] == failure.workload.raw and not evidence.gaps
    assert not scripted.requests_to("/api/v1/workloads/w1")


def test_a_pending_episode_reads_the_detail(scripted: ScriptedServer, clients) -> None:
    runai, kube = clients
    script_workload(scripted)
    evidence = gather(listed("pending"), runai, kube, deadline=time.monotonic() + 10)
    assert evidence.bundle["workload"]["phaseMessage"] == "containers crashed"
    assert evidence.workload is not None
    assert evidence.workload.phase_message == "containers crashed"  # typed, from the detail
    assert len(scripted.requests_to("/api/v1/workloads/w1")) == 1


def test_spent_budget_gathers_nothing_more(scripted: ScriptedServer, clients) -> None:
    runai, kube = clients
    failure = listed()
    evidence = gather(failure, runai, kube, deadline=time.monotonic() - 1)
    assert evidence.bundle["workload"] == failure.workload.raw
    assert len(evidence.gaps) == 3 and not scripted.seen  # events, kubernetes, pods


def test_a_spent_cycle_budget_records_the_listing(scripted: ScriptedServer, clients) -> None:
    runai, kube = clients
    failure = listed()
    evidence = within_budget(failure, runai, kube, cycle_deadline=time.monotonic() - 1,
                             per_failure_s=10)
    assert evidence.gaps == ["all evidence: cycle time budget spent"] and not scripted.seen
    assert evidence.workload is failure.workload


def test_from_listing() -> None:
    evidence = from_listing(Workload.from_api(WORKLOAD), "all evidence: cycle time budget spent")
    assert evidence.bundle == {"workload": WORKLOAD, "events": [], "pods": [], "logs": ""}
    assert not evidence.logs_available


def test_pods_without_the_workload_label_are_found_by_run_ai_s_pod_names(
    scripted: ScriptedServer, clients
) -> None:
    runai, kube = clients
    script_workload(scripted)
    pod = k8s_pod("train-1-0", status(state={"terminated": {"exitCode": 3, "reason": "Error"}}))
    scripted.answers["/api/v1/namespaces/runai-team-a/pods"] = [
        Answer(200, json.dumps({"items": []}))]  # no pod carries the workloadName label
    scripted.script("/api/v1/namespaces/runai-team-a/pods/train-1-0",
                    Answer(200, json.dumps(pod)))
    scripted.answers["/api/v1/namespaces/runai-team-a/pods/train-1-0/log"] = [
        Answer(200, "RuntimeError: boom\n", media_type="text/plain")]
    evidence = gather(listed(), runai, kube, deadline=time.monotonic() + 10)
    assert len(scripted.requests_to("/api/v1/workloads/w1/pods")) == 1  # read once
    assert evidence.bundle["pods"][0]["status"]["containerStatuses"][0]["state"] == {
        "terminated": {"exitCode": 3, "reason": "Error"}}
    assert "RuntimeError: boom" in evidence.bundle["logs"] and evidence.logs_available
    assert (evidence.pod, evidence.node, evidence.exit_code) == (
        "train-1-0", "node-train-1-0", 3)


# ---- one episode's own evidence (exporter.detect.attempts) -----------------------------------
def _at(minute: int) -> str:
    return f"2026-01-01T00:{minute:02d}:00Z"


def _phase(minute: int, phase: str) -> dict[str, Any]:
    return {"meta": {"creationTimestamp": _at(minute), "type": "PhaseUpdate"},
            "spec": {"phaseUpdate": {"phase": phase, "phaseMessage": ""}}}


# Attempt 1 (00:00-00:03) died of an OOM; attempt 2 (from 00:06) crash-looped (Degraded at
# 00:10), recovered at 00:14 and failed with a traceback at 00:20; attempt 3 from 00:40 runs.
TIMELINE = (
    _phase(0, "Creating"), _phase(1, "Running"), _phase(3, "Failed"),
    _phase(6, "Creating"), _phase(7, "Running"), _phase(10, "Degraded"), _phase(14, "Running"),
    _phase(20, "Failed"), _phase(40, "Creating"), _phase(41, "Running"),
)
EVENTS = [  # newest first, as Run:ai serves them
    {"type": "Normal", "reason": "Started", "message": "attempt 3", "createdAt": _at(41)},
    {"type": "Warning", "reason": "BackOff", "message": "attempt 2", "createdAt": _at(9)},
    {"type": "Warning", "reason": "OOMKilling", "message": "attempt 1", "createdAt": _at(2)},
]
SCHEDULED = [  # in the timeline only: Run:ai keeps them longer than its events page shows
    {"meta": {"creationTimestamp": _at(minute), "type": "Event"},
     "spec": {"event": {"type": "Normal", "reason": "Scheduled", "createdAt": _at(minute),
                        "message": f"Successfully assigned runai-team-a/train-1-0 to gpu-{n}",
                        "involvedObject": {"kind": "Pod", "name": "train-1-0"}}}}
    for n, minute in ((1, 1), (2, 7), (3, 41))
]


def _event_record(event: dict[str, Any]) -> dict[str, Any]:
    return {"meta": {"creationTimestamp": event["createdAt"], "type": "Event"},
            "spec": {"event": event}}


# The timeline holds every event ("history details, including events"); /events pages the
# newest of the same events.
EVENT_RECORDS = tuple(_event_record(e) for e in EVENTS)


def _pod(name: str, created: int, cs: dict[str, Any], phase: str = "Running") -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": _at(created)},
            "spec": {"nodeName": f"node-{name}", "containers": [{"name": "main"}]},
            "status": {"phase": phase, "reason": None, "containerStatuses": [cs]}}


def _terminated(code: int, finished: int) -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": "Error", "finishedAt": _at(finished)}}


def script_attempts(scripted: ScriptedServer, pods: list[dict[str, Any]]) -> None:
    scripted.script("/api/v1/workloads/w1/events", Answer(200, json.dumps({"events": EVENTS})))
    scripted.script("/api/v1/workloads/w1/history", Answer(200, json.dumps(
        {"records": [*TIMELINE, *SCHEDULED, *EVENT_RECORDS]})))
    scripted.script("/api/v1/workloads/w1/pods", Answer(200, json.dumps({"pods": [
        {"name": "train-1-0", "nodeName": "gpu-9", "createdAt": _at(40),
         "containers": [{"name": "main", "image": "img:3"}]}]})))
    scripted.script("/api/v1/namespaces/runai-team-a/pods",
                    Answer(200, json.dumps({"items": pods})))
    scripted.script("/api/v1/namespaces/runai-team-a/pods/train-1-0/log",
                    Answer(200, "ValueError: bad batch\n", media_type="text/plain"))
    scripted.script("/api/v1/namespaces/runai-team-a/events",
                    Answer(200, json.dumps({"items": []})))


def episode(minute: int, kind: str, *, current: bool, timeline: bool = True,
            attempts: int = 3) -> Episode:
    """One of TIMELINE's episodes, as if only its first `attempts` attempts had happened."""
    at = parse_time(_at(minute))
    assert at is not None
    phases = TIMELINE[: {1: 3, 2: 8, 3: len(TIMELINE)}[attempts]]
    last = phases[-1]["meta"]["creationTimestamp"]
    records = (*phases, *SCHEDULED[:attempts],
               *(r for r in EVENT_RECORDS if r["meta"]["creationTimestamp"] <= last))
    return Episode(f"w1@{at.isoformat()}", kind, at, Workload.from_api(WORKLOAD), current,
                   records if timeline else None)


def reasons(evidence: Any, *wanted: str) -> list[str]:
    return [f"{e['reason']}: {e['message']}" for e in evidence.bundle["events"]
            if not wanted or e["reason"] in wanted]


def test_a_live_failure_keeps_only_its_attempts_events_and_pods(
    scripted: ScriptedServer, clients
) -> None:
    runai, kube = clients
    this_attempt = _pod("train-1-0", 6, status(state=_terminated(1, 20)), phase="Failed")
    earlier = _pod("train-1-old", 0, status(state=_terminated(137, 3)), phase="Failed")
    script_attempts(scripted, [earlier, this_attempt])
    evidence = gather(episode(20, "failed", current=True, timeline=False), runai, kube,
                      deadline=time.monotonic() + 10)
    assert reasons(evidence) == ["Scheduled: Successfully assigned runai-team-a/train-1-0 to "
                                 "gpu-2", "BackOff: attempt 2"]
    assert [p["name"] for p in evidence.bundle["pods"]] == ["train-1-0"]
    assert "ValueError" in evidence.bundle["logs"] and evidence.logs_available
    assert scripted.requests_to("/api/v1/workloads/w1/history")  # no timeline given: read it
    assert not evidence.gaps


@pytest.mark.parametrize("timeline", [True, False])
def test_the_timeline_s_events_are_not_read_again_from_events(
    scripted: ScriptedServer, clients, timeline: bool
) -> None:
    """Given with the episode or read for it, the timeline holds the workload's events: the
    same bundle as with /events (whose page repeats them), one request fewer."""
    runai, kube = clients
    script_attempts(scripted, [_pod("train-1-0", 6, status(state=_terminated(1, 20)),
                                    phase="Failed")])
    evidence = gather(episode(20, "failed", current=True, timeline=timeline), runai, kube,
                      deadline=time.monotonic() + 10)
    assert reasons(evidence) == ["Scheduled: Successfully assigned runai-team-a/train-1-0 to "
                                 "gpu-2", "BackOff: attempt 2"]
    assert not scripted.requests_to("/api/v1/workloads/w1/events")
    assert not evidence.gaps


def test_events_are_asked_when_the_timeline_cannot_be_read(
    scripted: ScriptedServer, clients
) -> None:
    runai, kube = clients
    script_attempts(scripted, [])
    scripted.answers["/api/v1/workloads/w1/history"] = [Answer(503)] * 3
    evidence = gather(episode(20, "failed", current=True, timeline=False), runai, kube,
                      deadline=time.monotonic() + 10)
    assert len(scripted.requests_to("/api/v1/workloads/w1/events")) == 1
    assert {"BackOff: attempt 2", "OOMKilling: attempt 1"} <= set(reasons(evidence))
    assert any(g.startswith("history: ") for g in evidence.gaps)


def test_a_past_failure_is_not_judged_by_a_later_attempt(scripted: ScriptedServer, clients):
    runai, kube = clients
    later = _pod("train-1-0", 40, status(state={"running": {"startedAt": _at(41)}}))
    script_attempts(scripted, [later])
    evidence = gather(episode(3, "failed", current=False), runai, kube,
                      deadline=time.monotonic() + 10)
    assert reasons(evidence) == ["Scheduled: Successfully assigned runai-team-a/train-1-0 to "
                                 "gpu-1", "OOMKilling: attempt 1"]
    assert evidence.bundle["pods"] == [] and evidence.bundle["logs"] == ""
    # later attempts replaced its pods: Kubernetes is not even asked
    assert not [s for s in scripted.seen if s.path.startswith("/api/v1/namespaces/")]
    # Run:ai's pod is attempt 3's (gpu-9); this attempt's own Scheduled event names its node
    assert (evidence.pod, evidence.node) == ("train-1-0", "gpu-1")
    assert not evidence.logs_available and any("moved on" in g for g in evidence.gaps)
    assert not scripted.requests_to("/api/v1/workloads/w1")  # the detail shows the present
    assert not scripted.requests_to("/api/v1/workloads/w1/history")  # the timeline was given


def test_a_past_degraded_spell_reads_the_crash_it_left_in_its_pod(
    scripted: ScriptedServer, clients
) -> None:
    runai, kube = clients
    recovered = _pod("train-1-0", 6, status(state={"running": {"startedAt": _at(13)}},
                                            last=_terminated(1, 12), restarts=4))
    script_attempts(scripted, [recovered])
    evidence = gather(episode(10, "degraded", current=False, attempts=2), runai, kube,
                      deadline=time.monotonic() + 10)
    [pod] = evidence.bundle["pods"]
    [cs] = pod["status"]["containerStatuses"]
    assert cs["state"] == {} and cs["lastState"]["terminated"]["exitCode"] == 1
    assert pod["status"]["phase"] is None  # "Running" is the present, not the episode
    assert reasons(evidence, "BackOff", "OOMKilling") == ["BackOff: attempt 2"]
    reads = scripted.requests_to("/api/v1/namespaces/runai-team-a/pods/train-1-0/log")
    assert [("previous=true" in r.query) for r in reads] == [True]  # only the crashed one
    assert "ValueError" in evidence.bundle["logs"] and evidence.logs_available
    assert (evidence.pod, evidence.exit_code) == ("train-1-0", 1)


def test_a_past_crash_outside_the_episode_is_not_its_evidence(
    scripted: ScriptedServer, clients
) -> None:
    runai, kube = clients
    crashed_later = _pod("train-1-0", 6, status(state={"running": {}},
                                                last=_terminated(1, 19), restarts=5))
    script_attempts(scripted, [crashed_later])
    evidence = gather(episode(10, "degraded", current=False, attempts=2), runai, kube,
                      deadline=time.monotonic() + 10)
    assert evidence.bundle["pods"] == [] and evidence.bundle["logs"] == ""
    assert not scripted.requests_to("/api/v1/namespaces/runai-team-a/pods/train-1-0/log")


def test_an_episode_the_timeline_lacks_keeps_all_evidence_and_says_so(
    scripted: ScriptedServer, clients
) -> None:
    runai, kube = clients
    script_attempts(scripted, [])
    evidence = gather(episode(25, "failed", current=True), runai, kube,
                      deadline=time.monotonic() + 10)
    assert len(reasons(evidence, "BackOff", "OOMKilling", "Started")) == 3
    assert any(g.startswith("attempt: ") for g in evidence.gaps)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], (None, None)),
        # distributed: the pod the latest warning is about
        ([("Scheduled", "Successfully assigned ns/job-master-0 to n1", "job-master-0"),
          ("Scheduled", "Successfully assigned ns/job-worker-0 to n2", "job-worker-0"),
          ("Warning", "NCCL timeout", "job-master-0"),
          ("Warning", "Xid 79", "job-worker-0")], ("job-worker-0", "n2")),
        # several pods, no warning about one of them: a node only if they shared it
        ([("Scheduled", "Successfully assigned ns/a to n1", "a"),
          ("Scheduled", "Successfully assigned ns/b to n1", "b")], (None, "n1")),
        ([("Scheduled", "Successfully assigned ns/a to n1", "a"),
          ("Scheduled", "Successfully assigned ns/b to n2", "b")], (None, None)),
        ([("Scheduled", "assigned somewhere", "a")], (None, None)),
    ],
)
def test_placement_from_scheduled_events(
    events: list[tuple[str, str, str]], expected: tuple[str | None, str | None]
) -> None:
    raw = [{"type": "Normal" if reason == "Scheduled" else "Warning",
            "reason": reason, "message": message, "createdAt": _at(i),
            "involvedObject": {"kind": "Pod", "name": pod}}
           for i, (reason, message, pod) in enumerate(events)]
    assert placement(raw) == expected
