"""The sync state beside the history file: a cache that is safe to lose."""

from __future__ import annotations

from pathlib import Path

from exporter.detect.sync_state import SyncState, load, path_for, save


def test_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    save(db, SyncState({"w1": "Failed@2026-11-26T10:00:00Z"}, "2026-11-26T09:00:00Z"))
    assert path_for(db) == tmp_path / "h.db.sync.json"
    loaded = load(db, history_rows=3)
    assert loaded.markers == {"w1": "Failed@2026-11-26T10:00:00Z"}
    assert loaded.deleted_mark == "2026-11-26T09:00:00Z"
    assert [p.name for p in tmp_path.iterdir()] == ["h.db.sync.json"]  # no temp file left


def test_missing_or_unreadable_means_start_afresh(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    assert load(db, history_rows=3) == SyncState()
    path_for(db).write_text("{broken")
    assert load(db, history_rows=3) == SyncState()
    path_for(db).write_text('{"version": 99, "markers": {"w": "x"}}')
    assert load(db, history_rows=3) == SyncState()


def test_ignored_when_the_history_file_was_replaced(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    save(db, SyncState({"w1": "Completed@x"}))
    assert load(db, history_rows=0) == SyncState()


def test_save_failure_is_not_fatal(tmp_path: Path) -> None:
    save(tmp_path / "missing-dir" / "h.db", SyncState({"w": "x"}))  # logs, does not raise
    assert not (tmp_path / "missing-dir").exists()


def test_a_first_start_in_progress_is_told_from_one_done(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    save(db, SyncState({"w1": "Failed@x"}, caught_up=False))
    assert load(db, history_rows=3).caught_up is False  # resumes streaming
    save(db, SyncState({"w1": "Failed@x"}, caught_up=True))
    assert load(db, history_rows=3).caught_up is True
    # saved before the field existed: markers were saved only after a whole first cycle
    path_for(db).write_text('{"version": 1, "deleted_mark": null, "markers": {"w": "x"}}')
    assert load(db, history_rows=3).caught_up is True
