"""`python -m exporter`: the sidecar, plus the `classify`, `db` and `doctor` operator commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from common.entry import run_quietly_on_closed_pipe

if TYPE_CHECKING:
    from exporter.model import Classification


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "classify":
        from exporter.classify_cli import main as classify_main

        return classify_main(args[1:])
    if args and args[0] == "doctor":
        from exporter.doctor.cli import main as doctor_main

        return doctor_main(args[1:])
    if args and args[0] == "db":
        from history.cli import main as db_main

        return db_main(args[1:], classifier=_classifier)
    from exporter.cli import main as sidecar_main

    return sidecar_main(args)


def _classifier() -> Callable[[dict[str, Any]], Classification]:
    """For `db import-sqlite`: the history package cannot import the exporter's classifier."""
    from exporter.classifier import classify

    return classify


def run() -> int:
    return run_quietly_on_closed_pipe(main)


if __name__ == "__main__":
    sys.exit(run())
