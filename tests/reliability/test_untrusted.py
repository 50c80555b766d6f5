"""A task's output is untrusted (DESIGN.md §6): what a hostile task prints reaches no channel as a control
sequence or a workflow command, on the local provider, on ECS (moto) and on Cloud Run (the gRPC fake).

Each run is a whole `opsctl run` inside GitHub Actions; every channel is checked for the exact visible rendering.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opsctl.cli import _main
from opsctl.untrusted import LINE_MAX_BYTES
from tests.fakes.gcp import Script, lines
from tests.fakes.moto_ecs import EcsWorld, FakeAgent
from tests.reliability import hostile_task
from tests.reliability.conftest import GcpStack

TASK = Path(hostile_task.__file__).resolve()
CONFIG = """\
[environments.dev]
provider = "local"
workdir = "@WORKDIR@"

[environments.aws]
provider = "ecs"
cluster = "clinloop-staging"
service = "clinloop-staging-api"
container = "api"

[environments.gcp]
provider = "cloudrun"
project = "quill-staging-123456"
region = "europe-west2"
job = "quill-admin-staging"

[tasks.hostile]
help = "Prints what an attacker would"
command = ["{python}", "@TASK@"]
"""
# Anything a terminal would act on: C0 controls but tab and newline, DEL, C1, bidi overrides.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
CUT_LINE = "y" * LINE_MAX_BYTES + f" … [cut: {hostile_task.LONG - LINE_MAX_BYTES} more bytes]"


@dataclass
class Stage:
    config: Path
    summary: Path
    outputs: Path


@pytest.fixture
def stage(
    tmp_path: Path,
    github_actions: tuple[Path, Path],
    ecs_world: EcsWorld,
    gcp_stack: Callable[..., GcpStack],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Stage]:
    """opsctl in GitHub Actions; the hostile task on every provider, timing scaled down."""
    stack = gcp_stack()
    stack.fake.world.default_script = Script(start_after=0.05, run_for=0.3, lines=lines(hostile_task.output()))
    monkeypatch.setenv("OPSCTL_GCP_ENDPOINT", stack.address)
    monkeypatch.setenv("OPSCTL_TIMING_SCALE", "0.05")
    monkeypatch.setenv("OPSCTL_RETRY_BASE_S", "0.01")
    config = tmp_path / "opsctl.toml"
    config.write_text(CONFIG.replace("@WORKDIR@", str(tmp_path)).replace("@TASK@", str(TASK)), encoding="utf-8")
    summary, outputs = github_actions
    with FakeAgent(ecs_world, lines=hostile_task.output(), start_after_s=0.05):
        yield Stage(config, summary, outputs)


def run(stage: Stage, env: str, output: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = _main(["--config", str(stage.config), "run", env, "hostile", "--yes", "--output", output])
    out = capsys.readouterr()
    return code, out.out, out.err


def outside_stop_blocks(stderr: str) -> list[str]:
    """The lines of stderr that the runner reads for workflow commands (those outside ::stop-commands::)."""
    seen, token = [], None
    for line in stderr.splitlines():
        if token is None and line.startswith("::stop-commands::"):
            token = line.removeprefix("::stop-commands::")
        elif token is not None and line == f"::{token}::":
            token = None
        elif token is None:
            seen.append(line)
    return seen


@pytest.mark.parametrize("env", ["dev", "aws", "gcp"])
def test_a_hostile_task_is_shown_never_interpreted(stage: Stage, env: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, stderr = run(stage, env, "text", capsys)
    assert code == 0, stderr[-3000:]
    relayed = stderr.splitlines()
    for _, shown in hostile_task.LINES:
        assert shown in relayed, shown
    assert CUT_LINE in relayed
    for row in [*hostile_task.RESULT_ROWS, "Lines cut" + " " * 14 + "  1 (longer than 64 KiB)"]:
        assert row in stdout.splitlines(), stdout
    summary = stage.summary.read_text(encoding="utf-8")
    outputs = stage.outputs.read_text(encoding="utf-8")
    for channel, text in {"stdout": stdout, "stderr": stderr, "step summary": summary, "outputs": outputs}.items():
        assert not RAW_CONTROL.search(text), f"{channel}: {RAW_CONTROL.search(text)!r}"
    # No value splits a line, and no line the runner reads starts a command opsctl did not write.
    assert [line for line in stdout.splitlines() if line.lstrip().startswith(("::", "##["))] == []
    own = ("::add-mask::", "::group::", "::endgroup::", "::stop-commands::", "::error title=opsctl ")
    assert [line for line in outside_stop_blocks(stderr) if line.startswith("::") and not line.startswith(own)] == []
    assert "| Note\\\\x1b\\[2J | \\\\x1b\\]52;c;aGVsbG8=\\\\x07 |" in summary
    assert "| ::error title=t::forged | v |" in summary  # a markdown file: the runner reads no command in it
    assert '"note\\\\x1b[2J":"\\\\x1b]52;c;aGVsbG8=\\\\x07"' in outputs


@pytest.mark.parametrize("env", ["dev", "gcp"])
def test_json_output_stays_valid_with_the_characters_escaped(
    stage: Stage, env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, stderr = run(stage, env, "json", capsys)
    assert code == 0, stderr[-3000:]
    doc: dict[str, Any] = json.loads(stdout)
    assert doc["result"] == {
        "ok": True,
        "note\\x1b[2J": "\\x1b]52;c;aGVsbG8=\\x07",
        "::error title=t::forged": "v",
        "multi": "a\\n::add-mask::Environment\\r::set-output name=x::y",
        "link": "[link=https://evil.example/]https://good.example/[/link]",
    }
    assert doc["lines_cut"] == 1
    assert not RAW_CONTROL.search(stdout)


def test_a_cloud_stop_reason_is_shown_visibly(
    tmp_path: Path, ecs_world: EcsWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ECS's own words (stoppedReason, a container's reason) enter through the same sanitiser as a task's."""
    import threading

    from tests.fakes.moto_ecs import script_stop

    monkeypatch.setenv("OPSCTL_TIMING_SCALE", "0.05")
    config = tmp_path / "opsctl.toml"
    config.write_text(CONFIG.replace("@WORKDIR@", str(tmp_path)).replace("@TASK@", str(TASK)), encoding="utf-8")
    done = threading.Event()

    def agent() -> None:  # ends the first task with reasons that carry escape sequences
        while not done.wait(0.02):
            for task in ecs_world.tasks():
                script_stop(
                    task,
                    exit_code=None,
                    stop_code="TaskFailedToStart",
                    stopped_reason="EssentialContainerFailed: \x1b]52;c;aGk=\x07\n::error::forged",
                    container_reason="\x1b[2Jpull access denied",
                )
                return

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    try:
        code = _main(["--config", str(config), "run", "aws", "hostile", "--yes"])
    finally:
        done.set()
        thread.join(timeout=10)
    out = capsys.readouterr()
    assert code == 69, out.err[-2000:]
    rows = out.out.splitlines()
    assert (
        "Reason            EssentialContainerFailed: \\x1b]52;c;aGk=\\x07\\n::error::forged: \\x1b[2Jpull access denied"
        in rows
    )
    assert "Stopped reason    EssentialContainerFailed: \\x1b]52;c;aGk=\\x07\\n::error::forged" in rows
    assert "Container reason  \\x1b[2Jpull access denied" in rows
    assert not RAW_CONTROL.search(out.out + out.err)
