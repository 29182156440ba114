"""`python -m exporter`: the sidecar, plus the `classify` and `db` operator commands."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "classify":
        from exporter.classify_cli import main as classify_main

        return classify_main(args[1:])
    if args and args[0] == "db":
        from exporter.db_cli import main as db_main

        return db_main(args[1:])
    from exporter.cli import main as sidecar_main

    return sidecar_main(args)


def run() -> int:
    """main(), quiet when the reader of stdout goes away (`... | head`), as Unix tools are."""
    try:
        code = main()
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at exit
        return code
    except BrokenPipeError:
        # Point stdout at devnull so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a program killed by it


if __name__ == "__main__":
    sys.exit(run())
