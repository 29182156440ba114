"""Masking workload, project and node names before text leaves for an external LLM.

Names come from the history itself, so every name the tools can return is known. Each gets a
stable placeholder (PROJECT_1, WORKLOAD_3, NODE_2: sorted, so the same history gives the same
placeholders). Names are matched as whole tokens or as runs of `-`/`.`-separated segments inside
a token, so a pod `train-llama-7b-0-0` or a namespace `runai-team-a` is masked too, while a
project called `a` does not eat every letter a.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb

from common.redaction import map_strings, redact_secrets
from history import reader

_KINDS = (("workload_name", "WORKLOAD"), ("project", "PROJECT"), ("node", "NODE"))
_TOKEN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_SEPARATORS = "-."
_PLACEHOLDER = re.compile(r"\b(?:WORKLOAD|PROJECT|NODE)_\d+\b")


@dataclass(frozen=True)
class NameMask:
    forward: dict[str, str] = field(default_factory=dict)  # real name -> placeholder
    backward: dict[str, str] = field(default_factory=dict)  # placeholder -> real name

    @classmethod
    def from_names(cls, names: Mapping[str, Iterable[str]]) -> NameMask:
        """`names` maps a placeholder prefix (WORKLOAD, PROJECT, NODE) to real names."""
        forward: dict[str, str] = {}
        for prefix, values in names.items():
            for i, name in enumerate(sorted({v for v in values if v and v.strip()}), start=1):
                forward.setdefault(name, f"{prefix}_{i}")
        return cls(forward, {v: k for k, v in forward.items()})

    @classmethod
    def from_history(cls, db_path: str, timeout_s: float = 5.0) -> NameMask:
        """Every workload, project and node name in the history (empty when there is none)."""
        names: dict[str, set[str]] = {}
        try:  # one file or several clusters' (history.reader opens either)
            with reader.open_history(db_path, timeout_s=timeout_s) as con:
                for column, prefix in _KINDS:
                    rows = con.execute(
                        f"SELECT DISTINCT {column} FROM failure_events WHERE {column} IS NOT NULL"
                        f" UNION SELECT DISTINCT {column} FROM workload_runs"
                        f" WHERE {column} IS NOT NULL"
                    ).fetchall()
                    names[prefix] = {str(r[0]) for r in rows}
        except (reader.NoHistory, duckdb.CatalogException):
            return cls()  # no file, or a file without our tables yet: nothing to mask
        return cls.from_names(names)

    def __bool__(self) -> bool:
        return bool(self.forward)

    def mask(self, text: str) -> str:
        text = redact_secrets(text)
        if not self.forward:
            return text
        return _TOKEN.sub(lambda m: self._mask_token(m.group(0)), text)

    def unmask(self, text: str) -> str:
        if not self.backward:
            return text
        return _PLACEHOLDER.sub(lambda m: self.backward.get(m.group(0), m.group(0)), text)

    def mask_json(self, value: Any) -> Any:
        """Mask every string inside a JSON-like value (strings, not its serialisation: an
        escape such as `\\n` would otherwise glue itself to the name that follows)."""
        return map_strings(value, self.mask)

    def unmask_json(self, value: Any) -> Any:
        return map_strings(value, self.unmask)

    def _mask_token(self, token: str) -> str:
        if token in self.forward:
            return self.forward[token]
        # A name may start at the token's start or after a separator, and end at one or at the
        # token's end; the longest known name wins.
        ends = [i for i, ch in enumerate(token) if ch in _SEPARATORS] + [len(token)]
        out: list[str] = []
        pos = 0
        while pos < len(token):
            if token[pos] in _SEPARATORS:
                out.append(token[pos])
                pos += 1
                continue
            end = next(
                (e for e in reversed(ends) if e > pos and token[pos:e] in self.forward), None
            )
            if end is None:
                end = next(e for e in ends if e > pos)
                out.append(token[pos:end])
            else:
                out.append(self.forward[token[pos:end]])
            pos = end
        return "".join(out)
