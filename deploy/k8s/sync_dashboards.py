"""Copy grafana/dashboards/*.json under deploy/k8s/dashboards/, where kustomize may read them.

Kustomize reads no file outside its kustomization's folder, so the dashboards ConfigMap is
generated from these copies; tests/test_deploy_k8s.py fails when they drift from the originals.

    python deploy/k8s/sync_dashboards.py          # rewrite the copies and the generator's list
    python deploy/k8s/sync_dashboards.py --check  # exit 1 if a copy or the list is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "grafana" / "dashboards"
TARGET = ROOT / "deploy" / "k8s" / "dashboards"
KUSTOMIZATION = ROOT / "deploy" / "k8s" / "kustomization.yaml"
BEGIN = "      # BEGIN dashboards (deploy/k8s/sync_dashboards.py)\n"
END = "      # END dashboards\n"


def wanted() -> dict[Path, bytes]:
    return {TARGET / src.name: src.read_bytes() for src in sorted(SOURCE.glob("*.json"))}


def kustomization_text(names: list[str]) -> str:
    text = KUSTOMIZATION.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    listed = "".join(f"      - dashboards/{name}\n" for name in names)
    return head + BEGIN + listed + END + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    copies = wanted()
    if not copies:
        print(f"ERROR: no dashboards in {SOURCE.relative_to(ROOT)}", file=sys.stderr)
        return 1
    kustomization = kustomization_text([p.name for p in copies])
    stale = [p for p, body in copies.items() if not p.exists() or p.read_bytes() != body]
    extra = [p for p in TARGET.glob("*.json") if p not in copies]
    list_stale = kustomization != KUSTOMIZATION.read_text(encoding="utf-8")
    if args.check:
        problems = [str(p.relative_to(ROOT)) for p in stale + extra]
        if list_stale:
            problems.append(f"the dashboard list in {KUSTOMIZATION.relative_to(ROOT)}")
        if problems:
            print("ERROR: stale dashboard copies: " + ", ".join(problems)
                  + " (run: python deploy/k8s/sync_dashboards.py)", file=sys.stderr)
            return 1
        return 0
    TARGET.mkdir(exist_ok=True)
    for path in stale:
        path.write_bytes(copies[path])
    for path in extra:
        path.unlink()
    if list_stale:
        KUSTOMIZATION.write_text(kustomization, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
