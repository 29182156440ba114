"""Read a question against the history it is asked of: the one entry point the planner and
the LLM loop share, so both start from the same understanding."""

from __future__ import annotations

import duckdb

from agent.tools import reading
from agent.types import ToolContext
from agent.understanding.question import Understood, understand
from agent.understanding.vocabulary import EMPTY, Vocabulary, vocabulary
from common.errors import StoreError
from history import reader


def history_vocabulary(ctx: ToolContext) -> Vocabulary:
    """The names in ctx's history file; none when it cannot be read (the tools say why)."""
    try:
        with reading.open_history(ctx) as conn:
            return vocabulary(conn, ctx.db_path)
    except (reader.NoHistory, StoreError, duckdb.Error):
        return EMPTY


def read_question(question: str, ctx: ToolContext, promql: str | None = None) -> Understood:
    vocab = EMPTY if promql else history_vocabulary(ctx)
    return understand(question, ctx.now, vocab, promql=promql)
