"""`python -m exporter db stats|prune|backup|sql|import-sqlite|export`: the history, for operators.

Every command opens the file through the same lock-retrying connect as the sidecar, so it can
run while the sidecar is up. Errors are one line on stderr (`ERROR: ...`) and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from common.bounds import argument
from common.errors import StoreError
from common.version import add_version_flag
from history import seed_import, sql_query
from history.admin import backup_into
from history.export import export_parquet
from history.lifecycle import store_error
from history.store import HistoryStore, backup, read_stats

DEFAULT_DB_PATH = "/data/runai_failure_history.db"


def main(
    argv: Sequence[str] | None = None,
    classifier: Callable[[], seed_import.Classify] | None = None,
) -> int:
    """`classifier` gives `import-sqlite` the product's classifier (it lives in the exporter,
    which history does not import)."""
    args = _parser().parse_args(argv)
    args.classifier = classifier
    try:
        return int(args.run(args))
    except (StoreError, ValueError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
    except OSError as exc:
        print(f"ERROR: {store_error(args.path, exc)}", file=sys.stderr)
    return 1


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one `ERROR:` line too, not argparse's two-line usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"ERROR: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--lock-timeout",
        type=argument("--lock-timeout"),
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the sidecar to release the file (default 10)",
    )
    parser = _Parser(
        prog="python -m exporter db", description="Inspect and maintain the failure history file."
    )
    add_version_flag(parser, "runai-failure-exporter db")
    commands = parser.add_subparsers(dest="command", required=True)

    stats = commands.add_parser(
        "stats", parents=[common], help="schema version, row counts, time range, categories"
    )
    stats.add_argument("path", type=Path)
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(run=_stats)

    prune = commands.add_parser("prune", parents=[common], help="delete rows older than N days")
    prune.add_argument("path", type=Path)
    days = prune.add_mutually_exclusive_group(required=True)
    whole_days = argument("--older-than-days")
    days.add_argument("--older-than-days", type=whole_days, dest="days", metavar="N")
    days.add_argument("--retention-days", type=whole_days, dest="days", metavar="N")
    prune.set_defaults(run=_prune)

    copy = commands.add_parser(
        "backup", parents=[common], help="consistent copy; never overwrites DEST"
    )
    copy.add_argument("path", type=Path)
    copy.add_argument(
        "dest",
        help="a new file; or a folder (existing, or written with a trailing /): then a file "
        "named by the UTC time goes in it",
    )
    copy.add_argument(
        "--keep", type=_positive_count, metavar="N",
        help="with a folder DEST: keep its N newest backups, delete older ones",
    )
    copy.set_defaults(run=_backup)

    # The file is the sidecar's ($RUNAI_FAILURE_DB_PATH) unless --db names another.
    db_default = os.environ.get("RUNAI_FAILURE_DB_PATH") or DEFAULT_DB_PATH
    sql = commands.add_parser(
        "sql", parents=[common], help="run one read-only query (SELECT, WITH, DESCRIBE, ...)"
    )
    sql.add_argument("query", help='the query, e.g. "SELECT count(*) FROM failure_events"')
    sql.add_argument("--db", dest="path", type=Path, default=Path(db_default), metavar="PATH",
                     help=f"history file (default $RUNAI_FAILURE_DB_PATH or {DEFAULT_DB_PATH})")
    sql.add_argument("--format", choices=sql_query.FORMATS, default="table",
                     help="table (default), csv or json")
    sql.add_argument("--max-rows", type=_positive_count, default=100, metavar="N",
                     help="print at most N rows (default 100)")
    sql.add_argument("--timeout", type=argument("--timeout"), default=30.0, metavar="SECONDS",
                     help="stop a query that runs longer (default 30)")
    sql.set_defaults(run=_sql)

    seed = commands.add_parser(
        "import-sqlite", parents=[common],
        help="import the earlier agent's SQLite history (failure_events); safe to re-run",
    )
    seed.add_argument("sqlite_file", type=Path, metavar="FILE")
    seed.add_argument("--db", dest="path", type=Path, default=Path(db_default), metavar="PATH",
                      help=f"history file (default $RUNAI_FAILURE_DB_PATH or {DEFAULT_DB_PATH})")
    seed.add_argument("--dry-run", action="store_true",
                      help="read and classify, report, write nothing")
    seed.set_defaults(run=_import_sqlite)
    export = commands.add_parser(
        "export", parents=[common],
        help="write the history as Parquet partitioned by cluster and day (a fleet's dataset)",
    )
    export.add_argument("path", type=Path)
    export.add_argument("--parquet", type=Path, required=True, metavar="DIR",
                        help="the dataset's folder (other clusters' partitions are kept)")
    export.add_argument("--cluster", default=None, metavar="NAME",
                        help="this history's cluster (default $RUNAI_CLUSTER_NAME or 'default')")
    export.set_defaults(run=_export)
    return parser


def _positive_count(text: str, unit: str = "") -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number{unit and ' of ' + unit + 's'}: "
                                         f"{text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1{unit and ' ' + unit}, not {count}")
    return count


def _stats(args: argparse.Namespace) -> int:
    stats = read_stats(args.path, timeout_s=args.lock_timeout)
    print(json.dumps(stats, indent=2) if args.json else _render(stats))
    return 0


def _render(stats: dict[str, Any]) -> str:
    lines = [
        f"file            {stats['path']}",
        f"schema version  {stats['schema_version']}",
        f"size            {_bytes(stats['size_bytes'])} (+ {_bytes(stats['wal_bytes'])} WAL)",
    ]
    for table, info in stats["tables"].items():
        span = f"  {info['first']} .. {info['last']}" if info["rows"] else ""
        lines.append(f"{table:<15} {info['rows']:>9} rows{span}")
    lines.append(f"last pruned     {stats['last_prune_at'] or 'never'}")
    for title, counts in (("kinds", stats["kinds"]), ("categories", stats["categories"])):
        lines.append(f"{title}:" + ("" if counts else " none"))
        lines.extend(f"  {name:<22} {count:>9}" for name, count in counts.items())
    return "\n".join(lines)


def _bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _prune(args: argparse.Namespace) -> int:
    if not args.path.exists():
        raise StoreError(f"No such file: {args.path}")
    store = HistoryStore(args.path, lock_timeout_s=args.lock_timeout)
    store.open()  # refuses a file that is not ours before anything is deleted
    result = store.prune(datetime.now(UTC) - timedelta(days=args.days))
    print(
        f"deleted {result.failures_deleted} failure events and {result.runs_deleted} runs "
        f"older than {result.cutoff.isoformat()}"
    )
    return 0


def _export(args: argparse.Namespace) -> int:
    cluster = args.cluster or os.environ.get("RUNAI_CLUSTER_NAME") or "default"
    try:
        result = export_parquet(args.path, args.parquet, cluster, timeout_s=args.lock_timeout)
    except OSError as exc:
        raise StoreError(f"Cannot write the Parquet export under {args.parquet}: {exc}") from exc
    counts = ", ".join(f"{n} {table}" for table, n in result.rows.items())
    print(f"exported {counts} of cluster {result.cluster} to {args.parquet}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    dest = Path(args.dest)
    if args.dest.endswith("/") or dest.is_dir():
        dest.mkdir(exist_ok=True)  # its parent must exist: a typo makes no folder tree
        made, removed = backup_into(args.path, dest, keep=args.keep,
                                    timeout_s=args.lock_timeout)
        print(f"backed up {args.path} to {made}"
              + (f"; removed {len(removed)} older backup(s)" if removed else ""))
        return 0
    if args.keep is not None:
        raise ValueError(f"--keep needs a folder as DEST (end it with /), not {dest}")
    backup(args.path, dest, timeout_s=args.lock_timeout)
    print(f"backed up {args.path} to {dest}")
    return 0


def _sql(args: argparse.Namespace) -> int:
    result = sql_query.run_query(args.path, args.query, max_rows=args.max_rows,
                                 timeout_s=args.timeout, lock_timeout_s=args.lock_timeout)
    print(sql_query.render(result, args.format))
    shown = len(result.rows)
    if result.truncated:
        print(f"(first {shown} rows; --max-rows N for more)", file=sys.stderr)
    elif args.format == "table":
        print(f"({shown} row{'s' if shown != 1 else ''})")
    return 0


def _import_sqlite(args: argparse.Namespace) -> int:
    if args.classifier is None:
        raise ValueError("import-sqlite runs as `runai-failure-exporter db import-sqlite`")
    report = seed_import.import_sqlite(args.sqlite_file, args.path, args.classifier(),
                                       dry_run=args.dry_run, lock_timeout_s=args.lock_timeout)
    print("\n".join(report.lines()))
    return 0
