"""Secret masking: every string that leaves opsctl passes through a Redactor."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_LINE = 4  # shortest line of a multi-line secret that is masked on its own


def encodings(secret: str) -> set[str]:
    """The forms in which a task may print `secret`: verbatim, JSON-escaped, Python repr, URL-encoded, base64."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1]}
    forms |= {urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    raw = secret.encode("utf-8", "surrogatepass")
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms |= {encoded, encoded.rstrip("=")}
    return forms


class Redactor:
    """Replaces every known secret value with `***`, longest first so overlapping secrets mask fully."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret.strip():
                continue
            forms |= encodings(secret)
            # ... or a multi-line secret line by line, as GitHub masks it (very short lines would mask noise).
            forms.update(line for line in secret.splitlines() if len(line.strip()) >= MIN_LINE)
        self._secrets = sorted(forms, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    @property
    def forms(self) -> list[str]:
        """Every string masked, longest first (the local supervisor masks the same before writing)."""
        return list(self._secrets)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def value(self, obj: Any) -> Any:
        """Redact every string inside a JSON-like value (keys included)."""
        if isinstance(obj, str):
            return self(obj)
        if isinstance(obj, dict):
            return {self(str(k)): self.value(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(v) for v in obj]
        return obj
