"""boto3 errors → opsctl errors, by error code, each message saying what to do next."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    SSOError,
    TokenRetrievalError,
)

from opsctl.errors import LaunchError, NotFound, OpsctlError, PermissionDenied, Refused, TemporaryFailure
from opsctl.permissions import ECS_ACTIONS_FOR

CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "MissingAuthenticationToken",
        "IncompleteSignature",
    }
)
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServerException",
        "InternalFailure",
        "InternalServerError",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
OIDC_OPERATIONS = frozenset({"AssumeRoleWithWebIdentity"})
# RunTask is also refused when the caller may not pass the task definition's roles.
EXTRA_ACTIONS = {"RunTask": f"{ECS_ACTIONS_FOR['pass_role'][0]} on the task definition's task and execution roles"}


@dataclass(frozen=True, slots=True)
class Context:
    """What an error message may name: where the environment came from and what it points at."""

    env: str
    source: str
    region: str
    cluster: str
    profile: str | None = None
    where: Callable[[str], str] | None = None  # `opsctl init`: the flag that gave each setting

    def key(self, name: str) -> str:
        """`opsctl.toml: environments.staging.cluster`, for messages that point at the config (or at the
        command-line flag that gave the setting, when there is no config yet)."""
        return self.where(name) if self.where else f"{self.source}: environments.{self.env}.{name}"

    def login_hint(self) -> str:
        """The command that refreshes this environment's credentials."""
        profile = self.profile or os.environ.get("AWS_PROFILE")
        if profile:
            return f"run: aws sso login --profile {profile}"
        return (
            "configure credentials: set profile in the environment (or AWS_PROFILE), then "
            "aws sso login --profile PROFILE; in GitHub Actions use aws-actions/configure-aws-credentials"
        )


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ClientError ("" when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    """The HTTP status of a ClientError (0 when absent)."""
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def error_message(exc: ClientError) -> str:
    """AWS's own message of a ClientError (its code when there is none)."""
    return str(exc.response.get("Error", {}).get("Message", "") or error_code(exc))


def action(service: str, operation: str) -> str:
    """The IAM action an API operation needs, e.g. `ecs:RunTask`."""
    known = ECS_ACTIONS_FOR.get(re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower())
    return known[0] if known else f"{service}:{operation}"


def override_note(service: str) -> str:
    """The endpoint override the call went through, if any (boto3 honours these variables by itself)."""
    names = {"logs": ("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ENDPOINT_URL_LOGS")}.get(
        service, (f"AWS_ENDPOINT_URL_{service.upper()}",)
    )
    for name in (*names, "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return f" (calls go to {name}={os.environ[name]}: is it running?)"
    return ""


def translate(exc: Exception, service: str, operation: str, ctx: Context) -> OpsctlError | None:
    """The opsctl error for an SDK exception, or None when it is not an SDK error we know."""
    if isinstance(exc, ClientError):
        return _client_error(exc, service, operation, ctx)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return Refused(f"no AWS credentials for environment {ctx.env!r} — {ctx.login_hint()}")
    if isinstance(exc, (TokenRetrievalError, SSOError, CredentialRetrievalError)):
        return Refused(
            f"AWS credentials for environment {ctx.env!r} could not be loaded or have expired "
            f"({type(exc).__name__}) — {ctx.login_hint()}"
        )
    if isinstance(exc, (HTTPClientError, ConnectionError)):
        return TemporaryFailure(
            f"{operation}: cannot reach AWS {service} in {ctx.region} ({type(exc).__name__}) — check the network "
            f"and retry{override_note(service)}"
        )
    if isinstance(exc, BotoCoreError):
        return OpsctlError(f"{operation}: {type(exc).__name__}: {exc}")
    return None


def _client_error(exc: ClientError, service: str, operation: str, ctx: Context) -> OpsctlError:
    code, status, message = error_code(exc), http_status(exc), error_message(exc)
    if exc.operation_name in OIDC_OPERATIONS:
        return Refused(
            "GitHub OIDC: not authorized to perform sts:AssumeRoleWithWebIdentity — the role's trust policy "
            "must accept this job's `sub` claim: a job without `environment:` presents "
            "repo:OWNER/REPO:ref:refs/heads/BRANCH, a job with `environment: NAME` presents "
            "repo:OWNER/REPO:environment:NAME instead. Add that value to the "
            "token.actions.githubusercontent.com:sub condition of the role's trust policy (then add "
            f"`environment:` to the workflow), or remove `environment:` from the job ({code}: {message})"
        )
    if exc.operation_name in ("AssumeRole", "GetRoleCredentials") and code in DENIED_CODES | CREDENTIAL_CODES:
        return Refused(
            f"could not assume the AWS role for environment {ctx.env!r} ({exc.operation_name}: "
            f"{message}) — {ctx.login_hint()}"
        )
    if code in CREDENTIAL_CODES:
        return Refused(
            f"AWS rejected the credentials for environment {ctx.env!r} ({code}: {message}) — {ctx.login_hint()}"
        )
    if code in DENIED_CODES:
        needed = action(service, operation)
        extra = EXTRA_ACTIONS.get(operation)
        also = f" (it also needs {extra})" if extra else ""
        return PermissionDenied(
            f"permission denied: {needed} in {ctx.region}{also} — grant it to the role or user opsctl runs as "
            f"(infra/terraform/modules/ecs-admin-task grants exactly what opsctl needs). AWS said: {message}"
        )
    if code in TRANSIENT_CODES or status >= 500:
        return TemporaryFailure(f"{operation}: {code or 'HTTP ' + str(status)} from AWS {service} ({message})")
    if code == "ClusterNotFoundException":
        return NotFound(
            f"ECS cluster {ctx.cluster!r} not found in {ctx.region} — check {ctx.key('cluster')} "
            "and the region/profile (aws ecs list-clusters)"
        )
    if code == "ServiceNotFoundException":
        return NotFound(
            f"ECS service not found in cluster {ctx.cluster!r} ({ctx.region}) — check "
            f"{ctx.key('service')} (aws ecs list-services --cluster {ctx.cluster})"
        )
    if code == "ConflictException" and operation == "RunTask":
        return LaunchError(
            "ECS already started a task for this run id with different parameters (same clientToken): "
            f"{message} — find it with opsctl history {ctx.env}"
        )
    if code == "ResourceNotFoundException" and service == "logs":
        return NotFound(f"CloudWatch log group or stream not found in {ctx.region}: {message}")
    return LaunchError(f"AWS {service} {operation} failed: {code}: {message}")
