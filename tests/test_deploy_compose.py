"""deploy/compose: the local stack's structure, checked with PyYAML and promtool.

No Docker engine runs here, so `docker compose config` cannot: these tests check what it would
and more (every mounted file exists, every command is a console script of the package with
flags its parser accepts, Prometheus loads the config and the rules).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
PRODUCT = {"simulator", "exporter", "agent"}
SERVICES = PRODUCT | {"prometheus", "grafana"}
SECRET_NAME = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD)", re.IGNORECASE)
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(doc, dict)
    return doc


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: str(v) for k, v in env.items()}


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if source.startswith((".", "/")):
            out.append((source, rest.split(":")[0]))
    return out


def host_ports(service: dict[str, Any]) -> dict[int, int]:
    return {int(p.split(":")[0]): int(p.split(":")[1]) for p in service.get("ports", [])}


def test_the_stack_has_every_part(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == SERVICES
    for name, service in services(compose).items():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            assert "healthcheck" in services(compose)[dependency]


def test_product_services_build_one_locked_down_image(compose: dict[str, Any]) -> None:
    images = set()
    for name in PRODUCT:
        service = services(compose)[name]
        images.add(service["image"])
        build = service["build"]
        context = (COMPOSE_DIR / build["context"]).resolve()
        assert context == ROOT and (context / build["dockerfile"]).is_file()
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        assert "/tmp" in service["tmpfs"]
    assert len(images) == 1


def test_product_commands_are_console_scripts(compose: dict[str, Any]) -> None:
    commands = {name: services(compose)[name]["command"][0] for name in PRODUCT}
    assert commands == {"simulator": "runai-simulator", "exporter": "runai-failure-exporter",
                        "agent": "runai-failure-agent"}
    assert set(commands.values()) <= set(SCRIPTS)


def test_exporter_flags_are_accepted_by_its_parser(compose: dict[str, Any]) -> None:
    from exporter.config import build_parser, parse_listen

    args = build_parser().parse_args(services(compose)["exporter"]["command"][1:])
    assert parse_listen(args.listen) == ("0.0.0.0", 10108)


def test_every_service_has_a_healthcheck_on_its_own_port(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        check = service["healthcheck"]
        assert check["test"][0] == "CMD" and check["interval"] and check["retries"] >= 1
        target = env_of(service).get("HEALTHCHECK_URL") or " ".join(check["test"])
        port = int(re.search(r"127\.0\.0\.1:(\d+)/", target).group(1))  # type: ignore[union-attr]
        published = set(host_ports(service).values())
        assert port in published, f"{name} health-checks :{port}, publishes {published}"


def test_every_mounted_file_exists(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for source, _ in bind_mounts(service):
            assert (COMPOSE_DIR / source).exists(), f"{name}: {source} does not exist"


def test_the_database_volume_is_shared_at_data(compose: dict[str, Any]) -> None:
    for name in ("exporter", "agent"):
        service = services(compose)[name]
        assert "history:/data" in service["volumes"]
        assert env_of(service)["RUNAI_FAILURE_DB_PATH"] == "/data/runai_failure_history.db"
    assert "history" in compose["volumes"]


def test_ports_are_unique_and_documented_in_the_header(compose: dict[str, Any]) -> None:
    published = [p for s in services(compose).values() for p in host_ports(s)]
    assert len(published) == len(set(published))
    header = COMPOSE_FILE.read_text().split("\nname:", 1)[0]
    documented = {int(p) for p in re.findall(r"http://localhost:(\d+)", header)}
    assert documented == set(published)


def test_no_credential_is_a_bare_literal(compose: dict[str, Any]) -> None:
    """Every credential is interpolated from the user's environment (with a demo default)."""
    for name, service in services(compose).items():
        for key, value in env_of(service).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+:-[^}]*\}", value), f"{name}: {key}={value}"


def test_exporter_reaches_the_simulator_and_agent_reaches_prometheus(
    compose: dict[str, Any],
) -> None:
    env = env_of(services(compose)["exporter"])
    assert env["RUNAI_BASE_URL"] == "http://simulator:8090"
    kubeconfig = dict(bind_mounts(services(compose)["exporter"]))
    mounted = {target: source for source, target in kubeconfig.items()}
    source = mounted[env["KUBECONFIG"]]
    doc = yaml.safe_load((COMPOSE_DIR / source).read_text())
    assert doc["clusters"][0]["cluster"]["server"].startswith("http://simulator:8090")
    agent = services(compose)["agent"]["command"]
    assert agent[agent.index("--prometheus-url") + 1] == "http://prometheus:9090"


# ---- Prometheus and Grafana configuration ----


def prometheus_config() -> dict[str, Any]:
    doc = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def test_prometheus_scrapes_the_exporter_as_the_rules_expect(compose: dict[str, Any]) -> None:
    rules = (ROOT / "deploy/prometheus/runai-failure-analysis.rules.yml").read_text()
    jobs = set(re.findall(r'job="([^"]+)"', rules))
    scrape = {c["job_name"]: c for c in prometheus_config()["scrape_configs"]}
    assert jobs <= set(scrape)
    (job,) = jobs
    targets = scrape[job]["static_configs"][0]["targets"]
    assert targets == ["exporter:10108"]
    mounted = {target for _, target in bind_mounts(services(compose)["prometheus"])}
    assert set(prometheus_config()["rule_files"]) <= mounted


def test_grafana_provisions_the_dashboards_and_the_prometheus_datasource(
    compose: dict[str, Any],
) -> None:
    mounts = {target: (COMPOSE_DIR / source).resolve()
              for source, target in bind_mounts(services(compose)["grafana"])}
    provisioning = mounts["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards/dashboards.yaml").read_text())
    path = providers["providers"][0]["options"]["path"]
    assert mounts[path] == ROOT / "grafana" / "dashboards"
    assert list(mounts[path].glob("*.json"))
    datasources = yaml.safe_load((provisioning / "datasources/prometheus.yaml").read_text())
    url = datasources["datasources"][0]["url"]
    assert url == "http://prometheus:9090"
    assert 9090 in host_ports(services(compose)["prometheus"]).values()


@pytest.mark.prometheus
def test_promtool_accepts_the_config_and_its_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/install-system-deps.sh"
    # The rule file sits where the compose file mounts it from.
    config = prometheus_config()
    config["rule_files"] = [str(ROOT / "deploy/prometheus" / Path(p).name)
                            for p in config["rule_files"]]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


# Keys of the Compose specification (compose-spec, services and health checks): a misspelt key
# would be ignored by an older engine or refused by a newer one; either way, not what we meant.
TOP_LEVEL_KEYS = {"version", "name", "include", "services", "networks", "volumes", "secrets",
                  "configs", "models"}
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup",
    "cgroup_parent", "command", "configs", "container_name", "cpu_count", "cpu_percent",
    "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus",
    "cpuset", "credential_spec", "depends_on", "deploy", "develop", "device_cgroup_rules",
    "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file",
    "environment", "expose", "extends", "external_links", "extra_hosts", "gpus", "group_add",
    "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels", "label_file",
    "links", "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness",
    "memswap_limit", "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid",
    "pids_limit", "platform", "ports", "post_start", "pre_stop", "privileged", "profiles",
    "provider", "pull_policy", "read_only", "restart", "runtime", "scale", "secrets",
    "security_opt", "shm_size", "stdin_open", "stop_grace_period", "stop_signal",
    "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "use_api_socket", "user",
    "userns_mode", "uts", "volumes", "volumes_from", "working_dir",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval",
                    "disable"}
DURATION = re.compile(r"(\d+(us|ms|s|m|h))+")


def spec_problems(doc: dict[str, Any]) -> list[str]:
    problems = [f"top-level key {k}" for k in doc
                if k not in TOP_LEVEL_KEYS and not k.startswith("x-")]
    for name, service in doc.get("services", {}).items():
        problems += [f"{name}: key {k}" for k in service
                     if k not in SERVICE_KEYS and not k.startswith("x-")]
        check = service.get("healthcheck", {})
        problems += [f"{name}: healthcheck key {k}" for k in check if k not in HEALTHCHECK_KEYS]
        problems += [f"{name}: healthcheck {k} {check[k]!r} is not a duration"
                     for k in ("interval", "timeout", "start_period")
                     if k in check and not DURATION.fullmatch(str(check[k]))]
        problems += [f"{name}: port {p!r}" for p in service.get("ports", [])
                     if not re.fullmatch(r"\d{1,5}:\d{1,5}", str(p))]
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")) and source not in doc.get("volumes", {}):
                problems.append(f"{name}: undeclared volume {source}")
    return problems


def test_the_file_uses_only_compose_spec_keys(compose: dict[str, Any]) -> None:
    assert spec_problems(compose) == []


def test_the_spec_check_catches_mistakes(compose: dict[str, Any]) -> None:
    bad = yaml.safe_load(COMPOSE_FILE.read_text())
    bad["services"]["agent"]["helthcheck"] = bad["services"]["agent"].pop("healthcheck")
    bad["services"]["exporter"]["healthcheck"]["interval"] = 10
    bad["services"]["exporter"]["volumes"].append("nowhere:/x")
    bad["services"]["grafana"]["ports"] = ["3001"]
    problems = spec_problems(bad)
    assert "agent: key helthcheck" in problems
    assert "exporter: healthcheck interval 10 is not a duration" in problems
    assert "exporter: undeclared volume nowhere" in problems
    assert "grafana: port '3001'" in problems


def test_prometheus_scrapes_as_often_as_grafana_assumes() -> None:
    datasources = yaml.safe_load(
        (ROOT / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    time_interval = datasources["datasources"][0]["jsonData"]["timeInterval"]
    assert prometheus_config()["global"]["scrape_interval"] == time_interval
