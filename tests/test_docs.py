"""The README documents every command, option and exit code the CLI has."""

from __future__ import annotations

import re

import pytest
import typer

from opsctl.cli import app
from opsctl.errors import RESERVED_EXIT_CODES
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
COMMAND = typer.main.get_command(app)
COMMANDS = sorted(COMMAND.commands)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_readme_with_help(name: str) -> None:
    command = COMMAND.commands[name]  # type: ignore[attr-defined]
    assert command.help, f"{name} has no help"
    assert re.search(rf"^opsctl {name}\b", README, re.M), f"README lacks a line for opsctl {name}"


def test_every_run_option_is_in_the_readme() -> None:
    run = COMMAND.commands["run"]  # type: ignore[attr-defined]
    for param in run.params:
        for flag in param.opts:
            if flag.startswith("--"):
                assert f"`{flag}" in README, f"README does not document {flag}"


def test_every_exit_code_is_in_the_readme() -> None:
    for code in RESERVED_EXIT_CODES:
        assert re.search(rf"^\| {code} \|", README, re.M), code


def test_the_readme_quotes_the_latest_benchmark_run() -> None:
    import json

    results = json.loads((REPO / "bench" / "results.json").read_text(encoding="utf-8"))
    assert results["table"] in README, "README's performance table differs from bench/results.json: rerun and paste"
    assert results["date"] in README
