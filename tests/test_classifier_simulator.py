"""The classifier on the simulator's failure evidence, compared with the simulator's truth.

The simulator's templates were written separately from the rules, from the same kind of public
reports and with the traps of failure-signals.md, so this measures the rules on bundles they
were not tuned on. Each episode's own evidence is assembled the way the exporter does (workload,
its events, every pod's status, the failing pod's log first, then up to two peers' logs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from exporter.classifier import classify
from simulator import evidence, payloads
from simulator.evidence import container_name, pod_names
from simulator.generator import generate
from simulator.model import Episode
from simulator.scenarios import get_scenario

START = 1_790_000_000
LOG_LINES = 300  # the exporter's bound on the bundle's log text
BAR = 0.97


def episode_bundles(scale: int, seed: int) -> Iterator[tuple[Episode, dict[str, Any]]]:
    for spec in generate(get_scenario("demo", scale), seed, START):
        names, container = pod_names(spec), container_name(spec)
        for ep in spec.episodes:
            if ep.at > START:
                continue
            workload = payloads.workload(spec, ep.step, None)
            workload["pendingSchedulingMessages"] = payloads.pending_messages(
                spec, spec.steps[ep.step]
            )
            ev = evidence.render(spec, ep, seed)
            pods = [
                {
                    "name": names[i],
                    "nodeName": spec.nodes[i],
                    "status": {
                        "phase": ps.phase,
                        "reason": ps.reason,
                        "message": ps.message,
                        "containerStatuses": [
                            {
                                "name": container,
                                "restartCount": ps.restarts,
                                "state": ps.state,
                                "lastState": ps.last_state,
                            }
                        ],
                    },
                }
                for i, ps in enumerate(ev.pods)
            ]
            order = [ev.replica, *(i for i in range(len(ev.pods)) if i != ev.replica)]
            chosen = order[:3] if len(order) > 1 else order
            logs: list[str] = []
            for i in chosen:
                text = ev.pods[i].previous_log or ev.pods[i].log
                if text:
                    if len(chosen) > 1:
                        logs.append(f"==> {names[i]}/{container} (current) <==")
                    logs.extend(text[-(LOG_LINES // len(chosen)) :])
            events = [
                {"type": e.type, "reason": e.reason, "message": e.message, "source": e.source}
                for e in ev.events
            ]
            yield (
                ep,
                {"workload": workload, "events": events, "pods": pods, "logs": "\n".join(logs)},
            )


def test_categories_match_the_simulators_truth() -> None:
    seen: Counter[str] = Counter()
    wrong: Counter[tuple[str, str, str]] = Counter()
    for ep, bundle in episode_bundles(scale=2000, seed=7):
        seen[ep.category] += 1
        got = classify(bundle).category
        if got != ep.category:
            wrong[(ep.variant, ep.category, got)] += 1
    total = sum(seen.values())
    assert total >= 500 and len(seen) >= 14, seen  # most categories are exercised
    accuracy = 1 - sum(wrong.values()) / total
    assert accuracy >= BAR, f"accuracy {accuracy:.1%} of {total}; (variant, truth, got): {wrong}"
