"""The benchmark suite's own machinery: sizes, growth exponents, verdicts, exit codes, the page.

The heavy benchmarks themselves run under `make bench`; here they are fed small synthetic
results, except for one real `python -m benchmarks --quick classifier` run in a subprocess.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks import __main__ as suite
from benchmarks.report import (
    RESULTS_ENV,
    Figure,
    emit,
    exit_code,
    growth,
    misses,
    size_of,
)

ROOT = Path(__file__).resolve().parent.parent


def at(
    sizes: list[int],
    fn: Callable[[int], float],
    name: str = "cycle",
    baseline: Callable[[int], float] | None = None,
) -> list[Figure]:
    """One synthetic figure per size: value fn(size), baseline baseline(size)."""
    return [
        Figure(name, float(fn(n)), "s", f"{n:,} workloads",
               "bare" if baseline else None, float(baseline(n)) if baseline else None)
        for n in sizes
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("1000 workloads", 1000.0),
        ("1,000,000 failures", 1e6),
        ("100_000 failures", 1e5),
        ("2.5 GiB", 2.5),
        ("50 projects, 5725 series", 50.0),
        ("0 records", 0.0),
        ("workloads", None),
        ("", None),
    ],
)
def test_size_of_reads_the_leading_number(label: str, expected: float | None) -> None:
    assert size_of(label) == expected


def test_linear_growth_has_exponent_one_per_step() -> None:
    rows = growth(at([1000, 10_000, 50_000], lambda n: 3e-5 * n))
    assert [(g.from_size, g.to_size) for g in rows] == [(1000, 10_000), (10_000, 50_000)]
    assert all(math.isclose(g.exponent, 1.0) for g in rows)
    assert all(g.verdict == "ok" and not g.flagged for g in rows)


def test_fixed_costs_give_a_sublinear_exponent() -> None:
    (row,) = growth(at([100_000, 1_000_000], lambda n: 0.02 + 1e-9 * n))
    assert 0 < row.exponent < 0.5
    assert row.verdict == "ok"


def test_quadratic_growth_is_flagged() -> None:
    (row,) = growth(at([1000, 10_000], lambda n: 1e-8 * n * n))
    assert math.isclose(row.exponent, 2.0)
    assert row.flagged and row.verdict == "FLAGGED"


def test_just_above_linear_limit_is_flagged_and_just_below_is_not() -> None:
    (below,) = growth(at([1000, 10_000], lambda n: n**1.14))
    (above,) = growth(at([1000, 10_000], lambda n: n**1.17))
    assert below.verdict == "ok"
    assert above.verdict == "FLAGGED"


def test_a_baseline_that_grows_alike_clears_the_figure() -> None:
    figures = at([10_000, 50_000], lambda n: 2e-9 * n**1.3, baseline=lambda n: 1e-9 * n**1.25)
    (row,) = growth(figures)
    assert row.baseline_exponent is not None and math.isclose(row.baseline_exponent, 1.25)
    assert row.verdict == "ok: baseline grows alike" and not row.flagged


def test_a_figure_that_outgrows_its_linear_baseline_is_flagged() -> None:
    (row,) = growth(at([10_000, 50_000], lambda n: 1e-9 * n**1.4, baseline=lambda n: 1e-6 * n))
    assert row.flagged


def test_growth_groups_by_name_and_baseline_and_skips_what_cannot_be_sloped() -> None:
    figures = [
        *at([1000, 10_000], lambda n: n, name="a"),
        *at([1000, 10_000], lambda n: n * n, name="b"),
        Figure("one size only", 1.0, "s", "10 workloads"),
        Figure("zero", 0.0, "s", "10 workloads"),
        Figure("zero", 1.0, "s", "100 workloads"),
        Figure("no size", 1.0, "s", "all"),
        Figure("no size", 2.0, "s", "every"),
        Figure("size zero", 1.0, "s", "0 records"),
        Figure("size zero", 2.0, "s", "10 records"),
    ]
    rows = {g.figure: g for g in growth(figures)}
    assert set(rows) == {"a", "b"}
    assert rows["a"].verdict == "ok" and rows["b"].verdict == "FLAGGED"


def test_misses_and_exit_code_count_bars_and_flagged_growth(
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = [*at([1000, 10_000], lambda n: n), Figure("bar", 1.0, "s", "x", bar="<= 2 s",
                                                      passed=True)]
    assert misses(good) == [] and exit_code(good) == 0
    missed_bar = [*good, Figure("p95", 3.0, "s", "50 projects", bar="<= 2 s", passed=False)]
    assert misses(missed_bar) == ["p95 at 50 projects: 3 s, bar <= 2 s"]
    assert exit_code(missed_bar) == 1
    assert "MISSED: p95 at 50 projects" in capsys.readouterr().err
    flagged = [*good, *at([1000, 10_000], lambda n: n * n, name="slow")]
    assert exit_code(flagged) == 1
    assert "slow grows as size^2.00 from 1000 to 10000" in capsys.readouterr().err


def test_emit_writes_figures_growth_and_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    figures = at([1000, 10_000], lambda n: 1e-4 * n, baseline=lambda n: 5e-5 * n)
    path = emit("synthetic", figures)
    assert path == tmp_path / "synthetic.json"
    data = json.loads(path.read_text())
    assert data["benchmark"] == "synthetic"
    assert [f["ratio"] for f in data["figures"]] == pytest.approx([2.0, 2.0])
    (row,) = data["growth"]
    assert row["exponent"] == pytest.approx(1.0) and row["verdict"] == "ok"
    assert row["baseline_exponent"] == pytest.approx(1.0)
    assert len(data["load_average"]["start"]) == 3 and len(data["load_average"]["end"]) == 3
    assert data["machine"]["cpus"] >= 1 and data["duration_s"] >= 0
    out = capsys.readouterr().out
    assert "== synthetic ==" in out and "1000 -> 10000" in out and "1.00" in out


def synthetic_result(name: str, figures: list[Figure]) -> dict[str, object]:
    from dataclasses import asdict

    from benchmarks.report import machine

    grown = growth(figures)
    return {
        "benchmark": name, "ran_at": "2026-11-26T06:15:00+00:00", "duration_s": 12.0,
        "load_average": {"start": [1.5, 1.0, 0.5], "end": [2.25, 1.0, 0.5]},
        "machine": machine(),
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
        "growth": [asdict(g) | {"verdict": g.verdict} for g in grown],
    }  # fmt: skip


SUITE: dict[str, Any] = {
    "started_at": "2026-11-26T06:15:00+00:00", "duration_s": 600.0, "quick": False,
    "names": ["poll_cycle", "metrics_scrape"],
    "machine": {"python": "3.11.7", "platform": "Linux", "processor": "x86_64",
                "cpu_model": "AMD EPYC", "cpus": 2, "memory_bytes": 24 * 2**30},
    "load_average": {"mean_1m": 2.5, "max_1m": 4.0, "min_1m": 1.25},
    "benchmarks": {"poll_cycle": {"exit_code": 1, "duration_s": 300.0},
                   "metrics_scrape": {"exit_code": 0, "duration_s": 20.0},
                   "agent_latency": {"exit_code": 1, "duration_s": 5.0}},
}  # fmt: skip


def test_render_shows_machine_load_summary_growth_and_verdicts() -> None:
    poll = [
        *at([1000, 10_000, 50_000], lambda n: 3e-5 * n, name="steady cycle wall time",
            baseline=lambda n: 2e-5 * n),
        *at([1000, 10_000], lambda n: 1e-8 * n * n, name="quadratic"),
        Figure("peak", 150 * 2**20, "bytes", "10000 workloads", bar="<= 200 MiB", passed=True),
    ]
    scrape = [Figure("/metrics scrape p95", 0.3, "s", "50 projects", "/healthz p95", 0.01,
                     bar="<= 0.25 s", passed=False)]  # fmt: skip
    page = suite.render(
        [synthetic_result("poll_cycle", poll), synthetic_result("metrics_scrape", scrape)], SUITE
    )
    assert "2 CPUs (AMD EPYC), 24 GiB RAM" in page
    assert "mean 2.50, max 4.00, min 1.25" in page
    assert "| [poll_cycle](#poll-cycle) | 2026-11-26 06:15:00 | 12 s | 1.50 -> 2.25 | 1 of 1 " \
           "| 1 of 3 FLAGGED | 1 |" in page
    assert "| [metrics_scrape](#metrics-scrape) |" in page and "| 0 of 1 | " in page
    assert "| agent_latency | (no results: the benchmark failed) | 5 s |" in page
    assert ("| poll_cycle | steady cycle wall time | 10,000 -> 50,000 | 0.3 s -> 1.5 s "
            "| 1.00 | 1.00 | ok |") in page
    assert "| poll_cycle | quadratic | 1,000 -> 10,000 | 0.01 s -> 1 s | 2.00 |  | FLAGGED |" \
        in page
    assert "| peak | 10000 workloads | 150.0 MiB |" in page
    assert "| /metrics scrape p95 | 50 projects | 0.3 s | /healthz p95: 0.01 s | 30.00 " \
           "| <= 0.25 s | FAIL |" in page


def test_render_reads_older_results_without_growth_or_load() -> None:
    old = synthetic_result("agent_history",
                           at([100_000, 1_000_000], lambda n: 1e-7 * n, name="queries"))
    for key in ("growth", "load_average", "duration_s"):
        del old[key]
    page = suite.render([old])
    assert "| agent_history | queries | 100,000 -> 1,000,000 | 0.01 s -> 0.1 s | 1.00 |" in page
    assert "Last full run" not in page


def test_render_only_rebuilds_the_page_from_a_results_folder(tmp_path: Path) -> None:
    result = synthetic_result("classifier", [Figure("rate", 2500.0, "1/s", "116 bundles")])
    (tmp_path / "classifier.json").write_text(json.dumps(result))
    (tmp_path / "suite.json").write_text(json.dumps(SUITE))
    doc = tmp_path / "performance.md"
    code = suite.main(["--render-only", "--results", str(tmp_path), "--doc", str(doc)])
    assert code == 0
    page = doc.read_text()
    assert page.startswith("# Performance") and "| rate | 116 bundles | 2500 1/s |" in page


@pytest.mark.parametrize("name", suite.BENCHMARKS)
def test_each_benchmark_describes_itself_on_the_page(name: str) -> None:
    about = suite.describe(name)
    assert len(about.splitlines()) >= 3
    assert "python -m benchmarks" not in about and "\n\n\n" not in about


def test_unknown_benchmark_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert suite.main(["--results", "/nonexistent", "nope"]) == 2
    assert capsys.readouterr().err.strip() == "ERROR: unknown benchmark(s): nope"


@pytest.mark.slow
def test_quick_run_of_one_benchmark_in_its_own_process(tmp_path: Path) -> None:
    doc = tmp_path / "page.md"
    (tmp_path / "suite.json").write_text(json.dumps(SUITE))  # an earlier full run's
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--results", str(tmp_path),
         "--doc", str(doc), "classifier"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    result = json.loads((tmp_path / "classifier.json").read_text())
    (figure,) = result["figures"]
    assert figure["value"] > 0 and figure["baseline_value"] > 0
    # The suite's exit code follows the benchmark's bar, whichever way this machine went.
    assert done.returncode == (0 if figure["passed"] else 1), done.stderr
    page = doc.read_text()
    assert "## classifier" in page and "Last full run: 2026-11-26 06:15:00 UTC" in page
    # A subset keeps the full run's header and updates its own outcome only.
    after = json.loads((tmp_path / "suite.json").read_text())
    assert after["started_at"] == SUITE["started_at"]
    assert after["load_average"] == SUITE["load_average"]
    assert after["benchmarks"]["classifier"]["exit_code"] == done.returncode
    assert after["benchmarks"]["poll_cycle"] == SUITE["benchmarks"]["poll_cycle"]
