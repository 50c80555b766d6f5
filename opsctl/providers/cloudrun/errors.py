"""Google API errors → opsctl errors, by gRPC status code, each message with the next step."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

from opsctl.config import CloudRunEnv
from opsctl.errors import LaunchError, NotFound, OpsctlError, PermissionDenied, Refused, TemporaryFailure
from opsctl.permissions import CLOUD_RUN_BUILD_PERMISSION_FOR, CLOUD_RUN_PERMISSION_FOR

TERRAFORM_MODULE = "infra/terraform/modules/cloud-run-admin-job"
LOGIN_HINT = (
    "run: gcloud auth application-default login (or set GOOGLE_APPLICATION_CREDENTIALS; in GitHub Actions "
    "use google-github-actions/auth)"
)
# Only `opsctl build` needs this one (granted to CI by the module's roles/run.developer binding).
_from_grpc: Callable[[grpc.RpcError], gexc.GoogleAPICallError] = gexc.from_grpc_error
# Codes worth another try later: the runner backs off and retries these (the SDK retries nothing).
TRANSIENT = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.ResourceExhausted,
    gexc.InternalServerError,
    gexc.Aborted,
    gexc.Unknown,
    gexc.Cancelled,
)


def no_credentials(error: Exception) -> Refused:
    """Application Default Credentials missing or expired."""
    return Refused(f"not authenticated to Google Cloud ({type(error).__name__}) — {LOGIN_HINT}")


@contextmanager
def mapped(
    env: CloudRunEnv,
    action: str,
    subject: str,
    *,
    not_found: str | None = None,
    redact: Callable[[str], str] = str,
) -> Iterator[None]:
    """Turn a Google API error raised inside the block into the OpsctlError a user can act on.

    `action` names the operation (a key of CLOUD_RUN_PERMISSION_FOR), `subject` what it was about.
    """
    try:
        yield
    except grpc.RpcError as e:  # raw stubs (the log tail) raise these; wrap them as api_core does
        raise _translate(env, action, subject, not_found, redact, _from_grpc(e)) from None
    except gexc.GoogleAPICallError as e:
        raise _translate(env, action, subject, not_found, redact, e) from None
    except (auth_exc.DefaultCredentialsError, auth_exc.RefreshError) as e:
        raise no_credentials(e) from None


def translate(env: CloudRunEnv, action: str, subject: str, error: Exception) -> OpsctlError:
    """The OpsctlError for an error caught outside `mapped` (the tail's reader thread)."""
    if isinstance(error, grpc.RpcError):
        error = _from_grpc(error)
    if isinstance(error, gexc.GoogleAPICallError):
        return _translate(env, action, subject, None, str, error)
    return TemporaryFailure(f"{action} {subject}: {type(error).__name__}")


def _translate(
    env: CloudRunEnv,
    action: str,
    subject: str,
    not_found: str | None,
    redact: Callable[[str], str],
    e: gexc.GoogleAPICallError,
) -> OpsctlError:
    where = f"{env.project}/{env.region}"
    code = getattr(e.grpc_status_code, "name", None) or str(e.code)
    detail = redact(e.message or "")
    what = f"{action.replace('_', ' ')} {subject}"
    if isinstance(e, gexc.NotFound):
        if not_found is not None:
            return NotFound(not_found)
        return NotFound(
            f"{subject} not found in {where} — check project, region and job in environments.{env.name}"
            f"{override_note(env)}"
        )
    if isinstance(e, gexc.PermissionDenied):
        permission = {**CLOUD_RUN_PERMISSION_FOR, **CLOUD_RUN_BUILD_PERMISSION_FOR}.get(action, action)
        return PermissionDenied(
            f"permission denied: {action.replace('_', ' ')} on {subject} needs {permission} — ask an admin to "
            f"add you to operator_members in {TERRAFORM_MODULE} (terraform apply), or check that "
            f"gcloud is using the right account and project {env.project!r}"
        )
    if isinstance(e, gexc.Unauthenticated):
        return Refused(f"not authenticated to Google Cloud (UNAUTHENTICATED) — {LOGIN_HINT}")
    if isinstance(e, gexc.ResourceExhausted):
        if action == "read_logs":
            return TemporaryFailure(
                f"Cloud Logging read quota exhausted in project {env.project!r} (60 list calls a minute, shared "
                "by every operator) — backing off; no log line is lost"
            )
        return TemporaryFailure(f"{what}: quota exhausted ({code}) — backing off")
    # Transport-level failures carry the channel's own words (`failed to connect to all addresses; last
    # error: …`): they are said in ours, by code, with what to do.
    if isinstance(e, gexc.ServiceUnavailable):
        return TemporaryFailure(
            f"{what}: Google Cloud could not be reached ({code}) — check the network and retry{override_note(env)}"
        )
    if isinstance(e, gexc.DeadlineExceeded):
        return TemporaryFailure(f"{what}: no answer in time ({code}) — retry later{override_note(env)}")
    if isinstance(e, TRANSIENT):
        return TemporaryFailure(
            f"{what}: Google Cloud failed on its side ({code}) — retry; if it persists, see "
            f"https://status.cloud.google.com{override_note(env)}"
        )
    # The API's own explanation of a refused request (INVALID_ARGUMENT, FAILED_PRECONDITION, …) is the fix.
    return LaunchError(f"{what} was refused ({code})" + (f": {detail}" if detail else "") + override_note(env))


def override_note(env: CloudRunEnv) -> str:
    """Where the calls went when that is not Google: an active endpoint override, named."""
    if os.environ.get("OPSCTL_GCP_ENDPOINT"):
        return f" (calls go to OPSCTL_GCP_ENDPOINT={os.environ['OPSCTL_GCP_ENDPOINT']}: is it running?)"
    if env.endpoint:
        return f" (calls go to endpoint = {env.endpoint!r} in environments.{env.name}: is it running?)"
    return ""
