"""Text opsctl did not write — task log lines, result fields, cloud messages — made safe to show, once, where it enters.

A terminal interprets escape sequences (OSC 52 writes the clipboard, CSI 2J clears the screen, OSC 8 hides a
link's target) and a line break inside a value starts a new line a CI runner may read as a workflow command.
So every control character is shown as an escape a person can read (`\\x1b`, `\\n`), never passed through;
a tab stays a tab. A line is cut at LINE_MAX_BYTES with a visible marker, so no line can grow without bound.
"""

from __future__ import annotations

import json
import re
from typing import Any

LINE_MAX_BYTES = 64 * 1024  # one relayed log line, in UTF-8 bytes; the rest is cut with CUT_MARKER
RESULT_MAX_DEPTH = 32  # a result line nested deeper than this is ignored (with a notice)
CUT_MARKER = " … [cut: {n} more bytes]"

# C0 controls but tab, DEL, C1 controls (a terminal reads U+009B as CSI), the Unicode line and paragraph
# separators, and the bidirectional overrides that make text read differently from what it is.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control character shown as an escape, so nothing in it is interpreted."""
    return _CONTROL.sub(_shown, text)


def cut(text: str, limit: int = LINE_MAX_BYTES) -> tuple[str, int]:
    """`text` cut to `limit` UTF-8 bytes, and how many bytes were cut (0: none)."""
    if len(text) <= limit // 4:  # cheap: no character is longer than 4 bytes
        return text, 0
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text, 0
    return data[:limit].decode("utf-8", "ignore"), len(data) - limit


def shown_line(text: str, already_cut: int = 0) -> tuple[str, int]:
    """A log line to show: cut to LINE_MAX_BYTES with a marker, control characters visible; and the bytes cut."""
    kept, dropped = cut(text)
    dropped += already_cut
    shown = visible(kept)
    return (shown + CUT_MARKER.format(n=dropped), dropped) if dropped else (shown, 0)


def shown_value(obj: Any) -> Any:
    """Every string in a JSON-like value (keys included) cut and made visible (its depth is already bounded)."""
    if isinstance(obj, str):
        return shown_line(obj)[0]
    if isinstance(obj, dict):
        return {shown_line(str(k))[0]: shown_value(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [shown_value(v) for v in obj]
    return obj


def parse_result_line(message: str) -> dict[str, Any] | None:
    """A task's result line: a single-line JSON object with an "ok" key (DESIGN.md §4).

    None when the line is not meant as one; ValueError (saying why) when it looks like one but cannot be
    used: invalid JSON, or nested deeper than RESULT_MAX_DEPTH.
    """
    text = message.strip()
    if not (text.startswith("{") and text.endswith("}") and '"ok"' in text):
        return None
    # Bracket count first: json.loads recurses, and a deep enough line would exhaust the stack.
    if text.count("{") + text.count("[") > RESULT_MAX_DEPTH and _nesting(text) > RESULT_MAX_DEPTH:
        raise ValueError(f"nested deeper than {RESULT_MAX_DEPTH} levels")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ValueError("not valid JSON") from e
    return value if isinstance(value, dict) and "ok" in value else None


def _nesting(text: str) -> int:
    """How deeply brackets nest in JSON text, outside strings (an upper bound on the value's depth)."""
    level = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            level += 1
            deepest = max(deepest, level)
        elif char in "}]":
            level -= 1
    return deepest
