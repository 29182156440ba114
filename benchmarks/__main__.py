"""`make bench` / `python -m benchmarks [NAME ...]`: run every benchmark, then publish the results.

Each benchmark runs in its own process, so one's memory and caches do not colour another's, and
writes benchmarks/results/<name>.json; docs/performance.md is rebuilt from those files.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from benchmarks.report import RESULTS_DIR

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = (
    "classifier",
    "store_write",
    "poll_cycle",
    "metrics_scrape",
    "agent_history",
    "agent_latency",
)
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    if unit == "bytes":
        return f"{value / 2**20:.1f} MiB"
    return f"{value:.4g} {unit}".strip()


def render(results: list[dict]) -> str:
    lines = [
        "# Performance",
        "",
        "Produced by `make bench` (`python -m benchmarks`); every figure is measured in the same",
        "run as its baseline, so the ratio holds on a noisy machine. Regenerate after a change",
        "that touches a hot path.",
        "",
    ]
    for result in results:
        m = result["machine"]
        lines += [
            f"## {result['benchmark']}",
            "",
            f"Ran {result['ran_at'][:19]}Z on {m['cpus']} CPUs, {m['processor']}, "
            f"Python {m['python']}, {m['platform']}.",
            "",
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
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmark suite.")
    parser.add_argument("names", nargs="*",
                        help=f"subset to run (default: all of {', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"ERROR: unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"], cwd=ROOT)
        if code != 0:
            failed.append(name)
    results = [
        json.loads((RESULTS_DIR / f"{name}.json").read_text())
        for name in BENCHMARKS
        if (RESULTS_DIR / f"{name}.json").exists()
    ]
    PERFORMANCE_DOC.write_text(render(results))
    print(f"\nwrote {PERFORMANCE_DOC.relative_to(ROOT)}")
    if failed:
        print(f"ERROR: benchmark(s) failed or missed a bar: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
