"""Commands that run through a shell: which item is the script, and where a placeholder sits in it.

A value substituted into `sh -c SCRIPT` would otherwise be shell syntax (`--name 'bob; id'` runs `id`),
so opsctl shell-quotes every value it substitutes into such a script (spec.py), and refuses a
placeholder the config author already put inside quotes, where a quoted value would break out again.
"""

from __future__ import annotations

import re
import string
from pathlib import PurePosixPath

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"})
# Options that take the next item as their argument (`bash -o pipefail -c …`).
_WITH_ARG = frozenset({"-o", "+o", "-O", "+O", "--rcfile", "--init-file"})
_C_FLAG = re.compile(r"^-[A-Za-z]*c[A-Za-z]*$")


def script_index(command: tuple[str, ...]) -> int | None:
    """The index of the `-c` script in `command` (`sh -c`, `/bin/bash -euc`, `env sh -c`, …), else None."""
    for i, item in enumerate(command):
        if PurePosixPath(item).name not in SHELLS:
            continue
        j = i + 1
        if PurePosixPath(item).name == "busybox" and j < len(command) and command[j] in ("sh", "ash"):
            j += 1
        while j < len(command):
            option = command[j]
            if _C_FLAG.match(option):
                return j + 1 if j + 1 < len(command) else None
            if option in _WITH_ARG:
                j += 2
            elif option.startswith(("-", "+")) and option != "-":
                j += 1
            else:
                return None  # a script file: its arguments are plain argv, never parsed as shell
        return None
    return None


def quoted_placeholders(script: str) -> list[str]:
    """The `{name}` placeholders of `script` that stand inside shell quotes (or after a backslash)."""
    found = []
    state = ""  # "" outside quotes, "'" or '"' inside them
    escaped = False
    for literal, name, _, _ in string.Formatter().parse(script):
        for char in literal:
            if escaped:
                escaped = False
            elif state == "'":
                state = "" if char == "'" else state
            elif char == "\\":
                escaped = True
            elif state == '"':
                state = "" if char == '"' else state
            elif char in "'\"":
                state = char
        if name is not None and (state or escaped):
            found.append(name)
    return found
