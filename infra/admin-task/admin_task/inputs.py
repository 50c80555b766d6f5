"""Reading and validating the environment variables that drive an action (all failures exit 64)."""

import re
from collections.abc import Mapping

from admin_task import EMAIL_MAX_LEN, EMAIL_RE
from admin_task.errors import InvalidInput

# Lowest to highest.
LEVELS = ("patient", "staff", "admin", "superadmin")
ROLES = (
    "System Administrator",
    "Clinical Administrator",
    "Clinician",
    "Clinical Support Staff",
    "Patient",
    "Patient Advocate",
)
USERNAME_RE = re.compile(r"[A-Za-z0-9._@+-]{1,150}")
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
PASSWORD_MIN_LEN = 8


def required(env: Mapping[str, str], name: str) -> str:
    """The value of `name`; missing or empty is an error."""
    value = env.get(name, "")
    if not value:
        raise InvalidInput(f"{name} environment variable is required")
    return value


def email(env: Mapping[str, str]) -> str:
    """ADMIN_EMAIL, checked with EMAIL_RE."""
    value = required(env, "ADMIN_EMAIL")
    # fullmatch, not match: `$` alone would accept a trailing newline.
    if len(value) > EMAIL_MAX_LEN or not EMAIL_RE.fullmatch(value):
        raise InvalidInput(f"ADMIN_EMAIL is not a valid email address: {value!r}")
    return value


def username(env: Mapping[str, str]) -> str:
    """ADMIN_USERNAME: 1-150 letters, digits or . _ @ + -."""
    value = required(env, "ADMIN_USERNAME")
    if not USERNAME_RE.fullmatch(value):
        raise InvalidInput(f"ADMIN_USERNAME must be 1-150 characters of letters, digits and . _ @ + - (got {value!r})")
    return value


def password(env: Mapping[str, str]) -> str:
    """ADMIN_PASSWORD, at least PASSWORD_MIN_LEN characters (never echoed)."""
    value = required(env, "ADMIN_PASSWORD")
    if len(value) < PASSWORD_MIN_LEN:
        raise InvalidInput(f"ADMIN_PASSWORD must be at least {PASSWORD_MIN_LEN} characters")
    return value


def level(env: Mapping[str, str]) -> str:
    """ADMIN_PERMISSION_LEVEL, one of LEVELS."""
    value = required(env, "ADMIN_PERMISSION_LEVEL")
    if value not in LEVELS:
        raise InvalidInput(
            f"ADMIN_PERMISSION_LEVEL must be one of {', '.join(LEVELS)} (lowest to highest); got {value!r}"
        )
    return value


def role(env: Mapping[str, str]) -> str:
    """ADMIN_ROLE, one of the six ROLES (exact spelling)."""
    value = required(env, "ADMIN_ROLE")
    if value not in ROLES:
        raise InvalidInput(f"ADMIN_ROLE must be one of: {', '.join(ROLES)}; got {value!r}")
    return value


def slug(env: Mapping[str, str]) -> str:
    """TENANT_SLUG: 1-63 lowercase letters, digits and hyphens, not starting with a hyphen."""
    value = required(env, "TENANT_SLUG")
    if not SLUG_RE.fullmatch(value):
        raise InvalidInput(
            f"TENANT_SLUG must be 1-63 lowercase letters, digits and hyphens, not starting with one (got {value!r})"
        )
    return value


def flag(env: Mapping[str, str], name: str) -> bool:
    """A yes/no variable: `1` or `true` is on; absent, empty, `0` or `false` is off."""
    value = env.get(name, "")
    if value in ("1", "true"):
        return True
    if value in ("", "0", "false"):
        return False
    raise InvalidInput(f"{name} must be 1 or 0 (true or false); got {value!r}")
