"""The one result format every benchmark writes: a printed table and a JSON file.

A figure is measured together with its baseline in the same run, so the ratio holds on a
noisy machine even when absolute numbers drift. A figure measured at several sizes also gets
its growth exponent: the log-log slope between consecutive sizes (1.0 = linear).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS_ENV = "BENCH_RESULTS_DIR"  # a smoke run (`--quick`) writes elsewhere than the published
LINEAR_LIMIT = 1.15  # growth exponent still called linear: sizes this far apart carry noise
BASELINE_SLACK = 0.15  # how much faster than its same-run baseline a figure may grow

# Taken when a benchmark module imports this one, i.e. as its process starts.
_STARTED = time.monotonic()
_LOAD_AT_START = os.getloadavg()


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


@dataclass(frozen=True)
class Growth:
    """How one figure grew from one size to the next."""

    figure: str
    unit: str
    from_size: float
    to_size: float
    from_value: float
    to_value: float
    exponent: float  # log(to_value / from_value) / log(to_size / from_size)
    baseline_exponent: float | None = None  # the same for the figure's baseline

    @property
    def verdict(self) -> str:
        if self.exponent <= LINEAR_LIMIT:
            return "ok"
        # Measured side by side, a baseline that grows as fast points at the thing both hit
        # (the API server, the machine), not at the code under test.
        if (
            self.baseline_exponent is not None
            and self.exponent - self.baseline_exponent <= BASELINE_SLACK
        ):
            return "ok: baseline grows alike"
        return "FLAGGED"

    @property
    def flagged(self) -> bool:
        return self.verdict == "FLAGGED"


_SIZE = re.compile(r"\s*(\d[\d,_]*(?:\.\d+)?)")


def size_of(label: str) -> float | None:
    """The leading number of a size label: "1,000,000 failures" -> 1e6; None if there is none."""
    match = _SIZE.match(label)
    return float(match.group(1).replace(",", "").replace("_", "")) if match else None


def _exponent(v0: float | None, v1: float | None, s0: float, s1: float) -> float | None:
    if v0 is None or v1 is None or v0 <= 0 or v1 <= 0:
        return None
    return math.log(v1 / v0) / math.log(s1 / s0)


def growth(figures: Iterable[Figure]) -> list[Growth]:
    """Exponents for every figure (same name and baseline) measured at two or more sizes."""
    series: dict[tuple[str, str | None], dict[float, Figure]] = {}
    for f in figures:
        size = size_of(f.size)
        if size is not None and size > 0:
            series.setdefault((f.name, f.baseline_name), {}).setdefault(size, f)
    out = []
    for (name, _), by_size in series.items():
        for s0, s1 in pairwise(sorted(by_size)):
            a, b = by_size[s0], by_size[s1]
            exponent = _exponent(a.value, b.value, s0, s1)
            if exponent is None:
                continue
            out.append(Growth(
                name, a.unit, s0, s1, a.value, b.value, exponent,
                _exponent(a.baseline_value, b.baseline_value, s0, s1),
            ))  # fmt: skip
    return out


def misses(figures: list[Figure]) -> list[str]:
    """What this run got wrong: each missed bar and each flagged growth, one line each."""
    out = [f"{f.name} at {f.size}: {f.value:.4g} {f.unit}, bar {f.bar}"
           for f in figures if f.passed is False]  # fmt: skip
    out += [f"{g.figure} grows as size^{g.exponent:.2f} from {g.from_size:g} to {g.to_size:g}"
            for g in growth(figures) if g.flagged]  # fmt: skip
    return out


def exit_code(figures: list[Figure]) -> int:
    """0 when every bar is met and nothing grows worse than linearly; 1 otherwise."""
    missed = misses(figures)
    for line in missed:
        print(f"MISSED: {line}", file=sys.stderr)
    return 1 if missed else 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def machine() -> dict[str, str | int]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count() or 0,
        "memory_bytes": _memory_bytes(),
    }


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or RESULTS_DIR)


def _print_table(benchmark: str, figures: list[Figure], grown: list[Growth]) -> None:
    header = f"{'figure':<44} {'size':<22} {'value':>12} {'baseline':>12} {'ratio':>7}  bar"
    print(f"\n== {benchmark} ==\n{header}\n{'-' * len(header)}")
    for f in figures:
        base = "" if f.baseline_value is None else f"{f.baseline_value:.4g}"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        verdict = "" if f.passed is None else ("PASS" if f.passed else "FAIL")
        print(
            f"{f.name:<44} {f.size:<22} {f.value:>10.4g} {f.unit:<5} {base:>10} {ratio:>7}"
            f"  {f.bar or ''} {verdict}"
        )
    if grown:
        print(f"\n{'growth (log-log slope, 1.0 = linear)':<44} {'sizes':<22} "
              f"{'exponent':>10} {'baseline':>10}  verdict")  # fmt: skip
        for g in grown:
            sizes = f"{g.from_size:g} -> {g.to_size:g}"
            base = "" if g.baseline_exponent is None else f"{g.baseline_exponent:.2f}"
            print(f"{g.figure:<44} {sizes:<22} {g.exponent:>10.2f} {base:>10}  {g.verdict}")


def emit(benchmark: str, figures: list[Figure]) -> Path:
    """Print the table and write <results>/<benchmark>.json; return its path."""
    grown = growth(figures)
    _print_table(benchmark, figures, grown)
    out_dir = results_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{benchmark}.json"
    payload = {
        "benchmark": benchmark,
        "ran_at": datetime.now(UTC).isoformat(),
        "duration_s": round(time.monotonic() - _STARTED, 1),
        "load_average": {"start": list(_LOAD_AT_START), "end": list(os.getloadavg())},
        "machine": machine(),
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
        "growth": [asdict(g) | {"verdict": g.verdict} for g in grown],
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    sys.stdout.flush()
    return out
