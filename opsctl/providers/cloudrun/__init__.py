"""`provider = "cloudrun"`: google-cloud-run + Cloud Logging.

provider.py holds CloudRunProvider and its `build()` factory; behind it, one module per idea: clients.py
(the Google clients, real or pointed at a stand-in), errors.py (Google API error → opsctl error), resolve.py
(the job: names, links, container), launch.py (RunJob, finding executions), status.py (execution → Status),
logs.py (live tail + list reads → LogPage), admin.py (doctor, build).
"""

from opsctl.providers.cloudrun.provider import CloudRunProvider, build

__all__ = ["CloudRunProvider", "build"]
