"""A gRPC fake of Cloud Run v2 and Cloud Logging, driven by per-test scripts (see server.py)."""

from tests.fakes.gcp.clock import ManualClock, RealClock
from tests.fakes.gcp.logs import parse_filter, parse_rfc3339
from tests.fakes.gcp.server import FakeGcp
from tests.fakes.gcp.world import Line, Script, lines

__all__ = ["FakeGcp", "Line", "ManualClock", "RealClock", "Script", "lines", "parse_filter", "parse_rfc3339"]
