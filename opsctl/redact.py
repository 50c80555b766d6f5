"""Secret masking: every string that leaves opsctl passes through a Redactor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MASK = "***"


class Redactor:
    """Replaces every known secret value with `***`, longest first so overlapping secrets mask fully."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

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
