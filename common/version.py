"""The product's one version: `version` in pyproject.toml, read from the installed metadata.

Every `--version` and the sidecar's banner print this (the simulator, which imports none of the
product's packages, reads the same metadata itself). The image's tag and label, the
kustomization's tag and deploy.sh's default IMAGE are checked against the same pyproject value
by tests (tests/test_versioning.py).
"""

from __future__ import annotations

import argparse
from functools import cache
from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "runai-failure-analysis"


@cache
def product_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def version_text(prog: str) -> str:
    return f"{prog} {product_version()}"


def add_version_flag(parser: argparse.ArgumentParser, prog: str) -> None:
    """`--version`: print `<prog> <version>` and exit 0."""
    parser.add_argument(
        "--version", action="version", version=version_text(prog),
        help="print the version and exit",
    )
