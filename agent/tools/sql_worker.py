"""The child process that runs one read-only SELECT for the SQL tool (agent.tools.sql).

Why a process and not a second connection: DuckDB shares one database instance among the
connections a process opens on the same file, so settings such as `lock_configuration` or
`memory_limit` would reach the agent's own reads; and a single scalar function
(`repeat('A', 1500000000)`) allocates gigabytes before DuckDB checks its memory_limit or an
interrupt. Here the process's data segment is capped (RLIMIT_DATA: the heap and private
writable mappings, i.e. what becomes resident, unlike RLIMIT_AS, which python and DuckDB's
thread arenas fill with ~700 MB of mere reservations), so such a query fails with DuckDB's
out-of-memory error in this process, and the agent only ever sees a JSON line.

Protocol: one JSON object on stdin (the job), one JSON object on stdout (status, data, message).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import resource
import sys
import threading
import uuid
from typing import Any

CELL_CHARS = 2000  # long log/bundle cells are cut so one row cannot flood the model's context


def _limit_process(data_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (data_bytes, data_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(job: dict[str, Any]) -> dict[str, Any]:
    import duckdb  # after the memory cap: its allocations count against it

    from common.errors import StoreError
    from history import fleet, sources
    from history.connection import connect

    spec, timeout_s = job["db_path"], float(job["db_timeout_s"])
    readable: list[str] = []  # Parquet datasets the locked-down session still reads
    try:
        if sources.is_fleet(spec):
            found = sources.resolve(spec)
            readable = fleet.parquet_roots(found)
            con = fleet.open_fleet(found, timeout_s=timeout_s)
        else:
            con = connect(spec, read_only=True, timeout_s=timeout_s)
    except StoreError as exc:  # locked, or several histories that cannot be read together
        return _error(str(exc))
    except duckdb.Error as exc:
        return _error(f"cannot open the history: {first_line(exc)}")
    try:
        for setting in _settings(job, readable):
            con.execute(setting)
        return _execute(con, job["statement"], int(job["row_cap"]), float(job["time_limit_s"]))
    except duckdb.Error as exc:
        return _error(f"query failed: {first_line(exc)}")
    finally:
        con.close()


def _settings(job: dict[str, Any], readable: list[str]) -> list[str]:
    temp = job.get("temp_directory")
    spill = (
        [f"SET temp_directory = '{temp}'", f"SET max_temp_directory_size = '{job['spill_mb']}MB'"]
        if temp
        else ["SET temp_directory = ''"]  # nowhere to spill: DuckDB stays within memory_limit
    )
    # a fleet's Parquet files are read by its views; nothing else outside is
    allowed = f"SET allowed_directories = [{', '.join(map(_literal, readable))}]"
    return [
        f"SET memory_limit = '{int(job['memory_mb'])}MB'",
        f"SET threads = {int(job['threads'])}",
        *spill,
        *([allowed] if readable else []),
        "SET enable_external_access = false",
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET lock_configuration = true",
    ]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _execute(con: Any, statement: str, row_cap: int, time_limit_s: float) -> dict[str, Any]:
    import duckdb

    timed_out = threading.Event()

    def interrupt() -> None:
        timed_out.set()
        con.interrupt()

    timer = threading.Timer(time_limit_s, interrupt)
    timer.daemon = True
    timer.start()
    try:
        cursor = con.execute(statement)
        columns = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchmany(row_cap + 1)
    except duckdb.OutOfMemoryException:
        return _error(out_of_memory_message())
    except duckdb.Error as exc:
        if timed_out.is_set():
            return _error(time_limit_message(time_limit_s))
        return _error(f"query failed: {first_line(exc)}")
    except MemoryError:
        return _error(out_of_memory_message())
    finally:
        timer.cancel()
    truncated = len(rows) > row_cap
    rows = rows[:row_cap]
    data = {
        "columns": columns,
        "rows": [[_jsonable(v) for v in row] for row in rows],
        "row_count": len(rows),
        "truncated": truncated,
    }
    if not rows:
        return {"status": "no_data", "data": data, "message": "the query returned no rows"}
    if truncated:
        message = (
            f"showing the first {row_cap} rows; there are more: aggregate, filter or add LIMIT"
        )
    else:
        message = f"{len(rows)} row(s)"
    return {"status": "ok", "data": data, "message": message}


def time_limit_message(time_limit_s: float) -> str:
    return f"query stopped after the {time_limit_s:g} s time limit; aggregate or filter more"


def out_of_memory_message() -> str:
    return "query stopped: it needs more memory than the SQL tool allows; aggregate or filter more"


def _error(message: str) -> dict[str, Any]:
    return {"status": "error", "data": None, "message": message}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= CELL_CHARS else value[:CELL_CHARS] + "…[cut]"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return _jsonable(str(value))


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main() -> int:
    job = json.loads(sys.stdin.read())
    _limit_process(int(job["data_mb"]) * 1024 * 1024)
    try:
        result = run(job)
    except MemoryError:
        result = _error(out_of_memory_message())
    sys.stdout.write(json.dumps(result, default=str))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
