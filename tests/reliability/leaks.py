"""Scan every output channel for secret values, in every form a channel could carry one.

A secret can leave opsctl verbatim, or encoded by the channel: inside a JSON string (escaped quotes,
backslashes, `\\uXXXX`), as workflow-command data (`%25`, `%0A`), or markdown/HTML-escaped in the step
summary. Each of those forms is searched for. `::add-mask::` lines are exempt: they are how GitHub is
told to hide a value, and the runner never prints them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MIN_FORM = 4  # shorter fragments (one line of a multi-line secret) would match innocent text

_MARKDOWN = set("\\|`*_[]~")  # what the step summary escapes (with HTML entities)
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def forms(secret: str) -> dict[str, str]:
    """Every encoding of `secret` worth searching for, by name."""
    found = {
        "verbatim": secret,
        "JSON string": json.dumps(secret, ensure_ascii=False)[1:-1],
        "JSON string (ASCII)": json.dumps(secret)[1:-1],
        "workflow command data": secret.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"),
        "markdown": "".join(_HTML.get(c, "\\" + c if c in _MARKDOWN else c) for c in secret),
    }
    for i, part in enumerate(secret.splitlines()):
        if part != secret:
            found[f"line {i + 1} of it"] = part
    return {name: text for name, text in found.items() if len(text.strip()) >= MIN_FORM}


@dataclass(frozen=True)
class Leak:
    """A secret found where it must not be."""

    channel: str
    secret: str
    form: str
    context: str


@dataclass
class Channels:
    """The text of every output channel of a test, by name ("stderr", "GITHUB_STEP_SUMMARY", …)."""

    texts: dict[str, list[str]] = field(default_factory=dict)

    def add(self, channel: str, text: str) -> None:
        """Some output of `channel`."""
        self.texts.setdefault(channel, []).append(text)

    def add_file(self, channel: str, path: Path) -> None:
        """A file opsctl writes (absent: nothing to scan)."""
        if path.is_file():
            self.add(channel, path.read_text(encoding="utf-8", errors="replace"))

    def add_state(self, state_home: Path) -> None:
        """What opsctl keeps under XDG_STATE_HOME: the history, and each local run's own records (a local run's
        log.jsonl is the task's output as written, the local stand-in for CloudWatch: not an opsctl output)."""
        base = state_home / "opsctl"
        self.add_file("history", base / "history.jsonl")
        for name in ("meta.json", "stop.json", "exit.json"):
            for path in sorted(base.glob(f"local-runs/*/{name}")):
                self.add_file(f"local run {name}", path)

    @property
    def size(self) -> int:
        """Characters scanned."""
        return sum(len(t) for texts in self.texts.values() for t in texts)

    def leaks(self, secrets: set[str] | frozenset[str]) -> list[Leak]:
        """Every occurrence of every secret in every form, in every channel."""
        found = []
        for channel, texts in self.texts.items():
            for text in texts:
                lines = [line for line in text.splitlines(keepends=True) if not line.startswith("::add-mask::")]
                body = "".join(lines)
                for secret in secrets:
                    for form, needle in forms(secret).items():
                        at = body.find(needle)
                        if at >= 0:
                            context = body[max(0, at - 60) : at + len(needle) + 20]
                            found.append(Leak(channel, secret, form, context))
        return found


def describe(leaks: list[Leak]) -> str:
    """A short account of leaks for an assertion message."""
    by = Counter((leak.channel, leak.form) for leak in leaks)
    sample = "\n".join(f"  {leak.channel} [{leak.form}] {leak.secret!r}: …{leak.context!r}…" for leak in leaks[:8])
    return f"{len(leaks)} leaks {dict(by)}:\n{sample}"
