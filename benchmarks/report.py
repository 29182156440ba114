"""The one result format every benchmark writes: a printed table and a JSON file.

A figure is measured together with its baseline in the same run, so the ratio holds on a
noisy machine even when absolute numbers drift.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Figure:
    name: str  # what was measured, e.g. "poll cycle wall time"
    value: float
    unit: str  # base units: "s", "bytes", "1/s"
    size: str  # workload size, e.g. "10000 workloads"
    baseline_name: str | None = None
    baseline_value: float | None = None
    bar: str | None = None  # the bar, e.g. "<= 2 s"
    passed: bool | None = None  # against the bar, when there is one

    @property
    def ratio(self) -> float | None:
        if not self.baseline_value:
            return None
        return self.value / self.baseline_value


def machine() -> dict[str, str | int]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count() or 0,
    }


def emit(benchmark: str, figures: list[Figure]) -> Path:
    """Print the table and write benchmarks/results/<benchmark>.json; return its path."""
    header = f"{'figure':<44} {'size':<22} {'value':>12} {'baseline':>12} {'ratio':>7}  bar"
    print(f"\n== {benchmark} ==\n{header}\n{'-' * len(header)}")
    for f in figures:
        base = "" if f.baseline_value is None else f"{f.baseline_value:.4g}"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        verdict = "" if f.passed is None else ("PASS" if f.passed else "FAIL")
        print(
            f"{f.name:<44} {f.size:<22} {f.value:>10.4g}{f.unit:>2} {base:>12} {ratio:>7}"
            f"  {f.bar or ''} {verdict}"
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{benchmark}.json"
    payload = {
        "benchmark": benchmark,
        "ran_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    sys.stdout.flush()
    return out
