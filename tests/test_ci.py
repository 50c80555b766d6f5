""".ci/run takes the two commands from README.md's `ci:` markers, and refuses a README where it cannot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

GOOD = """# x

<!-- ci:quickstart -->
```sh
python3 -m venv .venv && .venv/bin/opsctl envs
```

<!-- ci:tests -->
```sh
.venv/bin/just test
```
"""


def print_commands(tmp_path: Path, readme: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / ".ci").mkdir()
    shutil.copy(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    return subprocess.run(
        [str(tmp_path / ".ci" / "run"), "--print"], capture_output=True, text=True, timeout=30, check=False
    )


def test_print_shows_the_marked_lines(tmp_path: Path) -> None:
    shown = print_commands(tmp_path, GOOD)
    assert (shown.returncode, shown.stdout) == (
        0,
        "python3 -m venv .venv && .venv/bin/opsctl envs\n.venv/bin/just test\n",
    )


@pytest.mark.parametrize(
    ("readme", "marker"),
    [
        (GOOD.replace("<!-- ci:tests -->\n", ""), "tests"),
        (GOOD.replace(".venv/bin/just test\n", ".venv/bin/just test\n.venv/bin/just lock\n"), "tests"),
        (GOOD.replace("python3 -m venv .venv && .venv/bin/opsctl envs\n", ""), "quickstart"),
    ],
    ids=["marker missing", "two lines", "empty block"],
)
def test_a_readme_without_exactly_one_marked_line_stops_ci(tmp_path: Path, readme: str, marker: str) -> None:
    shown = print_commands(tmp_path, readme)
    assert shown.returncode == 1 and shown.stdout == ""
    assert shown.stderr == (
        f"ci: README.md must have exactly one command line in the sh block after <!-- ci:{marker} -->\n"
    )
