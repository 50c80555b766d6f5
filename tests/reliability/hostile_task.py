"""A task that prints what an attacker would: terminal escape sequences, forged workflow commands, an over-long
line, and a result line whose keys and values carry both. Run as a script (local) or replayed by the ECS and
Cloud Run stand-ins (their log services return a line as the task printed it: CloudWatch `message`, Cloud
Logging `textPayload`).
"""

from __future__ import annotations

import json
import sys

LONG = 100_000  # bytes of one line: past opsctl's 64 KiB limit, under CloudWatch's and Cloud Logging's 256 KB

# (what the task prints, how opsctl must show it)
LINES = [
    ("\x1b]52;c;aGVsbG8=\x07copied", "\\x1b]52;c;aGVsbG8=\\x07copied"),  # OSC 52: writes the clipboard
    ("\x1b[2J\x1b[Hcleared", "\\x1b[2J\\x1b[Hcleared"),  # CSI 2J: clears the screen
    ("\x1b]0;pwned\x07title", "\\x1b]0;pwned\\x07title"),  # OSC 0: sets the window title
    (  # OSC 8: a link whose text lies about its target
        "\x1b]8;;https://evil.example/\x1b\\https://good.example/\x1b]8;;\x1b\\",
        "\\x1b]8;;https://evil.example/\\x1b\\https://good.example/\\x1b]8;;\\x1b\\",
    ),
    ("\x9b2Jc1", "\\x9b2Jc1"),  # C1 CSI: an 8-bit terminal reads it as ESC [
    ("ring\x07nul\x00bs\x08del\x7f", "ring\\x07nul\\x00bs\\x08del\\x7f"),
    ("rtl \u202eexe.txt", "rtl \\u202eexe.txt"),  # a bidi override that reverses what follows
    ("tab\tstays", "tab\tstays"),
    ("::error title=forged::from the task", "::error title=forged::from the task"),  # inside stop-commands
]
RESULT = {
    "ok": True,
    "note\x1b[2J": "\x1b]52;c;aGVsbG8=\x07",
    "::error title=t::forged": "v",
    "multi": "a\n::add-mask::Environment\r::set-output name=x::y",
    # rich markup: printed as markup, it would become a real OSC 8 link on a colour terminal
    "link": "[link=https://evil.example/]https://good.example/[/link]",
}
# The summary rows of RESULT: the widest label is 23 characters.
RESULT_ROWS = [
    "\\::error title=t::forged  v",
    "Note\\x1b[2J" + " " * 12 + "  \\x1b]52;c;aGVsbG8=\\x07",
    "Multi" + " " * 18 + "  a\\n::add-mask::Environment\\r::set-output name=x::y",
    "Link" + " " * 19 + "  [link=https://evil.example/]https://good.example/[/link]",
]


def output() -> list[str]:
    """The lines the task prints, in order; the last one is its result line (DESIGN.md §4)."""
    return [raw for raw, _ in LINES] + ["y" * LONG, json.dumps(RESULT)]


if __name__ == "__main__":
    for line in output():
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
