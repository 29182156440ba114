"""Dockerfile and .dockerignore, checked by parsing: no Docker engine runs here.

What can be run is run: the HEALTHCHECK command itself, against a live HTTP server and a
closed port.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("exporter", "agent", "simulator")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def instructions(text: str) -> Iterator[tuple[str, str]]:
    """(KEYWORD, rest) per instruction, with continuation lines joined and comments dropped."""
    logical = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        logical += line.rstrip()
        if logical.endswith("\\"):
            logical = logical[:-1] + " "
            continue
        keyword, _, rest = logical.strip().partition(" ")
        yield keyword.upper(), rest.strip()
        logical = ""


def parse(text: str) -> tuple[dict[str, str], list[Stage]]:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, rest in instructions(text):
        if keyword == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(words[0], name))
        elif not stages and keyword == "ARG":
            key, _, value = rest.partition("=")
            global_args[key] = value
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return global_args, stages


def exec_form(rest: str) -> list[str]:
    import json

    argv = json.loads(rest)
    assert isinstance(argv, list)
    return [str(a) for a in argv]


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse((ROOT / "Dockerfile").read_text())


def resolve(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), value)


def test_multi_stage_on_a_slim_python_base(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    args, stages = dockerfile
    assert len(stages) >= 2
    bases = {resolve(s.base, args) for s in stages}
    assert all(re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", b) for b in bases), bases
    final = stages[-1]
    copies = final.args("COPY")
    assert any(c.startswith(f"--from={stages[0].name} ") for c in copies)
    # The final stage builds nothing and fetches nothing: it only copies the virtualenv in.
    final_runs = " ".join(final.args("RUN"))
    for tool in ("pip install", "apt-get install", "gcc", "build-essential", "uv "):
        assert tool not in final_runs, tool


def test_no_pip_cache_anywhere(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    _, stages = dockerfile
    installs = [run for s in stages for run in s.args("RUN") if "pip install" in run]
    assert installs
    for stage in stages:
        env = " ".join(stage.args("ENV"))
        for run in stage.args("RUN"):
            if "pip install" in run:
                assert "--no-cache-dir" in run or "PIP_NO_CACHE_DIR=1" in env, run


def test_final_stage_runs_as_a_numeric_non_root_user(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    final = stages[-1]
    users = final.args("USER")
    assert users, "no USER in the final stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0)
    # The uid is the one created in the image, owner of /data, and the one the manifests run as.
    stage_args = dict(a.partition("=")[::2] for a in final.args("ARG"))
    creates = " ".join(final.args("RUN"))
    assert "--uid ${APP_UID}" in creates and stage_args.get("APP_UID") == uid
    assert "chown ${APP_UID}:${APP_UID} /data" in creates
    deployment = (ROOT / "deploy/k8s/resources/deployment.yaml").read_text()
    assert f"runAsUser: {uid}" in deployment
    # Nothing after USER switches back to root.
    after = final.instructions[[kw for kw, _ in final.instructions].index("USER"):]
    assert all(kw != "USER" or rest.split(":")[0] != "0" for kw, rest in after)


def test_the_command_is_a_console_script_of_the_package(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    _, stages = dockerfile
    scripts = PYPROJECT["project"]["scripts"]
    assert set(scripts) == {"runai-failure-exporter", "runai-failure-agent", "runai-simulator"}
    cmd = exec_form(stages[-1].args("CMD")[-1])
    assert cmd[0] in scripts
    # Each role named in the header comment is a console script of pyproject.toml.
    header = (ROOT / "Dockerfile").read_text().split("ARG", 1)[0]
    named = set(re.findall(r"^#\s+(runai-[\w-]+)", header, re.MULTILINE))
    assert named == set(scripts)


def test_every_package_file_is_installed(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    """The image installs the package (not editable): data files outside package-data vanish."""
    _, stages = dockerfile
    sources = {shlex.split(c)[0].rstrip("/") for c in stages[0].args("COPY")}
    assert set(PACKAGES) <= sources
    patterns = [p for ps in PYPROJECT["tool"]["setuptools"]["package-data"].values() for p in ps]
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_dir() or "__pycache__" in path.parts or path.suffix in {".py", ".pyc"}:
                continue
            if path.name == "py.typed":  # setuptools includes it by itself
                continue
            if path.suffix == ".md":  # notes for developers, not read at run time
                continue
            assert any(fnmatch.fnmatch(path.name, p) for p in patterns), (
                f"{path.relative_to(ROOT)} is not package data: add its pattern to pyproject.toml"
            )


# ---- HEALTHCHECK: run the very command the image runs ----


def healthcheck_argv(stages: list[Stage]) -> list[str]:
    checks = stages[-1].args("HEALTHCHECK")
    assert len(checks) == 1
    options, _, command = checks[0].partition("CMD ")
    assert re.search(r"--interval=\d+s", options) and re.search(r"--timeout=\d+s", options)
    argv = exec_form(command)
    assert argv[0] == "python"  # the image has no curl or wget
    return [sys.executable, *argv[1:]]


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run_check(argv: list[str], url: str) -> int:
    env = {**os.environ, "HEALTHCHECK_URL": url}
    return subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode


def test_healthcheck_passes_on_200_and_fails_otherwise(
    dockerfile: tuple[dict[str, str], list[Stage]], health_server: str
) -> None:
    argv = healthcheck_argv(dockerfile[1])
    assert _run_check(argv, f"{health_server}/healthz") == 0
    assert _run_check(argv, f"{health_server}/readyz") != 0  # 503
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    assert _run_check(argv, f"http://127.0.0.1:{closed}/healthz") != 0


def test_healthcheck_default_targets_the_sidecar(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    env = " ".join(dockerfile[1][-1].args("ENV"))
    assert "HEALTHCHECK_URL=http://127.0.0.1:10108/healthz" in env
    assert "RUNAI_FAILURE_DB_PATH=/data/runai_failure_history.db" in env


# ---- .dockerignore, evaluated the way Docker does: last matching pattern wins ----


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str, rules: list[str]) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for rule in rules:
        negate = rule.startswith("!")
        regex = _pattern_regex(os.path.normpath(rule.lstrip("!")))
        if any(regex.fullmatch(p) for p in prefixes):
            verdict = not negate
    return verdict


@pytest.fixture(scope="module")
def ignore_rules() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_sends_only_what_the_build_needs(ignore_rules: list[str]) -> None:
    for needed in ("pyproject.toml", "README.md", "exporter/__init__.py", "agent/__main__.py",
                   "simulator/__init__.py", "exporter/py.typed"):
        assert not ignored(needed, ignore_rules), needed
    for unwanted in (".venv/bin/python", ".git/config", "tests/test_x.py", ".demo/x.db",
                     "exporter/__pycache__/a.pyc", "data/runai_failure_history.db", ".env",
                     "benchmarks/results/x.json", "docs/index.md"):
        assert ignored(unwanted, ignore_rules), unwanted


def test_every_file_the_dockerfile_copies_survives_the_ignore_file(
    dockerfile: tuple[dict[str, str], list[Stage]], ignore_rules: list[str]
) -> None:
    for stage in dockerfile[1]:
        for copy in stage.args("COPY"):
            words = [w for w in shlex.split(copy) if not w.startswith("--")]
            if any(w.startswith("--from") for w in shlex.split(copy)):
                continue
            for source in words[:-1]:
                assert (ROOT / source).exists(), source
                assert not ignored(source.rstrip("/"), ignore_rules), source


# ---- what the build stage installs: the same pip commands on the same build context ----


def build_context(dest: Path, rules: list[str]) -> None:
    """Copy the files Docker would send (the .dockerignore applied) to dest."""
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and not relative.startswith((".venv/", ".git/")) \
                and not ignored(relative, rules):
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):  # a file deleted while we copy
                shutil.copy2(path, target)


@pytest.mark.slow
def test_the_installed_package_runs_every_role_from_its_own_files(
    tmp_path: Path, ignore_rules: list[str]
) -> None:
    context = tmp_path / "context"
    build_context(context, ignore_rules)
    assert not (context / "tests").exists() and (context / "pyproject.toml").is_file()
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(wheels), str(context)], check=True, capture_output=True, timeout=240)
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    for script, target in PYPROJECT["project"]["scripts"].items():
        assert f"{script} = {target}" in scripts
    shipped = {p.relative_to(context).as_posix() for package in PACKAGES
               for p in (context / package).rglob("*") if p.is_file() and p.suffix != ".md"}
    assert not shipped - names, "files of the packages missing from the installed package"

    # Run each role from the installed files only: not from this checkout.
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=240)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    for module, argv in (("exporter", []), ("agent", ["serve"]), ("simulator", [])):
        result = subprocess.run([sys.executable, "-m", module, *argv, "--help"], cwd=elsewhere,
                                env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    probe = ("import agent, exporter, simulator; "
             "print(agent.__file__, exporter.__file__, simulator.__file__)")
    where = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.count(str(site)) == 3


def test_image_labels_match_the_package(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    labels = dict(re.findall(r'([\w.]+)="([^"]*)"', " ".join(dockerfile[1][-1].args("LABEL"))))
    project = PYPROJECT["project"]
    # The label is the VERSION build argument, whose default is pyproject's version.
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    assert "VERSION" in dockerfile[1][-1].args("ARG")
    assert dockerfile[0]["VERSION"] == project["version"]
    license_ = project["license"]  # an SPDX string, or the older {"text": ...} table
    spdx = license_ if isinstance(license_, str) else license_["text"]
    assert labels["org.opencontainers.image.licenses"] == spdx
    assert labels["org.opencontainers.image.title"] == project["name"]
