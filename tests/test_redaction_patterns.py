"""Secrets quoted from pod logs are redacted by shape and by context (common/redaction.py),
ordinary lines kept (issue 17; tests/test_redaction.py has the configured-secret rules).

The secrets below are made up but have the real formats (AWS' documented example key, GitHub's
ghp_ + 36 characters, a three-part JWT, Slack's xoxb- tokens and webhook URLs).
"""

from __future__ import annotations

import pytest

from common.redaction import REDACTED, redact_json, redact_secrets

AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
GITHUB_PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
SLACK_TOKEN = "xoxb-" + "1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
SLACK_HOOK = "https://hooks.slack.com/services/" + "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
DB_PASSWORD = "s3cr3t-Pa55"
OPENAI_KEY = "sk-proj-" + "abcdefghijklmnopqrstuvwxyz012345"
NVIDIA_KEY = "nvapi-" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
HF_TOKEN = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345"

CASES = [
    (f"export AWS_ACCESS_KEY_ID={AWS_KEY_ID}", AWS_KEY_ID, "AWS_ACCESS_KEY_ID="),
    (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET, "AWS_SECRET_ACCESS_KEY="),
    (f"fatal: could not read from https://{GITHUB}@github.com/org/repo.git", GITHUB, "github.com"),
    (f"GITHUB_TOKEN: {GITHUB}", GITHUB, "GITHUB_TOKEN"),
    (f"using {GITHUB_PAT} to clone", GITHUB_PAT, "to clone"),
    (f"GET /api/v1 Authorization: Bearer {JWT}", JWT, "Authorization: Bearer"),
    (f"id_token={JWT}&state=1", JWT, "state=1"),
    (f"slack client token {SLACK_TOKEN} rejected", SLACK_TOKEN, "rejected"),
    (f"posting to {SLACK_HOOK} failed: 404", "XXXXXXXXXXXXXXXXXXXXXXXX", "hooks.slack.com"),
    (
        f"sqlalchemy.exc.OperationalError: postgresql://trainer:{DB_PASSWORD}@db.internal:5432/x",
        DB_PASSWORD,
        "postgresql://trainer:",
    ),
    (f"connecting with password={DB_PASSWORD} user=admin", DB_PASSWORD, "user=admin"),
    (f'{{"db_password": "{DB_PASSWORD}", "epoch": 3}}', DB_PASSWORD, '"epoch": 3'),
    (f"OPENAI_API_KEY={OPENAI_KEY}", OPENAI_KEY, "OPENAI_API_KEY="),
    (f"NGC key {NVIDIA_KEY}", NVIDIA_KEY, "NGC key"),
    (f"huggingface_hub login {HF_TOKEN}", HF_TOKEN, "huggingface_hub"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\n-----END RSA PRIVATE KEY-----\ndone",
        "MIIEowIBAAKCAQEAx",
        "done",
    ),
]


@pytest.mark.parametrize(("line", "secret", "kept"), CASES)
def test_a_secret_in_a_log_line_is_redacted_and_the_context_kept(
    line: str, secret: str, kept: str
) -> None:
    redacted = redact_secrets(line)
    assert secret not in redacted
    assert REDACTED in redacted
    assert kept in redacted


@pytest.mark.parametrize(
    "line",
    [
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "NCCL WARN Net : Connect to 10.0.0.12<43891> failed : Connection refused",
        "step 1200: loss=2.314 max_tokens=4096 tokens_per_second: 1834.2 token_count=512",
        "Xid 79 on GPU 00000000:3B:00.0: GPU has fallen off the bus",
        "Back-off pulling image \"nvcr.io/nvidia/pytorch:24.05-py3\"",
        "see https://docs.example.com/runbook#oom for the fix",
    ],
)
def test_an_ordinary_log_line_is_left_alone(line: str) -> None:
    assert redact_secrets(line) == line


def test_redaction_is_idempotent_and_reaches_inside_json() -> None:
    once = redact_secrets(f"password={DB_PASSWORD} {JWT}")
    assert redact_secrets(once) == once
    nested = {"bundle": {"log_tail": [f"AWS key {AWS_KEY_ID}"]}, "n": 3}
    assert redact_json(nested) == {"bundle": {"log_tail": [f"AWS key {REDACTED}"]}, "n": 3}


def test_the_external_llm_path_masks_names_and_redacts_secrets() -> None:
    from agent.llm.mask import NameMask

    mask = NameMask.from_names({"WORKLOAD": ["train-llama-7b"], "PROJECT": ["team-a"]})
    line = f"train-llama-7b in team-a: boto3 failed with aws_secret_access_key={AWS_SECRET}"
    masked = mask.mask(line)
    assert masked.startswith("WORKLOAD_1 in PROJECT_1: boto3 failed")
    assert AWS_SECRET not in masked and REDACTED in masked
    sent = mask.mask_json({"evidence": f"Authorization: Bearer {JWT}", "n": 1})
    assert JWT not in str(sent)
    # Without names to mask (LLM_MASK_NAMES off), secrets are still redacted.
    assert GITHUB not in NameMask().mask(f"token {GITHUB}")


def test_the_sidecar_stores_evidence_and_bundle_redacted() -> None:
    from datetime import UTC, datetime

    from exporter.detect.episodes import Episode
    from exporter.evidence import Evidence
    from exporter.model import Classification, Workload
    from exporter.records import failure_record

    line = f"boto3 NoCredentialsError with AWS_SECRET_ACCESS_KEY={AWS_SECRET} (key {AWS_KEY_ID})"
    raw = {"id": "w1", "name": "train", "projectName": "team-a", "type": "Training"}
    workload = Workload.from_api(raw)
    episode = Episode("e1", "failed", datetime(2026, 11, 26, tzinfo=UTC), workload)
    evidence = Evidence(bundle={"workload": raw, "logs": f"step 3\n{line}\n"},
                        logs_available=True)  # fmt: skip
    verdict = Classification("app_error", 0.9, line, "log", f"Crashed: {line}", "Fix the code.")
    record = failure_record(episode, evidence, verdict)
    stored = f"{record.evidence} {record.summary} {record.bundle}"
    assert AWS_SECRET not in stored and AWS_KEY_ID not in stored
    assert record.evidence.startswith("boto3 NoCredentialsError with AWS_SECRET_ACCESS_KEY=")
    assert record.bundle["logs"].startswith("step 3\nboto3 NoCredentialsError")


@pytest.mark.parametrize("text", ["a." * 50_000, "a-" * 50_000, "password=" * 11_000,
                                  "x://x:" * 16_000])  # fmt: skip
def test_a_hostile_log_line_is_redacted_in_linear_time(text: str) -> None:
    """An unbounded scan from each position took minutes on 100 KB of `a.a.a`."""
    import time

    started = time.perf_counter()
    redact_secrets(text)
    assert time.perf_counter() - started < 3.0
