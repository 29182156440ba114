"""One version source (pyproject.toml): every command's --version, the image, the manifests.

A release bumps `version` in pyproject.toml and adds its CHANGELOG section; these tests fail
when anything that names the version was left behind.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from common.version import product_version

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_the_installed_metadata_is_pyprojects_version() -> None:
    assert product_version() == VERSION


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["exporter"], "runai-failure-exporter"),
        (["exporter", "db"], "runai-failure-exporter db"),
        (["exporter", "classify"], "runai-failure-exporter classify"),
        (["agent"], "runai-failure-agent"),
        (["agent", "serve"], "runai-failure-agent"),
        (["agent", "ask"], "runai-failure-agent ask"),
        (["agent", "eval"], "runai-failure-agent eval"),
        (["simulator"], "runai-simulator"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_every_command_prints_the_version(argv: list[str], expected: str) -> None:
    done = subprocess.run([sys.executable, "-m", *argv, "--version"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{expected} {VERSION}"


def test_the_console_scripts_print_it_too() -> None:
    bin_dir = Path(sys.executable).parent
    for script in SCRIPTS:
        if not (bin_dir / script).exists():
            pytest.skip("console scripts not installed beside this interpreter")
        done = subprocess.run([str(bin_dir / script), "--version"], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.strip() == f"{script} {VERSION}", script


def test_the_image_tag_and_label_derive_from_it() -> None:
    done = subprocess.run(["make", "-n", "image"], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert (f"docker build --build-arg VERSION={VERSION} -t runai-failure-analysis:{VERSION} ."
            in done.stdout)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ARG VERSION={VERSION}\n" in dockerfile
    assert 'org.opencontainers.image.version="${VERSION}"' in dockerfile


def test_the_manifests_and_deploy_sh_default_to_it() -> None:
    kustomization = yaml.safe_load((ROOT / "deploy/k8s/kustomization.yaml").read_text())
    (image,) = kustomization["images"]
    assert image["newTag"] == VERSION
    deploy_sh = (ROOT / "deploy/k8s/deploy.sh").read_text()
    assert "pyproject.toml" in deploy_sh  # read at run time: tests/test_deploy_guide.py runs it


def test_the_changelog_has_a_section_for_it() -> None:
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert VERSION in headings
