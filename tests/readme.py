"""Reading README.md's examples, for the tests that run them (tests/test_docs.py, tests/test_fresh_clone.py).

- The two commands are the single lines of the ```sh blocks after `<!-- ci:quickstart -->` and `<!-- ci:tests -->`
  (.ci/run reads the same markers); the ```text block after the quick start is its summary.
- A ```console block holds examples: `$ COMMAND  # comment` lines, each followed by its output, if shown. Lines
  that are only a comment (indented `# …`) continue the previous line's comment. `exit N` in a comment is the
  exit code the example expects (default 0).
- Output is compared after `normalise`, which replaces what differs from run to run: run ids (`<run>`), UUIDs
  (`<uuid>`), ISO-8601 times (`<time>`), the summary's Duration (`<duration>`) and Actor (`<actor>`: git
  `user.email`, else the login), and the state directory (shown as its default, `~/.local/state`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO


@dataclass(frozen=True)
class Block:
    """A fenced block: its info string (`sh`, `console`, …), its lines, and the README line it starts on."""

    lang: str
    lines: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Example:
    """One `$ …` line of a console block: the argv, the output shown under it and the exit code it expects."""

    argv: tuple[str, ...]
    output: str
    exit_code: int
    line: int

    @property
    def text(self) -> str:
        return shlex.join(self.argv)


def blocks(root: Path = REPO) -> list[Block]:
    """Every fenced block of the README (of the checkout at `root`), in order."""
    lines = (root / "README.md").read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    start: int | None = None
    lang = ""
    for number, line in enumerate(lines, 1):
        if line.startswith("```"):
            if start is None:
                start, lang = number, line[3:].strip()
            else:
                found.append(Block(lang, tuple(lines[start : number - 1]), start))
                start = None
    return found


def marked_block(marker: str, root: Path = REPO) -> Block:
    """The fenced block right after `<!-- ci:MARKER -->`."""
    source = (root / "README.md").read_text(encoding="utf-8")
    tag = f"<!-- ci:{marker} -->"
    assert source.count(tag) == 1, f"README.md must have exactly one {tag}"
    line = source[: source.index(tag)].count("\n") + 2
    block = next(b for b in blocks(root) if b.line >= line)
    assert block.line == line, f"{tag} must be directly followed by a fenced block"
    return block


def marked_command(marker: str, root: Path = REPO) -> str:
    """The one command line of the ```sh block after `<!-- ci:MARKER -->`, as .ci/run runs it."""
    block = marked_block(marker, root)
    commands = [line for line in block.lines if line.strip()]
    assert block.lang == "sh" and len(commands) == 1, f"ci:{marker} must be a ```sh block of one line"
    return commands[0]


def quickstart_summary(root: Path = REPO) -> str:
    """The ```text block after the quick start: what its run prints on stdout."""
    quickstart = marked_block("quickstart", root)
    block = next(b for b in blocks(root) if b.line > quickstart.line)
    assert block.lang == "text"
    return "\n".join(block.lines) + "\n"


def console_examples() -> list[Example]:
    """Every `$ …` example of every ```console block."""
    examples: list[Example] = []
    for block in blocks():
        if block.lang != "console":
            continue
        current: tuple[int, str] | None = None
        output: list[str] = []
        for offset, line in enumerate([*block.lines, "$"], 1):
            if line.startswith("$"):
                if current is not None:
                    number, command = current
                    comment = command.partition(" #")[2]
                    code = re.search(r"\bexit (\d+)", comment)
                    argv = tuple(shlex.split(command, comments=True))
                    text = "".join(f"{out}\n" for out in output)
                    examples.append(Example(argv, text, int(code[1]) if code else 0, number))
                current, output = (block.line + offset, line[1:].strip()), []
            elif line.lstrip().startswith("#") and line.startswith(" "):
                continue
            else:
                output.append(line)
    return examples


def normalise(text: str, state_home: Path | None = None) -> str:
    """`text` with what differs between runs replaced (see the module docstring)."""
    if state_home is not None:
        text = text.replace(f"{state_home}/", "~/.local/state/")
    text = re.sub(r"\b\d{8}T\d{6}Z-[0-9a-f]{8}\b", "<run>", text)
    text = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>", text)
    text = re.sub(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", "<time>", text)
    text = re.sub(r"^(Duration +)\S+$", r"\1<duration>", text, flags=re.M)
    text = re.sub(r"^(Actor +)\S+$", r"\1<actor>", text, flags=re.M)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
