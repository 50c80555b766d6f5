"""The README documents every command, option and exit code the CLI has."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer

from opsctl.cli import app
from opsctl.errors import RESERVED_EXIT_CODES
from tests import readme
from tests.conftest import REPO, run_cli

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
    results = json.loads((REPO / "bench" / "results.json").read_text(encoding="utf-8"))
    assert results["table"] in README, "README's performance table differs from bench/results.json: rerun and paste"
    assert results["date"] in README


# -- The README's examples, run against the shipped opsctl.toml (tests/readme.py says how they are read) ------

SHIPPED = tomllib.loads((REPO / "opsctl.toml").read_text(encoding="utf-8"))
PROVIDERS = {name: env["provider"] for name, env in SHIPPED["environments"].items()}
TASK_NAMES = set(SHIPPED["tasks"]) | {alias for task in SHIPPED["tasks"].values() for alias in task.get("aliases", [])}
# Commands whose first argument is an environment of opsctl.toml (`init` names a new one).
ENV_COMMANDS = {"run", "doctor", "wait", "logs", "stop", "history", "build", "tasks"}


def offline(argv: tuple[str, ...]) -> bool:
    """An example that needs no cloud: listing, a build dry run (no call at all), or any command on a local env."""
    command, rest = argv[1], argv[2:]
    if command in ("envs", "tasks") or (command == "build" and "--dry-run" in rest):
        return True
    return bool(rest) and PROVIDERS.get(rest[0]) == "local"


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """The shipped opsctl.toml, byte for byte, beside a copy of the admin task: runs write their database here."""
    shutil.copy(REPO / "opsctl.toml", tmp_path / "opsctl.toml")
    shutil.copytree(
        REPO / "infra" / "admin-task",
        tmp_path / "infra" / "admin-task",
        ignore=shutil.ignore_patterns(".opsctl", "build", "tests", "__pycache__", "*.egg-info"),
    )
    return tmp_path


def test_ci_runs_the_two_commands_the_readme_shows() -> None:
    quickstart, tests = readme.marked_command("quickstart"), readme.marked_command("tests")
    printed = subprocess.run(
        [str(REPO / ".ci" / "run"), "--print"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert printed == f"{quickstart}\n{tests}\n"
    # Installed from the lock, then opsctl itself; nothing needs an activated virtualenv.
    assert quickstart.startswith("python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.lock && ")
    assert ".venv/bin/pip install --no-deps -e . && .venv/bin/opsctl run local " in quickstart
    assert tests == ".venv/bin/just test"


def test_the_quick_start_prints_the_summary_the_readme_shows(shipped: Path, isolated: Path) -> None:
    command = readme.marked_command("quickstart").rsplit(" && ", 1)[1].removeprefix(".venv/bin/")
    argv = shlex.split(command)
    assert argv[0] == "opsctl"
    first = run_cli(*argv[1:], cwd=shipped)
    assert first.code == 0, first.stderr
    assert readme.normalise(first.stdout, isolated) == readme.normalise(readme.quickstart_summary())
    again = run_cli(*argv[1:], cwd=shipped)  # "Run it again and `WasNew` is `false`"
    assert again.code == 0 and re.search(r"^WasNew +false$", again.stdout, re.M), again.output


EXAMPLES = readme.console_examples()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.text for e in EXAMPLES])
def test_console_example(example: readme.Example, shipped: Path, isolated: Path) -> None:
    """Each `$ opsctl …` example names a real environment and task; the offline ones run and print what is shown."""
    argv = example.argv
    assert argv[0] == "opsctl", example.text
    if argv[1] in ENV_COMMANDS and len(argv) > 2:
        assert argv[2] in PROVIDERS, f"{example.text}: no environment {argv[2]!r} in opsctl.toml"
    if argv[1] == "run":
        assert argv[3] in TASK_NAMES, f"{example.text}: no task {argv[3]!r} in opsctl.toml"
    if not offline(argv):
        return
    result = run_cli(*argv[1:], cwd=shipped)
    assert result.code == example.exit_code, result.output
    if example.output:
        shown = result.stdout or result.stderr
        assert readme.normalise(shown, isolated) == readme.normalise(example.output), example.text


def sh_lines(program: str) -> list[tuple[str, ...]]:
    """The `PROGRAM …` (or `.venv/bin/PROGRAM …`) lines of the README's ```sh blocks, split as a shell would."""
    found = [
        tuple(shlex.split(line.removeprefix(".venv/bin/"), comments=True))
        for block in readme.blocks()
        if block.lang == "sh"
        for line in block.lines
        if line.removeprefix(".venv/bin/").startswith(f"{program} ")
    ]
    return list(dict.fromkeys(found))


@pytest.mark.parametrize("argv", sh_lines("opsctl"), ids=shlex.join)
def test_sh_example_names_a_shipped_environment_and_task(argv: tuple[str, ...]) -> None:
    if argv[1] in ENV_COMMANDS and len(argv) > 2:
        assert argv[2] in PROVIDERS, f"no environment {argv[2]!r} in opsctl.toml"
    if argv[1] == "run":
        assert argv[3] in TASK_NAMES, f"no task {argv[3]!r} in opsctl.toml"


JUST = shutil.which("just", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(JUST is None, reason="just is not installed (pip install rust-just)")
@pytest.mark.parametrize("argv", sh_lines("just"), ids=shlex.join)
def test_just_example_names_a_recipe_its_arguments_fit_and_a_shipped_environment(argv: tuple[str, ...]) -> None:
    assert JUST is not None
    just = [JUST, "--justfile", str(REPO / "justfile")]
    dry = subprocess.run([*just, "--dry-run", *argv[1:]], capture_output=True, text=True, timeout=30, check=False)
    assert dry.returncode == 0, dry.stderr
    dump = json.loads(
        subprocess.run(
            [*just, "--dump", "--dump-format", "json"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    )
    recipe = dump["aliases"].get(argv[1], {}).get("target", argv[1])
    params = [p["name"] for p in dump["recipes"][recipe]["parameters"]]
    if params[:1] == ["env"]:
        assert argv[2] in PROVIDERS, f"no environment {argv[2]!r} in opsctl.toml"


def test_every_stated_benchmark_duration_matches_the_latest_run() -> None:
    seconds = json.loads((REPO / "bench" / "results.json").read_text(encoding="utf-8"))["seconds"]
    minutes = round(seconds / 60)
    stated = {
        "README.md": re.findall(r"`just bench`; about (\d+) minutes", README),
        "justfile": re.findall(r"bench/results\.json \(about (\d+) minutes\)", (REPO / "justfile").read_text()),
        "bench/__main__.py": re.findall(
            r"python -m bench +# about (\d+) minutes", (REPO / "bench" / "__main__.py").read_text()
        ),
    }
    assert stated == {name: [str(minutes)] for name in stated}, f"the last run took {seconds} s"
