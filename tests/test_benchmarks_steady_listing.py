"""benchmarks.steady_listing's harness at a small size: both listings measured, censuses equal,
and the exit code follows the bars.

The full size (50,000 workloads) runs under `make bench`; here 2,000, where the changes
listing's few fixed requests (changes, deleted, count) cannot be a tenth of a full listing's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import steady_listing
from benchmarks.report import RESULTS_ENV


def test_both_listings_are_measured_and_a_missed_bar_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    monkeypatch.setattr(steady_listing, "BAR_SIZE", 2000)  # the bars, at this size
    code = steady_listing.main(["--size", "2000", "--rounds", "2", "--latency", "1-5ms"])
    result = json.loads((tmp_path / "steady_listing.json").read_text())
    figures = {f["name"]: f for f in result["figures"]}
    requests = figures["steady listing requests"]
    # A full listing: four pages and the deleted one; changes: one page, deleted, count.
    assert requests["baseline_value"] >= 5 and requests["value"] == 3
    assert requests["passed"] is False and code == 1
    assert 0 < figures["steady listing workloads listed"]["value"] < 2000
    wall = figures["steady listing wall time"]
    assert 0 < wall["value"] < wall["baseline_value"]
