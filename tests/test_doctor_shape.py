"""`opsctl doctor` has one shape on every provider: config, then credentials, then the provider's checks;
any ✗ exits 1 (EXIT_CHECKS_FAILED), even when there are no credentials at all."""

from __future__ import annotations

from pathlib import Path

from opsctl.errors import EXIT_CHECKS_FAILED
from tests.conftest import run_cli

CONFIG = """
[environments.dev]
provider = "local"
workdir = "."

[environments.gcp]
provider = "cloudrun"
project = "quill-staging-123456"
region = "europe-west2"
job = "quill-admin"

[environments.aws]
provider = "ecs"
region = "eu-west-2"
cluster = "clinloop-staging"
service = "clinloop-staging-api"
"""
# No credentials anywhere: google-auth and botocore read these variables first (their documented
# lookup order); metadata servers are switched off so neither SDK waits on the network.
NO_CREDENTIALS = {
    "GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/adc.json",
    "CLOUDSDK_CONFIG": "/nonexistent",
    "NO_GCE_CHECK": "True",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
    "AWS_SESSION_TOKEN": "",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # never reached: no credentials, no request
}


def doctor(tmp_path: Path, env: str) -> tuple[int, list[str], str]:
    (tmp_path / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
    out = run_cli("doctor", env, cwd=tmp_path, env=NO_CREDENTIALS)
    return out.code, out.stdout.splitlines(), out.stderr


def test_local_doctor_says_no_credentials_are_needed(tmp_path: Path) -> None:
    code, lines, _ = doctor(tmp_path, "dev")
    assert code == 0
    assert lines[0] == f"✓ config {tmp_path / 'opsctl.toml'} — environment 'dev', provider local"
    assert lines[1] == "✓ credentials — none needed: tasks run as processes on this machine"


def test_cloudrun_without_credentials_is_a_checklist_not_one_line(tmp_path: Path) -> None:
    code, lines, err = doctor(tmp_path, "gcp")
    assert (code, err) == (EXIT_CHECKS_FAILED, "opsctl: 1 passed, 1 failed\n")
    assert lines == [
        f"✓ config {tmp_path / 'opsctl.toml'} — environment 'gcp', provider cloudrun",
        "✗ Google credentials — not authenticated to Google Cloud (DefaultCredentialsError)",
        "    fix: run: gcloud auth application-default login (or set GOOGLE_APPLICATION_CREDENTIALS; in GitHub "
        "Actions use google-github-actions/auth)",
    ]


def test_ecs_without_credentials_is_the_same_shape(tmp_path: Path) -> None:
    code, lines, err = doctor(tmp_path, "aws")
    assert (code, err) == (EXIT_CHECKS_FAILED, "opsctl: 1 passed, 1 failed\n")
    assert lines == [
        f"✓ config {tmp_path / 'opsctl.toml'} — environment 'aws', provider ecs",
        "✗ AWS credentials — no AWS credentials for environment 'aws'",
        "    fix: configure credentials: set profile in the environment (or AWS_PROFILE), then aws sso login "
        "--profile PROFILE; in GitHub Actions use aws-actions/configure-aws-credentials",
    ]
