"""The agent over several clusters' histories: files written by the real store, a glob, and a
Parquet dataset written by the real `db export --parquet`; each answer names its clusters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import httpx
import pytest

from agent.api.app import create_api_app
from agent.api.edges import ApiSettings
from agent.cli.mcp_stdio import main as mcp_main
from agent.cli.serve import banner
from agent.cli.serve import main as serve_main
from agent.evals import seed
from agent.llm.mask import NameMask
from agent.llm.settings import LLMSettings
from agent.mcp.tools import call as mcp_call
from agent.respond import respond
from agent.tools.sql import run_sql
from agent.types import Answer, ToolContext
from common.errors import ConfigError, StoreLocked
from history import cli as db_cli
from history import fleet, reader, sources
from history.records import FailureRecord, RunRecord
from tests.fixtures_llm import ScriptedLLM, ServerThread, answer
from tests.fixtures_store import BASE_TIME, KNOWN_FAILURES, KNOWN_RUNS, make_failure, make_run

ROOT = Path(__file__).resolve().parent.parent
NOW = BASE_TIME + timedelta(days=2)
QUESTION = "Show me failure statistics for the last 7 days"
# gpu-west: other workloads, another mix, so a total that is not the sum shows.
WEST_FAILURES = (
    make_failure("w-1", BASE_TIME + timedelta(hours=5), category="image_pull", project="team-w"),
    make_failure("w-2", BASE_TIME + timedelta(hours=6), category="gpu_oom", project="team-w"),
    make_failure("w-3", BASE_TIME + timedelta(hours=7), category="gpu_oom", kind="pending"),
    make_failure("w-4", BASE_TIME + timedelta(hours=8), category="gpu_oom"),
)
WEST_RUNS = (
    make_run("w-1", BASE_TIME + timedelta(hours=5), phase="Failed", project="team-w"),
    make_run("w-5", BASE_TIME + timedelta(hours=9), project="team-w"),
)


def with_cluster(
    failures: tuple[FailureRecord, ...], cluster_id: str | None
) -> tuple[FailureRecord, ...]:
    return tuple(
        FailureRecord(**{**f.__dict__, "cluster_id": cluster_id}) for f in failures
    )


def write_history(
    path: Path, failures: tuple[FailureRecord, ...], runs: tuple[RunRecord, ...]
) -> Path:
    """A history file as the sidecar writes it (its own store), closed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    seed.write_history(path, failures, runs)
    return path


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "fleet"
    write_history(folder / "gpu-east.db", with_cluster(KNOWN_FAILURES, "uuid-east"), KNOWN_RUNS)
    write_history(folder / "gpu-west.db", with_cluster(WEST_FAILURES, "uuid-west"), WEST_RUNS)
    return folder


def ctx_for(spec: str | Path) -> ToolContext:
    return ToolContext(db_path=str(spec), prometheus_url=None, now=NOW)


def ask(spec: str | Path, question: str = QUESTION) -> Answer:
    return respond(question, ctx_for(spec), LLMSettings())


def statistics(answer: Answer) -> dict[str, object]:
    result = answer.tool_calls[0].result
    assert (answer.tool_calls[0].name, result.status) == ("failure_statistics", "ok"), result
    data = result.data
    assert isinstance(data, dict)
    return data


def totals(data: dict[str, object]) -> tuple[object, ...]:
    return (data["total_failures"], data["by_kind"], data["finished_runs"], data["failed_runs"])


def summed(*parts: dict[str, object]) -> tuple[object, ...]:
    kinds = [p["by_kind"] for p in parts]
    by_kind = {k: sum(d[k] for d in kinds) for k in kinds[0]}  # type: ignore[index,union-attr]
    return (
        sum(p["total_failures"] for p in parts),  # type: ignore[misc]
        by_kind,
        sum(p["finished_runs"] for p in parts),  # type: ignore[misc]
        sum(p["failed_runs"] for p in parts),  # type: ignore[misc]
    )


def test_two_histories_answered_together_sum_and_name_both(fleet_dir: Path) -> None:
    east = ask(fleet_dir / "gpu-east.db")
    west = ask(fleet_dir / "gpu-west.db")
    both = ask(sources.join([str(fleet_dir / "gpu-east.db"), str(fleet_dir / "gpu-west.db")]))
    assert totals(statistics(both)) == summed(statistics(east), statistics(west))
    assert statistics(both)["total_failures"] == len(KNOWN_FAILURES) + len(WEST_FAILURES)
    assert both.markdown.rstrip().endswith("\n\nClusters: gpu-east, gpu-west")
    # One file keeps its answer as it was: no clusters line.
    assert "Clusters:" not in east.markdown


def test_a_glob_is_the_same_fleet(fleet_dir: Path) -> None:
    listed = ask(sources.join([str(fleet_dir / "gpu-east.db"), str(fleet_dir / "gpu-west.db")]))
    globbed = ask(fleet_dir / "*.db")
    assert totals(statistics(globbed)) == totals(statistics(listed))
    assert globbed.markdown.rstrip().endswith("Clusters: gpu-east, gpu-west")


def test_a_parquet_dataset_from_db_export_answers_like_the_files(
    fleet_dir: Path, tmp_path: Path
) -> None:
    dataset = tmp_path / "export"
    for name in ("gpu-east", "gpu-west"):
        code = db_cli.main(["export", str(fleet_dir / f"{name}.db"), "--parquet", str(dataset),
                            "--cluster", name])  # fmt: skip
        assert code == 0
    from_files = ask(fleet_dir / "*.db")
    from_parquet = ask(dataset)
    assert totals(statistics(from_parquet)) == totals(statistics(from_files))
    assert from_parquet.markdown.rstrip().endswith("Clusters: gpu-east, gpu-west")
    # The same answer by cause, row for row.
    by_cause = "failures in the last 7 days by category"
    assert statistics(ask(dataset, by_cause))["groups"] == statistics(
        ask(fleet_dir / "*.db", by_cause)
    )["groups"]


def test_the_views_keep_the_single_file_columns_and_add_cluster(fleet_dir: Path) -> None:
    single = duckdb.connect(str(fleet_dir / "gpu-east.db"), read_only=True)
    try:
        columns = {t: [r[0] for r in single.execute(f"DESCRIBE {t}").fetchall()]
                   for t in sources.TABLES}  # fmt: skip
    finally:
        single.close()
    with reader.open_history(str(fleet_dir / "*.db")) as conn:
        for table, names in columns.items():
            assert [r[0] for r in conn.execute(f"DESCRIBE {table}").fetchall()] == [
                *names,
                "cluster",
            ]
        per_cluster = conn.execute(
            "SELECT cluster, count(*) FROM workload_runs GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert per_cluster == [("gpu-east", len(KNOWN_RUNS)), ("gpu-west", len(WEST_RUNS))]


def test_the_sql_tool_reads_the_fleet_and_nothing_else(fleet_dir: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "export"
    db_cli.main(["export", str(fleet_dir / "gpu-west.db"), "--parquet", str(dataset),
                 "--cluster", "pq-west"])  # fmt: skip
    ctx = ctx_for(sources.join([str(fleet_dir / "gpu-east.db"), str(dataset)]))
    result = run_sql(ctx, {"query": "SELECT cluster, count(*) AS n FROM failure_events "
                                    "GROUP BY 1 ORDER BY 1"})  # fmt: skip
    assert result.status == "ok", result.message
    assert result.data["rows"] == [["gpu-east", len(KNOWN_FAILURES)],
                                   ["pq-west", len(WEST_FAILURES)]]  # fmt: skip
    outside = run_sql(ctx, {"query": "SELECT count(*) FROM read_csv('/etc/passwd')"})
    assert outside.status == "error" and "disabled by configuration" in outside.message


# ---------------------------------------------------------------- what is refused, and how


def test_a_glob_matching_nothing_is_one_line(tmp_path: Path) -> None:
    spec = str(tmp_path / "nothing-*.db")
    with pytest.raises(ConfigError, match=r"^no history file or Parquet dataset matches .*"):
        sources.check(spec)
    with pytest.raises(ConfigError, match="matches"):
        ApiSettings.from_env({}, db_path=spec)


def test_a_file_that_is_not_a_history_is_named(fleet_dir: Path) -> None:
    duckdb.connect(str(fleet_dir / "stranger.db")).close()  # a DuckDB file, not ours
    (fleet_dir / "notes.db").write_text("not a database at all\n")
    for name, says in (("stranger", "is a DuckDB file but not a failure history"),
                       ("notes", "is not a readable DuckDB history")):  # fmt: skip
        spec = sources.join([str(fleet_dir / "gpu-east.db"), str(fleet_dir / f"{name}.db")])
        result = ask(spec).tool_calls[0].result
        assert result.status == "error"
        assert says in result.message and f"{name}.db" in result.message
        assert "\n" not in result.message


def test_two_files_of_one_cluster_name_are_refused(fleet_dir: Path, tmp_path: Path) -> None:
    copy = write_history(tmp_path / "backup" / "gpu-east.db", KNOWN_FAILURES, KNOWN_RUNS)
    spec = sources.join([str(fleet_dir / "gpu-east.db"), str(copy)])
    with pytest.raises(ConfigError, match=r"cluster gpu-east is given twice \(.*gpu-east\.db and"):
        sources.check(spec)
    # The same file named twice (a glob and itself) is read once, not refused.
    once = sources.join([str(fleet_dir / "*.db"), str(fleet_dir / "gpu-east.db")])
    assert sources.clusters(once) == ("gpu-east", "gpu-west")


def test_one_run_ai_cluster_in_two_files_is_refused(fleet_dir: Path) -> None:
    """A backup named otherwise holds the same Run:ai cluster id: summing would double it."""
    write_history(
        fleet_dir / "east-backup.db", with_cluster(KNOWN_FAILURES[:1], "uuid-east"), ()
    )
    result = ask(fleet_dir / "*.db").tool_calls[0].result
    assert result.status == "error"
    assert result.message == (
        "histories east-backup and gpu-east hold the same Run:ai cluster (uuid-east): one "
        "cluster recorded twice would be counted twice; give one of them"
    )


def test_an_unreadable_parquet_dataset_is_named(fleet_dir: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "export"
    db_cli.main(["export", str(fleet_dir / "gpu-east.db"), "--parquet", str(dataset),
                 "--cluster", "gpu-east"])  # fmt: skip
    damaged = next((dataset / "failure_events").rglob("*.parquet"))
    damaged.write_bytes(damaged.read_bytes()[:40])  # cut before its footer
    result = ask(dataset).tool_calls[0].result
    assert result.status == "error"
    assert result.message.startswith(f"cannot read the Parquet dataset {dataset}: ")
    # A folder without partitions is no dataset.
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="is a folder but not a Parquet history dataset"):
        sources.check(str(tmp_path / "empty"))


HOLD = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def test_a_file_the_sidecar_holds_is_waited_for_then_given_up(fleet_dir: Path) -> None:
    """ATTACH retries the writer's lock like the single-file open, within its timeout."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(fleet_dir / "gpu-west.db"), "30"],
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        with pytest.raises(StoreLocked, match=r"gpu-west\.db stayed locked .* for 0\.3s"):
            fleet.open_fleet(sources.resolve(str(fleet_dir / "*.db")), timeout_s=0.3)
    finally:
        child.kill()
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
    conn = fleet.open_fleet(sources.resolve(str(fleet_dir / "*.db")), timeout_s=5)
    conn.close()


# ---------------------------------------------------------------- the ways in


def test_ask_with_repeated_db(fleet_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NVIDIA_API_KEY", "OPENAI_API_KEY", "RUNAI_FAILURE_DB_PATH")}  # fmt: skip
    command = [sys.executable, "-m", "agent", "ask", "--json", "--now", NOW.isoformat(),
               "--db", str(fleet_dir / "gpu-east.db"), "--db", str(fleet_dir / "gpu-west.db"),
               QUESTION]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["markdown"].rstrip().endswith("Clusters: gpu-east, gpu-west")
    data = body["tool_calls"][0]["result"]["data"]
    assert data["total_failures"] == len(KNOWN_FAILURES) + len(WEST_FAILURES)
    nothing = subprocess.run(
        [*command[:7], "--db", str(fleet_dir / "none-*.db"), QUESTION],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert nothing.returncode == 1 and nothing.stdout == ""
    assert nothing.stderr == (
        f"ERROR: no history file or Parquet dataset matches {fleet_dir / 'none-*.db'}\n"
    )


def test_the_http_api_reads_the_fleet_from_its_environment(fleet_dir: Path) -> None:
    env = {"RUNAI_FAILURE_DB_PATH": sources.join([str(fleet_dir / "gpu-east.db"),
                                                  str(fleet_dir / "gpu-west.db")])}  # fmt: skip
    settings = ApiSettings.from_env(env)
    settings = ApiSettings(db_path=settings.db_path, clock=lambda: NOW)
    with (
        ServerThread(create_api_app(settings)) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        body = http.post("/api/chat", json={"question": QUESTION}).json()
    assert body["markdown"].rstrip().endswith("Clusters: gpu-east, gpu-west")
    stats = body["tool_calls"][0]["data"]
    assert stats["total_failures"] == len(KNOWN_FAILURES) + len(WEST_FAILURES)


def test_mcp_results_name_the_clusters(fleet_dir: Path) -> None:
    result = mcp_call(ctx_for(fleet_dir / "*.db"), "failure_statistics", {"window": "last 7 days"})
    assert result.status == "ok"
    assert result.message.endswith("(Clusters: gpu-east, gpu-west)")
    single = mcp_call(ctx_for(fleet_dir / "gpu-east.db"), "failure_statistics", {})
    assert "Clusters" not in single.message


def test_the_llm_is_told_the_clusters_and_the_answer_names_them(
    fleet_dir: Path, scripted_llm: ScriptedLLM
) -> None:
    settings = LLMSettings(api_key="sk-TEST-1234567890abcdef", base_url=scripted_llm.base_url,
                           model="scripted", timeout_s=5, max_steps=2, max_retries=0)  # fmt: skip
    scripted_llm.play(answer("Two clusters' failures, counted together."))
    result = respond(QUESTION, ctx_for(fleet_dir / "*.db"), settings)
    assert result.mode == "llm"
    assert result.markdown.rstrip().endswith("\n\nClusters: gpu-east, gpu-west")
    system = [m["content"] for m in scripted_llm.requests[0]["messages"] if m["role"] == "system"]
    assert any("Clusters: gpu-east, gpu-west" in text and "`cluster` column" in text
               for text in system)  # fmt: skip



def test_names_masked_for_an_llm_come_from_every_cluster(fleet_dir: Path) -> None:
    mask = NameMask.from_history(str(fleet_dir / "*.db"))
    assert {"job-wl-1", "job-w-1", "team-a", "team-w"} <= set(mask.forward)


def test_serve_and_mcp_name_the_fleet_or_refuse_a_glob_matching_nothing(
    fleet_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(fleet_dir / "*.db")
    shown = banner(ApiSettings(db_path=spec), "127.0.0.1", 8000, 3000)
    assert f"History  {spec} (Clusters: gpu-east, gpu-west)" in shown
    nothing = str(fleet_dir / "none-*.db")
    for main in (serve_main, mcp_main):
        assert main(["--db", str(fleet_dir / "gpu-east.db"), "--db", nothing]) == 2
        assert capsys.readouterr().err == (
            f"ERROR: no history file or Parquet dataset matches {nothing}\n"
        )
