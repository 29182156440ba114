"""`make bench` / `python -m benchmarks [--quick] [NAME ...]`: run the benchmarks, then publish.

Each benchmark runs in its own process, so one's memory and caches do not colour another's, and
writes benchmarks/results/<name>.json; docs/performance.md is rebuilt from those files and from
benchmarks/results/suite.json (the machine, the load average while the suite ran). `--quick` is
a smoke run at small sizes: its results and its rendered page go to a scratch folder, never over
the published ones. Exits 1 when a benchmark fails, misses a bar or grows worse than linearly.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.report import (
    BASELINE_SLACK,
    LINEAR_LIMIT,
    RESULTS_ENV,
    Figure,
    growth,
    machine,
    results_dir,
)

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = (
    "classifier",
    "store_write",
    "poll_cycle",
    "steady_listing",
    "metrics_scrape",
    "agent_history",
    "agent_latency",
)
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"
SUITE = "suite"  # results/suite.json: how the last suite run went
TIMEOUT_S = 1800  # one benchmark; the whole suite takes about 10 minutes on 2 cores


class LoadSampler:
    """The 1-minute load average every few seconds while the suite runs."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        return {
            "mean_1m": round(sum(self.samples) / len(self.samples), 2),
            "max_1m": round(max(self.samples), 2),
            "min_1m": round(min(self.samples), 2),
        }


# -- rendering ---------------------------------------------------------------------------
def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    if unit == "bytes":
        return f"{value / 2**20:.1f} MiB"
    return f"{value:.4g} {unit}".strip()


def describe(name: str) -> str:
    """What a benchmark measures: its module docstring without the usage block (read, not
    imported, so rendering the page loads none of the heavy modules)."""
    path = ROOT / "benchmarks" / f"{name}.py"
    if not path.exists():
        return ""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return "\n".join(line for line in doc.splitlines() if not line.startswith("    ")).replace(
        "\n\n\n", "\n\n"
    ).strip()


def _growth_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The growth rows a result carries; older files without them are computed here."""
    if "growth" in result:
        return list(result["growth"])
    figures = [Figure(**{k: v for k, v in f.items() if k != "ratio"}) for f in result["figures"]]
    return [asdict(g) | {"verdict": g.verdict} for g in growth(figures)]


def _machine_line(m: dict[str, Any]) -> str:
    memory = f", {m['memory_bytes'] / 2**30:.0f} GiB RAM" if m.get("memory_bytes") else ""
    model = m.get("cpu_model") or m.get("processor", "")
    return f"{m['cpus']} CPUs ({model}){memory}, Python {m['python']}, {m['platform']}"


def _load_text(load: dict[str, Any] | None) -> str:
    if not load:
        return ""
    start, end = load.get("start"), load.get("end")
    if start and end:
        return f"{start[0]:.2f} -> {end[0]:.2f}"
    return ""


def _summary(results: list[dict[str, Any]], suite: dict[str, Any] | None) -> list[str]:
    runs = (suite or {}).get("benchmarks", {})
    lines = [
        "| benchmark | ran at (UTC) | duration | load (1 min) | bars met | growth | exit |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        name = result["benchmark"]
        barred = [f for f in result["figures"] if f.get("passed") is not None]
        met = sum(1 for f in barred if f["passed"])
        grown = _growth_of(result)
        flagged = sum(1 for g in grown if g["verdict"] == "FLAGGED")
        growth_text = (f"{flagged} of {len(grown)} FLAGGED" if flagged
                       else f"{len(grown)} ok" if grown else "")  # fmt: skip
        code = runs.get(name, {}).get("exit_code")
        duration = result.get("duration_s")
        lines.append(
            f"| [{name}](#{name.replace('_', '-')}) | {result['ran_at'][:19].replace('T', ' ')} "
            f"| {'' if duration is None else f'{duration:.0f} s'} "
            f"| {_load_text(result.get('load_average'))} | {met} of {len(barred)} "
            f"| {growth_text} | {'' if code is None else code} |"
        )
    for name, run in runs.items():
        if not any(r["benchmark"] == name for r in results):
            lines.append(f"| {name} | (no results: the benchmark failed) | "
                         f"{run['duration_s']:.0f} s | | | | {run['exit_code']} |")  # fmt: skip
    return lines


def _figure_table(result: dict[str, Any]) -> list[str]:
    lines = [
        "| figure | size | value | baseline | ratio | bar | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in result["figures"]:
        baseline = (
            f"{f['baseline_name']}: {_fmt(f['baseline_value'], f['unit'])}"
            if f.get("baseline_name")
            else ""
        )
        ratio = "" if f.get("ratio") is None else f"{f['ratio']:.2f}"
        verdict = {True: "pass", False: "FAIL", None: ""}[f.get("passed")]
        lines.append(
            f"| {f['name']} | {f['size']} | {_fmt(f['value'], f['unit'])} | {baseline} "
            f"| {ratio} | {f.get('bar') or ''} | {verdict} |"
        )
    return lines


def _growth_table(rows: list[dict[str, Any]], with_benchmark: bool = False) -> list[str]:
    head = "| benchmark " if with_benchmark else ""
    lines = [
        f"{head}| figure | sizes | values | exponent | baseline exponent | verdict |",
        f"{'|---' if with_benchmark else ''}|---|---|---|---|---|---|",
    ]
    for g in rows:
        base = "" if g.get("baseline_exponent") is None else f"{g['baseline_exponent']:.2f}"
        lines.append(
            f"{'| ' + g['benchmark'] + ' ' if with_benchmark else ''}"
            f"| {g['figure']} | {g['from_size']:,.0f} -> {g['to_size']:,.0f} "
            f"| {_fmt(g['from_value'], g['unit'])} -> {_fmt(g['to_value'], g['unit'])} "
            f"| {g['exponent']:.2f} | {base} | {g['verdict']} |"
        )
    return lines


def render(results: list[dict[str, Any]], suite: dict[str, Any] | None = None) -> str:
    lines = [
        "# Performance",
        "",
        "Produced by `make bench` (`python -m benchmarks`); every figure is measured in the same",
        "run as its baseline, so the ratio holds on a noisy machine. Regenerate after a change",
        "that touches a hot path. This page is generated: edit `benchmarks/__main__.py`, not it.",
        "",
    ]
    if suite:
        load = suite["load_average"]
        lines += [
            f"{'Smoke run (--quick, small sizes)' if suite.get('quick') else 'Last full run'}: "
            f"{suite['started_at'][:19].replace('T', ' ')} UTC, "
            f"{suite['duration_s'] / 60:.1f} minutes, on {_machine_line(suite['machine'])}.",
            f"Load average (1 min) while it ran: mean {load['mean_1m']:.2f}, "
            f"max {load['max_1m']:.2f}, min {load['min_1m']:.2f}, sampled every 5 s on "
            f"{suite['machine']['cpus']} CPUs; the machine is shared with other work, which "
            "is why each figure stands beside a baseline measured in the same run.",
            "",
        ]
    lines += ["## Summary", "", *_summary(results, suite), ""]
    rows = [g | {"benchmark": r["benchmark"]} for r in results for g in _growth_of(r)]
    lines += [
        "## How each figure grows",
        "",
        "For each figure measured at several sizes: the growth exponent, the log-log slope",
        "between consecutive sizes, log(value2 / value1) / log(size2 / size1). 1.0 is linear;",
        "below 1, fixed costs still dominate the smaller size. Verdict: `ok` up to "
        f"{LINEAR_LIMIT:g}; above",
        "that, `ok: baseline grows alike` when the same-run baseline's exponent is within",
        f"{BASELINE_SLACK:g} of it (what both hit, e.g. the API server, grows so, not the code",
        "under test); otherwise `FLAGGED`, a defect to fix, and the benchmark exits non-zero.",
        "",
        *(_growth_table(rows, with_benchmark=True) if rows else ["(no figure at two sizes)"]),
        "",
    ]
    for result in results:
        load = _load_text(result.get("load_average"))
        about = describe(result["benchmark"])
        lines += [
            f"## {result['benchmark']}",
            "",
            *([about, ""] if about else []),
            f"Ran {result['ran_at'][:19]}Z on {_machine_line(result['machine'])}"
            + (f"; load average {load} (start -> end)." if load else "."),
            "",
            *_figure_table(result),
            "",
        ]
        grown = _growth_of(result)
        if grown:
            lines += [*_growth_table(grown), ""]
    return "\n".join(lines)


def load_results(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    results = [
        json.loads((folder / f"{name}.json").read_text())
        for name in BENCHMARKS
        if (folder / f"{name}.json").exists()
    ]
    suite_file = folder / f"{SUITE}.json"
    suite = json.loads(suite_file.read_text()) if suite_file.exists() else None
    return results, suite


# -- running -----------------------------------------------------------------------------
def run_one(name: str, quick: bool, env: dict[str, str]) -> tuple[int, float]:
    """(exit code, seconds) of one benchmark in its own process; 124 when it timed out."""
    started = time.monotonic()
    command = [sys.executable, "-m", f"benchmarks.{name}", *(["--quick"] if quick else [])]
    print(f"\n>>> python {' '.join(command[1:])}", flush=True)
    try:
        code = subprocess.run(command, cwd=ROOT, env=env, timeout=TIMEOUT_S).returncode
    except subprocess.TimeoutExpired:
        print(f"ERROR: {name} did not finish in {TIMEOUT_S} s", file=sys.stderr)
        code = 124
    seconds = time.monotonic() - started
    print(f"<<< {name}: exit {code} after {seconds:.0f} s", flush=True)
    return code, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Run the "
                                     "benchmark suite and rebuild docs/performance.md.")
    parser.add_argument("names", nargs="*",
                        help=f"subset to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run at small sizes; results go to a scratch folder")
    parser.add_argument("--render-only", action="store_true",
                        help="rebuild docs/performance.md from the stored results, run nothing")
    parser.add_argument("--results", type=Path, help="results folder (default: "
                        "benchmarks/results; with --quick a new scratch folder)")
    parser.add_argument("--doc", type=Path, help="page to write (default: docs/performance.md; "
                        "with --quick performance.md in the results folder)")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"ERROR: unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    folder, doc = results_dir(), PERFORMANCE_DOC
    if args.quick:
        folder = args.results or Path(tempfile.mkdtemp(prefix="bench-quick-"))
        doc = folder / "performance.md"
    folder, doc = args.results or folder, args.doc or doc
    if args.render_only:
        doc.write_text(render(*load_results(folder)))
        print(f"wrote {doc}")
        return 0
    env = dict(os.environ, **{RESULTS_ENV: str(folder)})
    folder.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, float | int]] = {}
    started_at, started = datetime.now(UTC), time.monotonic()
    with LoadSampler() as load:
        for name in names:
            (folder / f"{name}.json").unlink(missing_ok=True)  # a failed run leaves no old figures
            code, seconds = run_one(name, args.quick, env)
            runs[name] = {"exit_code": code, "duration_s": round(seconds, 1)}
    suite: dict[str, Any] = {
        "started_at": started_at.isoformat(),
        "duration_s": round(time.monotonic() - started, 1),
        "quick": args.quick,
        "names": names,
        "machine": machine(),
        "load_average": load.summary(),
        "benchmarks": runs,
    }
    suite_file = folder / f"{SUITE}.json"
    if set(names) != set(BENCHMARKS) and suite_file.exists():
        # The page's header stays the last full run's; these benchmarks' outcomes are newer.
        last = json.loads(suite_file.read_text())
        suite = last | {"benchmarks": last.get("benchmarks", {}) | runs}
    if set(names) == set(BENCHMARKS) or suite_file.exists():
        suite_file.write_text(json.dumps(suite, indent=2) + "\n")
    doc.write_text(render(*load_results(folder)))
    print(f"\nwrote {doc} (results in {folder}) after {time.monotonic() - started:.0f} s; "
          f"load average mean {load.summary()['mean_1m']:.2f}")
    failed = [name for name, run in runs.items() if run["exit_code"] != 0]
    if failed:
        print(f"ERROR: benchmark(s) failed or missed a bar: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
