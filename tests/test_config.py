"""Configuration: flags over environment over defaults, and one-line errors."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from exporter.config import DEFAULT_DB_PATH, load_config, parse_base_url, parse_listen

ENV = {
    "RUNAI_BASE_URL": "https://runai.example.com/",
    "RUNAI_CLIENT_ID": "svc-monitor",
    "RUNAI_CLIENT_SECRET": "s3cr3t-value-for-tests",
}


def test_defaults_from_environment() -> None:
    config = load_config([], ENV)
    assert config.base_url == "https://runai.example.com"
    assert config.db_path == DEFAULT_DB_PATH
    assert config.poll_interval_s == 60
    assert config.projects == ()
    assert (config.listen_host, config.listen_port) == ("0.0.0.0", 10108)
    assert config.retention_days == 90
    assert config.log_format == "text"
    assert not config.once


def test_flags_override_environment() -> None:
    env = ENV | {"RUNAI_FAILURE_DB_PATH": "/env/path.db"}
    config = load_config(
        ["--poll-interval", "15", "--project", "team-a", "--project", "team-b", "--project",
         "team-a", "--db", "/flag/path.db", "--listen", "127.0.0.1:0", "--once",
         "--retention-days", "7", "--log-format", "json", "--base-url", "http://10.0.0.1:8080"],
        env,
    )
    assert config.poll_interval_s == 15
    assert config.projects == ("team-a", "team-b")
    assert config.db_path == "/flag/path.db"
    assert (config.listen_host, config.listen_port) == ("127.0.0.1", 0)
    assert config.once and config.retention_days == 7 and config.log_format == "json"
    assert config.base_url == "http://10.0.0.1:8080"


def test_several_projects_after_one_flag() -> None:
    assert load_config(["--project", "a", "b", "--project", "c"], ENV).projects == ("a", "b", "c")


def test_db_path_from_environment() -> None:
    assert load_config([], ENV | {"RUNAI_FAILURE_DB_PATH": "/x/y.db"}).db_path == "/x/y.db"


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        (["RUNAI_CLIENT_SECRET"], "Missing required environment variables: RUNAI_CLIENT_SECRET"),
        (
            ["RUNAI_BASE_URL", "RUNAI_CLIENT_ID", "RUNAI_CLIENT_SECRET"],
            "Missing required environment variables: "
            "RUNAI_BASE_URL, RUNAI_CLIENT_ID, RUNAI_CLIENT_SECRET",
        ),
    ],
)
def test_missing_variables_named_in_one_line(missing: list[str], message: str) -> None:
    env = {k: v for k, v in ENV.items() if k not in missing}
    with pytest.raises(ConfigError) as info:
        load_config([], env)
    assert str(info.value) == message


def test_blank_variable_counts_as_missing() -> None:
    with pytest.raises(ConfigError, match="RUNAI_CLIENT_ID"):
        load_config([], ENV | {"RUNAI_CLIENT_ID": "  "})


@pytest.mark.parametrize(
    "url", ["runai.example.com", "ftp://runai.example.com", "https://", "http://host:notaport",
            "https://host/?x=1"],
)
def test_unparsable_base_url(url: str) -> None:
    with pytest.raises(ConfigError, match="Invalid RUNAI_BASE_URL"):
        parse_base_url(url)


def test_base_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as info:
        parse_base_url("https://user:hunter2@runai.example.com")
    assert "hunter2" not in str(info.value)


def test_base_url_keeps_path_prefix_and_port() -> None:
    assert parse_base_url(" https://Host:8443/runai/ ") == "https://host:8443/runai"


@pytest.mark.parametrize("bad", ["10108", "host:", "host:99999", "host:x"])
def test_bad_listen_address(bad: str) -> None:
    with pytest.raises(ConfigError, match="Invalid --listen"):
        parse_listen(bad)


@pytest.mark.parametrize(
    ("flags", "match"),
    [(["--poll-interval", "0"], "--poll-interval"), (["--retention-days", "0"], "retention")],
)
def test_bad_numbers(flags: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(flags, ENV)


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--poll-interval", "inf"),
        ("--poll-interval", "1e12"),
        ("--poll-interval", "1e-9"),
        ("--poll-interval", "nan"),
        ("--pending-threshold", "nan"),
        ("--pending-threshold", "inf"),
        ("--pending-threshold", "-1"),
        ("--retention-days", "0.5"),
        ("--retention-days", "1e12"),
        ("--retention-days", "many"),
    ],
)
def test_every_nonsense_number_is_one_clear_error(flag: str, value: str) -> None:
    """inf/1e12 failed after the first poll, nan made every poll fail, 1e-9 was accepted."""
    with pytest.raises(ConfigError) as info:
        load_config([flag, value], ENV)
    message = str(info.value)
    assert message.startswith(f"Invalid {flag} '{value}': must be a "), message
    assert " from " in message and "\n" not in message


def test_numbers_in_range_are_kept() -> None:
    config = load_config(
        ["--poll-interval", "0.5", "--pending-threshold", "0", "--retention-days", "36500"], ENV
    )
    assert (config.poll_interval_s, config.pending_threshold_s) == (0.5, 0)
    assert config.retention_days == 36500


def test_secret_not_in_repr() -> None:
    assert ENV["RUNAI_CLIENT_SECRET"] not in repr(load_config([], ENV))


def test_connection_settings_flags_over_environment(tmp_path) -> None:
    env = ENV | {"RUNAI_CLUSTER_ID": "c-env", "RUNAI_API_VERSION": "2.21.4",
                 "KUBE_INSECURE_SKIP_TLS_VERIFY": "yes", "RUNAI_CA_BUNDLE": "/env/ca.pem"}
    config = load_config(["--cluster-id", "c-flag"], env)
    assert config.cluster_id == "c-flag" and config.api_version == "2.21"
    assert config.runai_tls.ca_bundle == "/env/ca.pem"
    assert not config.runai_tls.insecure_skip_verify
    assert config.kube_tls.insecure_skip_verify and config.kube_tls.verify() is False
    assert load_config(["--api-version", "2.31"], ENV).api_version == "2.24"


@pytest.mark.parametrize(("env", "message"), [
    ({"RUNAI_API_VERSION": "latest"}, "Invalid RUNAI_API_VERSION 'latest': expected a version "
     "like 2.22"),
    ({"RUNAI_API_VERSION": "2.17"}, "Unsupported RUNAI_API_VERSION 2.17: supported control "
     "planes are 2.18-2.24"),
    ({"RUNAI_INSECURE_SKIP_TLS_VERIFY": "maybe"},
     "Invalid RUNAI_INSECURE_SKIP_TLS_VERIFY 'maybe': expected true or false "
     "(or 1/0, yes/no, on/off)"),
    ({"KUBE_CA_BUNDLE": "/ca.pem", "KUBE_INSECURE_SKIP_TLS_VERIFY": "1"},
     "KUBE_CA_BUNDLE and KUBE_INSECURE_SKIP_TLS_VERIFY contradict each other: set one"),
])
def test_bad_connection_settings_are_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config([], ENV | env)
    assert str(info.value) == message


def test_an_applications_credentials_instead_of_a_service_accounts() -> None:
    base = {"RUNAI_BASE_URL": ENV["RUNAI_BASE_URL"]}
    config = load_config([], base | {"RUNAI_APP_ID": "app", "RUNAI_APP_SECRET": "s3cret"})
    assert (config.client_id, config.client_secret, config.application) == ("app", "s3cret", True)
    assert not load_config([], ENV).application
    with pytest.raises(ConfigError, match=r"^Missing required environment variables: "
                                          r"RUNAI_APP_SECRET$"):
        load_config([], base | {"RUNAI_APP_ID": "app"})
    with pytest.raises(ConfigError, match="not both"):
        load_config([], ENV | {"RUNAI_APP_ID": "app", "RUNAI_APP_SECRET": "s3cret"})
