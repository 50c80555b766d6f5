"""GitHub Actions primitives: is this a step, workflow-command escaping, masks, the step-output file.

The runner reads workflow commands from both stdout and stderr (one command processor per step, so
`::stop-commands::` read on one stream pauses both), but each stream is read on its own thread. Every
command opsctl prints therefore goes to the stream the task's lines are relayed on (stderr): only
then is it ordered with respect to them. stdout stays clean for the summary or `--output json`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO


def active(environ: Mapping[str, str] | None = None) -> bool:
    """Whether opsctl runs as a GitHub Actions step."""
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A workflow command's data, escaped as @actions/core does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value, escaped as @actions/core does."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def defuse(line: str) -> str:
    """A line opsctl prints that holds text it did not write: one that would read as a workflow command
    (the runner trims it, then looks for `::` or `##[`) gets a backslash in front, visibly."""
    head = line.lstrip()
    return "\\" + line if head.startswith(("::", "##[")) else line


def mask_secrets(values: Iterable[str], out: IO[str]) -> None:
    """`::add-mask::` for every secret value, and for each line of a multi-line one."""
    masks: list[str] = []
    for value in sorted(set(values)):
        for part in (value, *value.splitlines()):
            # The runner refuses to mask a blank value (and warns).
            if part.strip() and part not in masks:
                masks.append(part)
    out.write("".join(f"::add-mask::{escape_data(m)}\n" for m in masks))
    out.flush()


def error_command(title: str, message: str) -> str:
    """An `::error` workflow command (an annotation on the run page)."""
    return f"::error title={escape_property(title)}::{escape_data(message)}"


def format_output(name: str, value: str, delimiter: str) -> str:
    """One step output in the multi-line `NAME<<DELIMITER` form; refuses a delimiter found inside."""
    if delimiter in name or delimiter in value:
        raise ValueError(f"step output {name!r}: the value contains the delimiter {delimiter!r}")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def new_delimiter() -> str:
    """A fresh `ghadelimiter_<uuid4>`, as @actions/core makes them."""
    return f"ghadelimiter_{uuid.uuid4()}"


def write_output(path: Path, name: str, value: str) -> None:
    """Append one step output to $GITHUB_OUTPUT, with a fresh delimiter."""
    append(path, format_output(name, value, new_delimiter()))


def append(path: Path, text: str) -> None:
    """One write with O_APPEND, so concurrent writers never interleave within it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        data = text.encode()
        while data:
            data = data[os.write(fd, data) :]
    finally:
        os.close(fd)
