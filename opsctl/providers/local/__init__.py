"""`provider = "local"`: the task as a local process under a stdlib-only supervisor; the embedded default.

provider.py holds LocalProvider (the reference Provider) and its `build()` factory; supervisor.py is the
script it starts with `python -I` for each run (stdlib only, never imported by opsctl).
"""

from opsctl.providers.local.provider import LocalProvider, build

__all__ = ["LocalProvider", "build"]
