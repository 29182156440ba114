"""docs/troubleshooting.md explains every error message the product prints.

The messages are read from the source, not listed by hand: every `ERROR: ...` string, every
message of the product's exceptions (they reach the operator as `ERROR: <message>` or in a log
line), every argparse type error, and every warning or error log line of the sidecar and the
agent. Each constant piece of a message (the text between its placeholders) must appear in the
guide, so a new or reworded message fails this test until it is documented.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import errors

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "troubleshooting.md"
SOURCES = ("exporter", "agent", "simulator", "scripts", "deploy")
# Text of the simulated workloads' own logs, not messages of this product.
NOT_PRODUCT_MESSAGES = {"simulator/templates.py", "simulator/logtext.py"}
PRODUCT_ERRORS = {
    name for name, obj in vars(errors).items()
    if isinstance(obj, type) and issubclass(obj, errors.FailureAnalysisError)
}
# argparse prints a type error as `ERROR: argument ...: <msg>`; SystemExit(msg) prints msg.
OTHER_RAISED = {"ArgumentTypeError", "SystemExit", "InputError"}  # InputError: classify_cli
PRINTING_HELPERS = {"_fail"}  # exporter/cli.py: prints `ERROR: <msg>` and exits 1
LOG_LEVELS = {"warning", "error", "critical", "exception"}
HOLE = "\0"
MIN_PIECE = 8  # shorter constant pieces ("GET ", ": HTTP ") say nothing on their own


def template(node: ast.expr) -> str | None:
    """A message expression as text with HOLE for each computed part; None if not a string."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else HOLE for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = template(node.left), template(node.right)
        return None if left is None and right is None else (left or HOLE) + (right or HOLE)
    return None


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def messages_in(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            callee = _callee(node)
            is_log = (callee in LOG_LEVELS and isinstance(node.func, ast.Attribute)
                      and getattr(node.func.value, "id", "") == "log")
            # An exception of the product built (raised or returned) with its message.
            if callee in PRODUCT_ERRORS | OTHER_RAISED | PRINTING_HELPERS or is_log:
                text = template(node.args[0])
                if text:
                    yield re.sub(r"%[-\d.]*[sdgrf]", HOLE, text) if is_log else text
        if isinstance(node, ast.Constant | ast.JoinedStr):
            text = template(node)
            prefix = re.match(r"(ERROR|error): ", text or "")
            if text and prefix and text != prefix.group(0) + HOLE:
                yield text.removeprefix(prefix.group(0))


def all_messages() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            where = str(path.relative_to(ROOT))
            if where in NOT_PRODUCT_MESSAGES:
                continue
            for text in messages_in(path):
                found.setdefault(text, []).append(where)
    return found


def pieces(text: str) -> list[str]:
    return [p.strip() for p in text.split(HOLE) if len(p.strip()) >= MIN_PIECE]


def missing_from(doc: str, messages: dict[str, list[str]]) -> list[str]:
    return [
        f"{piece!r} (from {', '.join(sorted(set(where)))})"
        for text, where in messages.items()
        for piece in pieces(text)
        if piece not in doc
    ]


def test_the_source_scan_finds_the_known_messages() -> None:
    messages = all_messages()
    assert "Missing required environment variables: " + HOLE in messages
    assert any(m.startswith("Invalid --listen") for m in messages)  # a ConfigError
    assert any(m.startswith("unknown command") for m in messages)  # a literal ERROR: print
    assert any("could not be written at exit" in m for m in messages)  # a log.error line
    assert len(messages) > 40


def test_every_error_message_is_explained() -> None:
    missing = missing_from(DOC.read_text(), all_messages())
    assert not missing, "add to docs/troubleshooting.md:\n  " + "\n  ".join(missing)


def test_a_new_message_would_be_caught(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text('raise ConfigError(f"Frob {name} is out of flux")\n')
    found = {text: ["x.py"] for text in messages_in(source)}
    assert found == {f"Frob {HOLE} is out of flux": ["x.py"]}
    assert missing_from(DOC.read_text(), found) == ["'is out of flux' (from x.py)"]


@pytest.mark.parametrize("name", sorted(PRODUCT_ERRORS))
def test_every_exception_class_is_named_in_the_guide(name: str) -> None:
    assert name in DOC.read_text()
