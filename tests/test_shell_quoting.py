"""Parameter values never become shell syntax: in a shell's -c script each value is one quoted word."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opsctl.config.shell import quoted_placeholders, script_index
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("command", "index"),
    [
        (("sh", "-c", "echo {name}"), 2),
        (("/bin/sh", "-c", "echo {name}"), 2),
        (("bash", "-euc", "echo {name}"), 2),
        (("bash", "-o", "pipefail", "-c", "echo {name}", "argv0"), 4),
        (("env", "sh", "-c", "echo {name}"), 3),
        (("/usr/bin/env", "FOO=1", "bash", "-lc", "echo {name}"), 4),
        (("busybox", "sh", "-c", "echo {name}"), 3),
        (("sh", "script.sh", "{name}"), None),  # a script file: its arguments are argv, not shell
        (("python", "-c", "print({name!r})"), None),
        (("echo", "{name}"), None),
        (("sh", "-c"), None),
    ],
)
def test_the_script_of_a_shell_command_is_found(command: tuple[str, ...], index: int | None) -> None:
    assert script_index(command) == index


def test_placeholders_inside_quotes_are_found() -> None:
    assert quoted_placeholders("echo {a} '{b}' \"{c}\" \\{d} x{e}") == ["b", "c", "d"]
    assert quoted_placeholders("echo 'it''s' {a} \"q\\\"\" {b}") == []


CONFIG = """
[environments.dev]
provider = "local"
workdir = "."

[tasks.greet]
command = ["sh", "-c", "echo hello {name}; echo done"]

[tasks.greet.params.name]
help = "Who to greet"
"""


def test_a_value_with_shell_syntax_is_one_word_on_a_real_run(tmp_path: Path) -> None:
    (tmp_path / "opsctl.toml").write_text(CONFIG, encoding="utf-8")
    value = "bob; touch pwned $(touch pwned2) `touch pwned3` 'q' \"d\""
    out = run_cli("run", "dev", "greet", "--name", value, cwd=tmp_path)
    assert out.code == 0, out.output
    assert f"\nhello {value}\ndone\n" in out.stderr
    assert not any(p.name.startswith("pwned") for p in tmp_path.iterdir())
    dry = run_cli("run", "dev", "greet", "--name", "bob; id", "--dry-run", cwd=tmp_path)
    assert json.loads(dry.stdout)["request"]["argv"] == ["sh", "-c", "echo hello 'bob; id'; echo done"]


def test_a_placeholder_already_in_quotes_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "opsctl.toml").write_text(CONFIG.replace("hello {name}", "hello '{name}'"), encoding="utf-8")
    out = run_cli("run", "dev", "greet", "--name", "bob", cwd=tmp_path)
    assert out.code == 78
    assert out.stderr == (
        "opsctl: error: opsctl.toml: tasks.greet.command[2]: {name} is inside quotes in a shell script; "
        "opsctl shell-quotes every value it substitutes there, so write it bare (echo {name}, not echo '{name}')\n"
    )
