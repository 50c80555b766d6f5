"""`provider = "local"`: the task as a local process under a stdlib-only supervisor; the embedded default.

provider.py holds LocalProvider (the reference Provider) and its `build()` factory; behind it: launch.py
(the run directory and the supervisor process), status.py (run directory → Status), logs.py (log.jsonl →
LogPage), admin.py (doctor), and supervisor.py, the script launch.py starts with `python -I` for each run
(stdlib only, never imported by opsctl).
"""

from opsctl.providers.local.provider import LocalProvider, build

__all__ = ["LocalProvider", "build"]
