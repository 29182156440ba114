"""Classifier throughput on realistic bundles with 200-line logs, single-threaded.

    python -m benchmarks.classifier [--seconds 3] [--quick]

Each bundle is a real-world case from tests/data (every category) whose log is padded to 200
lines with the chatter a training job prints before it fails: progress bars, loss lines, NCCL
INFO lines, checkpoints and warnings, so the key index has realistic noise to skip. The
baseline is the same bundles with their logs removed.

Throughput is bundles per second of this process's CPU time (time.process_time), so that a
machine shared with other work measures the classifier, not the neighbours; the wall-clock rate
is printed beside it.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import time
from pathlib import Path
from typing import Any

from benchmarks.report import Figure, emit, exit_code
from exporter.classifier import classify

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
LOG_LINES = 200
BAR = 2000.0  # bundles per second


def chatter(rng: random.Random, n: int) -> list[str]:
    """n lines of the healthy noise a distributed training job logs."""
    templates = (
        "[2026-03-12 10:{m:02d}:{s:02d},{ms:03d}] INFO - epoch {e} step {st}/5000 "
        "loss={loss:.4f} lr={lr:.2e} grad_norm={g:.3f} tokens/s={tok}",
        "{pct}%|{bar}| {st}/5000 [{m:02d}:{s:02d}<1:{s:02d}:{m:02d}, {it:.2f}it/s]",
        "node-{e}:{pid}:{pid} [{g0}] NCCL INFO Channel {ch:02d}/08 : {g0}[{g0}] -> {g1}[{g1}] "
        "via P2P/IPC/read",
        "[rank{g0}]:[I312 10:{m:02d}:{s:02d}.{ms:03d}] ProcessGroupNCCL.cpp:1100 "
        "initialized, NCCL version 2.21.5",
        "[2026-03-12 10:{m:02d}:{s:02d},{ms:03d}] INFO - Saving checkpoint to "
        "/output/checkpoint-{st}",
        "/opt/conda/lib/python3.11/site-packages/torch/utils/data/dataloader.py:558: "
        "UserWarning: This DataLoader will create {g1} worker processes in total.",
        "{{'loss': {loss:.4f}, 'learning_rate': {lr:.2e}, 'epoch': {ep:.2f}}}",
        "[2026-03-12 10:{m:02d}:{s:02d},{ms:03d}] WARNING - skipped batch {st}: sequence "
        "longer than max_len, truncating",
    )
    out = []
    for i in range(n):
        out.append(
            rng.choice(templates).format(
                m=rng.randrange(60),
                s=rng.randrange(60),
                ms=rng.randrange(1000),
                e=rng.randrange(1, 9),
                st=i * 10,
                loss=rng.random() * 3,
                lr=rng.random() * 1e-4,
                g=rng.random() * 4,
                tok=rng.randrange(10000, 90000),
                pct=i % 100,
                bar="#" * (i % 10) + " " * (10 - i % 10),
                it=rng.random() * 10,
                pid=rng.randrange(100, 9999),
                g0=rng.randrange(8),
                g1=rng.randrange(8),
                ch=rng.randrange(8),
                ep=rng.random() * 3,
            )
        )
    return out


def bundles(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    # The real-world corpus and our own cases; tests/data holds other fixtures too.
    for path in sorted(p for folder in ("corpus", "cases") for p in (DATA / folder).glob("*.json")):
        bundle = json.loads(path.read_text())["bundle"]
        tail = str(bundle.get("logs") or "").splitlines()
        head = chatter(rng, max(0, LOG_LINES - len(tail)))
        bundle["logs"] = "\n".join((head + tail)[-LOG_LINES:])
        out.append(bundle)
    return out


def throughput(items: list[dict[str, Any]], seconds: float) -> tuple[float, float]:
    """(bundles per CPU second, bundles per wall second), classifying for `seconds` of CPU."""
    done, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while True:
        for bundle in items:
            classify(bundle)
        done += len(items)
        cpu = time.process_time() - cpu0
        if cpu >= seconds:
            return done / cpu, done / (time.perf_counter() - wall0)


def measure(seconds: float) -> list[Figure]:
    rng = random.Random(7)
    with_logs = bundles(rng)
    without = [copy.deepcopy(b) | {"logs": ""} for b in with_logs]
    throughput(with_logs[:5], 0.2)  # warm caches and compiled patterns
    baseline, _ = throughput(without, seconds)
    rate, wall_rate = throughput(with_logs, seconds)
    print(f"wall-clock rate with logs: {wall_rate:.0f} bundles/s (CPU-time rate: {rate:.0f})")
    figures = [
        Figure(
            name="classify throughput, 200-line logs",
            value=rate,
            unit="1/s",
            size=f"{len(with_logs)} bundles x {LOG_LINES} lines",
            baseline_name="same bundles without logs",
            baseline_value=baseline,
            bar=f">= {BAR:.0f} /s",
            passed=rate >= BAR,
        )
    ]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classifier")
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per rate")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 0.5 s per rate")
    args = parser.parse_args(argv)
    figures = measure(0.5 if args.quick else args.seconds)
    emit("classifier", figures)
    return exit_code(figures)


if __name__ == "__main__":
    raise SystemExit(main())
