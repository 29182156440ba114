"""Log formats, and the scrubber that keeps secrets out of every line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from exporter.logging_setup import REDACTED, SCRUBBER, SecretScrubber, setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_scrubber_replaces_every_occurrence() -> None:
    scrubber = SecretScrubber()
    scrubber.add("tok-123456")
    scrubber.add("ab")  # too short to be a secret; never redacts ordinary text
    assert scrubber.scrub("a tok-123456 b tok-123456 ab") == f"a {REDACTED} b {REDACTED} ab"


def test_text_lines_plain_and_levels_marked(restore_logging: None) -> None:
    out = io.StringIO()
    setup_logging("text", out)
    SCRUBBER.add("client-secret-xyz")
    log = logging.getLogger("exporter.test")
    log.info("Found %d workload(s)", 3)
    log.error("token client-secret-xyz rejected")
    assert out.getvalue().splitlines() == [
        "Found 3 workload(s)", f"ERROR: token {REDACTED} rejected"]


def test_json_lines_carry_extra_fields_and_are_scrubbed(restore_logging: None) -> None:
    out = io.StringIO()
    setup_logging("json", out)
    SCRUBBER.add("bearer-abcdef")
    logging.getLogger("exporter.test").warning(
        "saw bearer-abcdef", extra={"project": "team-a"})
    record = json.loads(out.getvalue())
    assert record["level"] == "warning" and record["project"] == "team-a"
    assert record["message"] == f"saw {REDACTED}"
    assert record["time"].endswith("+00:00")
