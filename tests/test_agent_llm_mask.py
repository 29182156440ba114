from datetime import UTC, datetime

import duckdb

from agent.llm.mask import NameMask
from history.schema import MIGRATIONS

MASK = NameMask.from_names(
    {
        "WORKLOAD": ["train-llama-7b", "bert"],
        "PROJECT": ["team-a", "a"],
        "NODE": ["gpu-node-01", "dgx.local"],
    }
)


def test_placeholders_are_stable_and_sorted():
    assert MASK.forward["bert"] == "WORKLOAD_1"
    assert MASK.forward["train-llama-7b"] == "WORKLOAD_2"
    again = NameMask.from_names(
        {
            "PROJECT": ["a", "team-a"],
            "WORKLOAD": ["bert", "train-llama-7b"],
            "NODE": ["dgx.local", "gpu-node-01"],
        }
    )
    assert again.forward == MASK.forward


def test_names_inside_tokens_are_masked_and_restored():
    text = "Why did train-llama-7b fail? pod train-llama-7b-0-0 in runai-team-a on gpu-node-01."
    masked = MASK.mask(text)
    assert masked == "Why did WORKLOAD_2 fail? pod WORKLOAD_2-0-0 in runai-PROJECT_2 on NODE_2."
    assert MASK.unmask(masked) == text


def test_partial_words_are_left_alone():
    assert MASK.mask("team-ab abert gpu-node-011 bertie") == "team-ab abert gpu-node-011 bertie"


def test_json_strings_are_masked_even_after_escapes():
    value = {"log": "line one\ntrain-llama-7b crashed", "node": "dgx.local", "n": 3}
    masked = MASK.mask_json(value)
    assert masked == {"log": "line one\nWORKLOAD_2 crashed", "node": "NODE_1", "n": 3}
    assert MASK.unmask_json(masked) == value


def test_from_history_reads_both_tables(tmp_path):
    path = str(tmp_path / "h.db")
    con = duckdb.connect(path)
    for ddl in MIGRATIONS:
        con.execute(ddl)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    con.execute(
        "INSERT INTO workload_runs VALUES ('r1', 'w1', 'resnet', 'vision', NULL, 'training',"
        " 'Completed', ?, NULL, 'node-b', NULL, 1, ?)",
        [now, now],
    )
    con.execute(
        "INSERT INTO failure_events (episode_id, timestamp, workload_id, workload_name, project,"
        " workload_type, kind, category, confidence, summary, evidence, evidence_source,"
        " recommendation, node, logs_available, recorded_at) VALUES ('e1', ?, 'w2', 'gpt',"
        " 'nlp', 'training', 'failed', 'nccl', 0.9, 's', 'e', 'log', 'r', 'node-a', true, ?)",
        [now, now],
    )
    con.close()
    mask = NameMask.from_history(path)
    assert mask.forward == {
        "gpt": "WORKLOAD_1", "resnet": "WORKLOAD_2", "nlp": "PROJECT_1", "vision": "PROJECT_2",
        "node-a": "NODE_1", "node-b": "NODE_2",
    }  # fmt: skip


def test_missing_history_masks_nothing(tmp_path):
    mask = NameMask.from_history(str(tmp_path / "none.db"))
    assert not mask
    assert mask.mask("train-llama-7b") == "train-llama-7b"
