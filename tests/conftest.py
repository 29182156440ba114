"""Shared fixtures live in tests/fixtures_<area>.py; each is registered here as a plugin."""

from pathlib import Path

pytest_plugins = sorted(f"tests.{p.stem}" for p in Path(__file__).parent.glob("fixtures_*.py"))
