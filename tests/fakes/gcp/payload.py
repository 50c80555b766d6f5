"""How Cloud Logging stores a line a Cloud Run task printed: a single-line JSON object becomes a jsonPayload.

Source: cloud.google.com/logging/docs/structured-logging; googleapis `google/logging/v2/log_entry.proto`,
`google/logging/type/log_severity.proto` (shared/notes/cloud-apis.md §11).
"""

from __future__ import annotations

import json
from typing import Any

# google/logging/type/log_severity.proto
SEVERITY = {"DEFAULT": 0, "DEBUG": 100, "INFO": 200, "NOTICE": 300, "WARNING": 400, "ERROR": 500, "CRITICAL": 600}
SEVERITY |= {"ALERT": 700, "EMERGENCY": 800}
# Structured-logging keys that become LogEntry fields instead of jsonPayload keys.
_SPECIAL = {"logging.googleapis.com/trace": "trace", "logging.googleapis.com/spanId": "span_id"}


def structured(entry: Any, payload: dict[str, Any]) -> None:
    """Fill a LogEntry from a JSON line the way Cloud Logging's structured logging does."""
    rest = dict(payload)
    severity = rest.get("severity")
    if isinstance(severity, str) and severity.upper() in SEVERITY:
        entry.severity = SEVERITY[severity.upper()]
        del rest["severity"]
    labels = rest.pop("logging.googleapis.com/labels", None)
    if isinstance(labels, dict):
        entry.labels.update({str(k): str(v) for k, v in labels.items()})
    for key, attribute in _SPECIAL.items():
        if isinstance(rest.get(key), str):
            setattr(entry, attribute, rest.pop(key))
    rest = {k: v for k, v in rest.items() if not k.startswith("logging.googleapis.com/")}
    # A Struct is a protobuf map: the order the task wrote its keys in is not kept, and every number is stored
    # as a double, as the Struct's Value does (3 → 3.0; above 2**53 precision is lost).
    entry.json_payload.update(rest)


def json_object(text: str) -> dict[str, Any] | None:
    """A single-line JSON object (a pretty-printed one spans lines: each of those stays text)."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")) or "\n" in text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
