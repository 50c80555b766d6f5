"""A task that prints its secrets (PASSWORD, TOKEN from its env) every way a careless task might.

Run as a script for local runs; the Cloud Run fake and the ECS agent call `output(env)` for theirs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping


def output(env: Mapping[str, str]) -> list[str]:
    """The lines the task prints, in order; the last one is its result line (DESIGN.md §4)."""
    password, token = env["PASSWORD"], env["TOKEN"]
    return [
        f"connecting as admin with password {password}",
        f"DATABASE_URL=postgres://admin:{password}@db.internal:5432/app?token={token}",
        f"both, back to back: {password}{token}",
        "env dump: " + json.dumps({"PASSWORD": password, "TOKEN": token}),
        f"::warning::{token}",
        json.dumps({"ok": True, "password": password, "token": token, "note": f"token={token}"}, ensure_ascii=False),
    ]


if __name__ == "__main__":
    for line in output(os.environ):
        print(line, flush=True)
