"""Scenarios: deterministic for a seed, every category and phase present, sizes as promised."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from history.categories import CATEGORIES, KINDS
from simulator.config import SimulatorConfig
from simulator.generator import generate
from simulator.scenarios import get_scenario
from simulator.truth import truth
from simulator.world import World

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _world(**kw: object) -> World:
    return World(SimulatorConfig(speed=0, start=START, **kw))  # type: ignore[arg-type]


def _phases(world: World) -> set[str]:
    return {world.specs[i].steps[world.current[i]].phase for i in world.order}


def test_same_seed_same_cluster_and_another_seed_differs():
    a, b, c = _world(seed=7), _world(seed=7), _world(seed=8)
    assert [a.workload_json(a.at(i)) for i in a.order] == [
        b.workload_json(b.at(i)) for i in b.order]
    assert truth(a) == truth(b)
    assert [s.id for s in a.specs] != [s.id for s in c.specs]


def test_demo_has_every_category_kind_and_phase():
    world = _world(scenario="demo")
    episodes = truth(world)["episodes"]
    categories = {e["category"] for e in episodes}
    assert set(CATEGORIES) - {"unknown"} <= categories
    assert {e["kind"] for e in episodes} == set(KINDS)
    assert {e["workload_type"] for e in episodes} == {"training", "distributed", "workspace",
                                                      "inference"}
    assert {"Pending", "Running", "Completed", "Failed", "Degraded", "Stopped"} <= _phases(world)


def test_demo_has_a_week_of_history_and_resubmitted_failures():
    world = _world(scenario="demo")
    created = [world.specs[i].created for i in world.order]
    assert min(created) < START.timestamp() - 6 * 86400
    refailed = [s for s in world.specs if sum(e.kind == "failed" for e in s.episodes) > 1]
    assert refailed, "some workloads fail, are resubmitted and fail again"
    stamps = {e.at for e in refailed[0].episodes}
    assert len(stamps) == len(refailed[0].episodes)


def test_demo_keeps_producing_failures_as_time_passes():
    world = _world(scenario="demo")
    before = len(truth(world)["episodes"])
    world.advance(6 * 3600)
    assert len(truth(world)["episodes"]) > before


def test_large_has_10000_workloads_and_over_1000_failed():
    world = _world(scenario="large")
    assert len(world.order) == 10_000
    failed = sum(world.specs[i].steps[world.current[i]].phase == "Failed" for i in world.order)
    assert failed >= 1000


def test_empty_scenario_is_empty():
    world = _world(scenario="empty")
    assert world.order == []
    assert truth(world)["episodes"] == []


def test_scale_overrides_the_count():
    assert len(_world(scenario="demo", scale=123).order) == 123


def test_unknown_scenario_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown scenario 'nope'"):
        get_scenario("nope")


@pytest.mark.slow
def test_fifty_thousand_workloads_generate_in_a_few_seconds():
    # CPU time, not wall time: the test machine is shared and often busy.
    started = time.process_time()
    specs = generate(get_scenario("large", 50_000), 7, int(START.timestamp()))
    elapsed = time.process_time() - started
    assert sum(s.created <= START.timestamp() for s in specs) == 50_000
    assert elapsed < 4.0
