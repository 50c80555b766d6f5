"""Password hashing with stdlib scrypt, encoded as `scrypt$n$r$p$salt_b64$hash_b64`."""

import base64
import hashlib
import hmac
import secrets

# OWASP's minimum scrypt parameters (N=2^17, r=8, p=1); they need 128 MiB, above hashlib's 32 MiB default cap.
N, R, P = 2**17, 8, 1
_DKLEN = 32
_MAXMEM = 256 * 1024 * 1024


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_DKLEN)


def hash_password(password: str) -> str:
    """Hash a password with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, N, R, P)
    return "$".join(
        ["scrypt", str(N), str(R), str(P), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()]
    )


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches an encoded scrypt hash."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        return hmac.compare_digest(_scrypt(password, salt, int(n), int(r), int(p)), expected)
    except ValueError:
        return False
