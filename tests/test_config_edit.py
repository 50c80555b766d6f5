"""config/edit.py on its own: where `opsctl init` writes, and the shapes of TOML it must extend without loss."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from opsctl.config import CloudRunEnv, load
from opsctl.config.edit import file_to_edit, render, write_atomic

SETTINGS = (("provider", "cloudrun"), ("project", "p-123456"), ("region", "europe-west2"), ("job", "admin"))


def test_it_edits_the_file_every_other_command_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "opsctl.toml").write_text("")
    (tmp_path / "sub").mkdir()
    assert file_to_edit(None, tmp_path / "sub") == (tmp_path / "opsctl.toml", "")
    assert file_to_edit("elsewhere/pyproject.toml") == (Path("elsewhere/pyproject.toml"), "tool.opsctl")
    monkeypatch.setenv("OPSCTL_CONFIG", str(tmp_path / "x.toml"))
    assert file_to_edit(None, tmp_path) == (tmp_path / "x.toml", "")
    monkeypatch.delenv("OPSCTL_CONFIG")
    empty = tmp_path / "empty"
    empty.mkdir()
    if not any((p / "opsctl.toml").is_file() for p in empty.resolve().parents):
        assert file_to_edit(None, empty) == (empty / "opsctl.toml", "")


def test_a_pyproject_gets_its_environment_under_tool_opsctl(tmp_path: Path) -> None:
    text = '[project]\nname = "x"  # ours\n\n[tool.opsctl.tasks.hi]\ncommand = ["echo"]\n'
    out = render(text, "tool.opsctl", "prod", ["read by init"], SETTINGS)
    assert out == text + '\n[tool.opsctl.environments.prod]\n# read by init\nprovider = "cloudrun"\n' + (
        'project = "p-123456"\nregion = "europe-west2"\njob = "admin"\n'
    )
    path = tmp_path / "pyproject.toml"
    path.write_text(out)
    assert isinstance(load(str(path)).environment("prod"), CloudRunEnv)


def test_crlf_files_stay_crlf() -> None:
    text = '[tasks.hi]\r\ncommand = ["echo"]\r\n'
    out = render(text, "", "prod", [], SETTINGS)
    assert out.startswith(text + "\r\n[environments.prod]\r\n") and "\n" not in out.replace("\r\n", "")


def test_an_inline_environments_table_is_extended_from_inside() -> None:
    text = '# mine\nenvironments = { dev = { provider = "local" } }  # inline\n'
    out = render(text, "", "prod", [], SETTINGS)
    data = tomllib.loads(out)
    assert data["environments"]["dev"] == {"provider": "local"}
    assert data["environments"]["prod"] == dict(SETTINGS)
    assert out.startswith("# mine\n")


def test_writing_keeps_the_mode_and_the_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "opsctl.toml"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert real.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    assert os.access(real, os.R_OK)


def test_forcing_an_inline_environment_keeps_its_other_settings() -> None:
    text = '[environments]\nprod = { provider = "local", protected = true }  # inline\n'
    data = tomllib.loads(render(text, "", "prod", ["read"], SETTINGS))
    assert data["environments"]["prod"] == {**dict(SETTINGS), "protected": True}
