"""Every root-cause category has a plain name and a first action."""

from __future__ import annotations

from agent.answer.playbook import PLAYBOOK, first_action, plain_name
from history.categories import CATEGORIES


def test_every_category_has_a_row() -> None:
    assert set(PLAYBOOK) == set(CATEGORIES)
    for category in CATEGORIES:
        assert plain_name(category) and first_action(category).endswith(".")


def test_unknown_category_falls_back() -> None:
    assert plain_name("made_up") == "made_up"
    assert first_action("made_up") == "Read the stored evidence."
