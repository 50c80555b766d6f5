"""Notices quote text opsctl did not write (cloud errors, Cloud Run's own log lines): on a terminal, with colour,
square brackets in it are shown as they are, never taken as rich markup."""

from __future__ import annotations

import io
import re

from opsctl.progress import TextObserver


def test_a_notice_quoting_markup_shows_it_verbatim() -> None:
    err = io.StringIO()
    TextObserver(err, True).notice("Cloud Run (task 0): [bold red]not markup[/] [link=https://x]y[/link]")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", err.getvalue())
    assert plain == "opsctl: Cloud Run (task 0): [bold red]not markup[/] [link=https://x]y[/link]\n"
