"""The failure templates: every category covered with variants, every placeholder resolved,
and the traps of failure-signals.md present with the evidence that makes them traps."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from history.categories import CATEGORIES, KINDS
from simulator.evidence import render
from simulator.generator import POOLS, PROJECTS
from simulator.model import Episode, Step, WorkloadSpec
from simulator.templates import BY_KEY, VARIANTS

PLACEHOLDER = re.compile(r"\$\{?[a-z_]+\}?")


def _spec(workload_type: str) -> WorkloadSpec:
    replicas = 3 if workload_type == "distributed" else 1
    pool = POOLS["h100"]
    spec = WorkloadSpec(
        index=1, id="0b6d2c1e-2f4a-4c3b-9d1e-5a6b7c8d9e0f", name=f"{workload_type}-job-00001",
        type=workload_type, project=PROJECTS[0], pool=pool, gpus=8.0, replicas=replicas,
        image="nvcr.io/nvidia/pytorch:24.05-py3", submitted_by="alice@example.com",
        preemptible=True, priority=50, created=1_790_000_000, nodes=pool.nodes[:replicas])
    spec.steps = [Step(1_790_000_000, "Pending", "", -1, 0, 0, 0),
                  Step(1_790_000_100, "Running", "", -1, 0, 100, 0),
                  Step(1_790_003_700, "Failed", "", 0, 0, 100, 3600)]
    return spec


def test_every_category_but_unknown_has_several_variants():
    counts = Counter(v.category for v in VARIANTS)
    assert set(counts) == set(CATEGORIES) - {"unknown"}
    assert all(n >= 2 for n in counts.values()), counts
    assert {v.kind for v in VARIANTS} == set(KINDS)
    assert len(BY_KEY) == len(VARIANTS)  # keys are unique


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.key for v in VARIANTS])
def test_every_variant_renders_without_unresolved_placeholders(variant):
    for workload_type in variant.types:
        spec = _spec(workload_type)
        ep = Episode(variant.kind, variant.category, variant.key, 1_790_003_700, 2, 0)
        evidence = render(spec, ep, seed=7)
        texts = [evidence.condition_message]
        texts += [e.message for e in evidence.events]
        for pod in evidence.pods:
            texts += [pod.reason, pod.message, str(pod.state), str(pod.last_state)]
            texts += (pod.log or []) + (pod.previous_log or [])
        leftovers = [t for t in texts if PLACEHOLDER.search(t.replace("$PATH", ""))]
        assert not leftovers, leftovers[:3]
        assert len(evidence.pods) == spec.replicas


def test_rendering_is_deterministic_per_seed():
    variant = BY_KEY["torch-cuda-oom"]
    ep = Episode("failed", variant.category, variant.key, 1_790_003_700, 2, 0)
    a, b = render(_spec("training"), ep, 7), render(_spec("training"), ep, 7)
    c = render(_spec("training"), ep, 8)
    assert a == b
    assert a.pods[0].log != c.pods[0].log


def _evidence(key: str, workload_type: str = "training"):
    v = BY_KEY[key]
    return render(_spec(workload_type), Episode(v.kind, v.category, key, 1_790_003_700, 2, 0), 7)


def test_trap_preemption_exit_137_has_no_oom_evidence():
    ev = _evidence("preempted-137")
    term = ev.pods[0].state["terminated"]
    assert term["exitCode"] == 137 and term["reason"] != "OOMKilled"
    assert any(e.reason == "Preempted" for e in ev.events)
    assert not any("OOM" in e.reason for e in ev.events)


def test_trap_nccl_watchdog_on_peers_of_a_rank_that_ran_out_of_gpu_memory():
    ev = _evidence("rank0-oom-peers-watchdog", "distributed")
    assert "CUDA out of memory" in "\n".join(ev.pods[0].log or [])
    for peer in ev.pods[1:]:
        assert "Watchdog caught collective operation timeout" in "\n".join(peer.log or [])
    assert BY_KEY["rank0-oom-peers-watchdog"].category == "gpu_oom"


def test_trap_backoff_limit_over_a_real_cause():
    for key, category in (("preempted-backoff-limit", "preempted"),
                          ("backoff-limit-over-traceback", "app_error")):
        assert BY_KEY[key].condition_reason == "BackoffLimitExceeded"
        assert BY_KEY[key].category == category


def test_trap_oom_warning_before_the_fatal_traceback():
    log = _evidence("valueerror-after-oom-warning").pods[0].log or []
    warning = next(i for i, line in enumerate(log) if "ran out of memory" in line)
    assert warning < len(log) - 1 and log[-1].startswith("ValueError")


def test_trap_application_xids_versus_hardware_xids():
    def xids(key: str) -> set[int]:
        return {int(m) for e in _evidence(key).events
                for m in re.findall(r"\): (\d+),", e.message)}

    assert xids("illegal-address-xid31") == {31}
    assert xids("xid13-kernel-exception") == {13}
    assert xids("xid79-fell-off-bus") == {79}
    assert 48 in xids("xid48-double-bit-ecc")
    assert BY_KEY["illegal-address-xid31"].category == "cuda_error"
    assert BY_KEY["xid79-fell-off-bus"].category == "gpu_hardware"


def test_start_up_failures_hit_every_replica_alike():
    ev = _evidence("rendezvous-timeout", "distributed")
    assert all("RendezvousConnectionError" in "\n".join(p.log or []) for p in ev.pods)
