"""Cloud errors in opsctl's words, per error code, with the fix and any active endpoint override named —
never the transport's own text (`failed to connect to all addresses; last error: …`)."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.conftest import run_cli

CONFIG = """
[environments.gcp]
provider = "cloudrun"
project = "quill-staging-123456"
region = "europe-west2"
job = "quill-admin"

[environments.aws]
provider = "ecs"
region = "eu-west-2"
cluster = "clinloop-staging"
task_definition = "clinloop-api:1"
container = "api"
subnets = ["subnet-0abc"]
security_groups = ["sg-0abc"]
"""
FAST_RETRIES = {"OPSCTL_RETRY_BASE_S": "0.01", "OPSCTL_RETRY_MAX_S": "0.5"}


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cloud_run_unreachable_names_the_endpoint_override(tmp_path: Path) -> None:
    (tmp_path / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
    endpoint = f"127.0.0.1:{closed_port()}"
    out = run_cli("history", "gcp", cwd=tmp_path, env={**FAST_RETRIES, "OPSCTL_GCP_ENDPOINT": endpoint})
    said = (
        "list executions job 'quill-admin': Google Cloud could not be reached (UNAVAILABLE) — "
        f"check the network and retry (calls go to OPSCTL_GCP_ENDPOINT={endpoint}: is it running?)"
    )
    assert (out.code, out.stderr.splitlines()[-1]) == (75, f"opsctl: error: {said}")
    # The retries before it say the same, never the channel's own text.
    assert all(said in line for line in out.stderr.splitlines()), out.stderr


def test_aws_unreachable_names_the_endpoint_override(tmp_path: Path) -> None:
    (tmp_path / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
    url = f"http://127.0.0.1:{closed_port()}"
    env = {**FAST_RETRIES, "AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    out = run_cli("history", "aws", cwd=tmp_path, env=env)
    said = (
        "ListTasks: cannot reach AWS ecs in eu-west-2 (EndpointConnectionError) — check the "
        f"network and retry (calls go to AWS_ENDPOINT_URL={url}: is it running?)"
    )
    assert (out.code, out.stderr.splitlines()[-1]) == (75, f"opsctl: error: {said}")
    assert all(said in line for line in out.stderr.splitlines()), out.stderr
    # A per-service variable is the one named when both are set (boto3 prefers it too).
    ecs_url = f"http://127.0.0.1:{closed_port()}"
    out = run_cli("history", "aws", cwd=tmp_path, env={**env, "AWS_ENDPOINT_URL_ECS": ecs_url})
    assert out.stderr.endswith(f"(calls go to AWS_ENDPOINT_URL_ECS={ecs_url}: is it running?)\n")
