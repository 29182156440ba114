"""Write (or with --check, verify) the Prometheus rules, the PrometheusRule and the dashboards.

    python scripts/generate_observability.py          # rewrite the generated files
    python scripts/generate_observability.py --check  # exit 1 if any committed file is stale
    python scripts/generate_observability.py --config mine.yaml --root out/  # your own setup

A --config file (YAML) may set job, cluster_label, runbook_url, agent_url and thresholds (the
names in scripts/observability/config.py); see docs/metrics.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from observability import config

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare instead of writing; exit 1 on a difference"
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="repository root to write or check (default: ours)"
    )
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help="YAML options (job, cluster_label, runbook_url, agent_url, thresholds)",
    )
    args = parser.parse_args(argv)
    if args.config is not None:
        try:
            options = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
            if not isinstance(options, dict):
                raise ValueError("expected a mapping of options")
            config.apply(options)
        except (OSError, ValueError, TypeError, yaml.YAMLError) as exc:
            print(f"ERROR: cannot use {args.config}: {exc}", file=sys.stderr)
            return 2
    # Imported after the options are applied: the rules and dashboards read them at import.
    from observability.outputs import KUSTOMIZATION_FILE, kustomization, outputs

    stale = []
    files = outputs()
    listing = args.root / KUSTOMIZATION_FILE
    if listing.exists():
        files[KUSTOMIZATION_FILE] = kustomization(listing.read_text(encoding="utf-8"))
    for relative, text in files.items():
        path = args.root / relative
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(relative)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {relative}")
    if stale:
        print(
            "ERROR: generated files differ from scripts/observability/: "
            + ", ".join(stale)
            + " (run: python scripts/generate_observability.py)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
