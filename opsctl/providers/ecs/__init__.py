"""`provider = "ecs"`: boto3 ECS + CloudWatch Logs.

provider.py holds EcsProvider and its `build()` factory; behind it, one module per idea: clients.py (the
boto3 clients and the one error-mapping call), errors.py (boto3 error → opsctl error), resolve.py (config +
service + task definition → Target), launch.py (RunTask), status.py (DescribeTasks → Status), logs.py
(GetLogEvents → LogPage), admin.py (doctor, history, build).
"""

from opsctl.providers.ecs.provider import EcsProvider, build

__all__ = ["EcsProvider", "build"]
