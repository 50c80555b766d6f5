"""Reference admin task for opsctl: one action per run, driven only by environment variables."""

import re

# The one email check, shared with opsctl's `email` parameter type (which copies it rather than importing it).
# Deliberately loose: something@something.tld with no whitespace; deliverability is the OTP's job.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_MAX_LEN = 254

__all__ = ["EMAIL_MAX_LEN", "EMAIL_RE"]
