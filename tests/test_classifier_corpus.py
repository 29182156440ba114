"""Every real-world case, the shared corpus and our own, is classified as a person labelled it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter.classifier import classify
from history.categories import CATEGORIES

DATA = Path(__file__).parent / "data"
CASES = sorted((DATA / "corpus").glob("*.json")) + sorted((DATA / "cases").glob("*.json"))
SOURCES = ("log", "event", "pod_status", "workload", "none")


def load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_is_classified_as_labelled(path: Path) -> None:
    case = load(path)
    verdict = classify(case["bundle"])
    assert verdict.category == case["expected"]["category"], (
        f"{case['id']}: got {verdict.category} from {verdict.evidence_source}: "
        f"{verdict.evidence[:200]!r}"
    )


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_verdict_is_well_formed(path: Path) -> None:
    verdict = classify(load(path)["bundle"])
    assert verdict.category in CATEGORIES
    assert 0.0 <= verdict.confidence <= 1.0
    assert verdict.evidence_source in SOURCES
    assert len(verdict.evidence) <= 500
    assert verdict.summary and verdict.recommendation
    if verdict.category != "unknown":
        assert verdict.evidence, "a named cause quotes its evidence"
        assert verdict.evidence_source != "none"


def test_the_shared_corpus_is_all_here() -> None:
    assert len(list((DATA / "corpus").glob("*.json"))) >= 36
