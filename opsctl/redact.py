"""Secret masking: every string that leaves opsctl passes through a Redactor."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

MASK = "***"
MIN_LINE = 4  # shortest line of a multi-line secret that is masked on its own


class Redactor:
    """Replaces every known secret value with `***`, longest first so overlapping secrets mask fully."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            forms.add(secret)
            # As a task may print it: JSON-escaped (quotes, backslashes, \uXXXX) ...
            forms.add(json.dumps(secret)[1:-1])
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
            # ... or a multi-line secret line by line, as GitHub masks it (very short lines would mask noise).
            forms.update(line for line in secret.splitlines() if len(line.strip()) >= MIN_LINE)
        self._secrets = sorted(forms, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._secrets)

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
