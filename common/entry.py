"""What every console entry point of the product shares."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def run_quietly_on_closed_pipe(main: Callable[[], int]) -> int:
    """main(), quiet when the reader of stdout goes away (`... | head`), as Unix tools are."""
    try:
        code = main()
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at exit
        return code
    except BrokenPipeError:
        # Point stdout at devnull so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a program killed by it
