"""`python -m exporter classify`, run as a real subprocess: file, stdin, folder, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "corpus"
CASE = CORPUS / "oom-killed-immich-ml-2gi.json"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "classify", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_case_file_prints_the_verdict_as_json() -> None:
    result = run(str(CASE))
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["category"] == "oom_killed"
    assert verdict["evidence"] == "OOMKilled"
    assert verdict["details"]["exit_code"] == 137


def test_bare_bundle_on_stdin() -> None:
    bundle = json.loads(CASE.read_text())["bundle"]
    result = run("-", stdin=json.dumps(bundle))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["category"] == "oom_killed"


def test_folder_of_correct_cases_scores_them_all(tmp_path: Path) -> None:
    for name in ("oom-killed-immich-ml-2gi.json", "image-pull-nemo-tag-not-found.json"):
        shutil.copy(CORPUS / name, tmp_path / name)
    result = run(str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "accuracy: 2/2 = 100.0%" in result.stdout
    assert "misclassified" not in result.stdout


def test_folder_with_a_wrong_case_exits_non_zero_with_the_confusion_table(tmp_path: Path) -> None:
    shutil.copy(CASE, tmp_path / "right.json")
    wrong = json.loads(CASE.read_text())
    wrong["id"] = "deliberately-mislabelled"
    wrong["expected"]["category"] = "nccl"
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    result = run(str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    # Columns are the categories that occur, in contract order: oom_killed, then nccl.
    assert lines[0].split()[-2:] == ["oom_killed", "nccl"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:3]}
    assert rows == {"oom_killed": ["1", "."], "nccl": ["1", "."]}
    assert "accuracy: 1/2 = 50.0%" in result.stdout
    assert "deliberately-mislabelled: expected nccl, got oom_killed" in result.stdout


def test_the_whole_shared_corpus_passes_through_the_cli() -> None:
    result = run(str(CORPUS))
    assert result.returncode == 0, result.stdout
    assert "= 100.0%" in result.stdout


def test_missing_file_is_a_one_line_error() -> None:
    result = run("/nonexistent/bundle.json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("ERROR: cannot read /nonexistent/bundle.json")
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_json_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"bundle": ')
    result = run(str(bad))
    assert result.returncode == 2
    assert result.stderr.startswith(f"ERROR: {bad} is not valid JSON")
    assert len(result.stderr.strip().splitlines()) == 1
    stdin = run("-", stdin="not json at all")
    assert stdin.returncode == 2 and stdin.stderr.startswith("ERROR: stdin is not valid JSON")


def test_folder_errors(tmp_path: Path) -> None:
    empty = run(str(tmp_path))
    assert empty.returncode == 2 and empty.stderr.startswith("ERROR: no *.json case files")
    (tmp_path / "nolabel.json").write_text(json.dumps({"bundle": {}}))
    unlabelled = run(str(tmp_path))
    assert unlabelled.returncode == 2 and "has no expected.category" in unlabelled.stderr


def test_rules_flag_lists_the_table_in_order() -> None:
    result = run("--rules")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("hw.xid ") and "gpu_hardware" in lines[1]
    assert any(line.startswith("ctx.killed ") and "(context only)" in line for line in lines)


def test_no_path_is_a_usage_error() -> None:
    result = run()
    assert result.returncode == 2 and "ERROR: give FILE.json" in result.stderr
