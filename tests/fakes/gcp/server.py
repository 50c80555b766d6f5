"""A gRPC fake of Cloud Run v2 (Jobs, Executions, Tasks, Operations) and Cloud Logging (List, Tail).

The real google-cloud-run and google-cloud-logging clients talk to it over plaintext gRPC on
127.0.0.1 (OPSCTL_GCP_ENDPOINT). Per-test scripts decide what executions do; faults can be injected
on any method, before or after it takes effect; every call is counted with its (fake) time.
"""

from __future__ import annotations

import bisect
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from google.cloud import run_v2
from google.cloud.logging_v2.types import (
    ListLogEntriesRequest,
    TailLogEntriesRequest,
)
from google.iam.v1 import iam_policy_pb2
from google.longrunning import operations_pb2

from tests.fakes.gcp.clock import Clock, RealClock
from tests.fakes.gcp.logs import LoggingFake
from tests.fakes.gcp.world import Execution, Script, World


@dataclass
class Fault:
    """Answer `code` instead (or, with `after`, once the call took effect: an ambiguous failure)."""

    code: grpc.StatusCode
    message: str
    after: bool = False


class FakeGcp(LoggingFake):
    """The fake server plus its world; `address` is HOST:PORT for OPSCTL_GCP_ENDPOINT."""

    def __init__(
        self, clock: Clock | None = None, project: str = "quill-staging-123456", region: str = "europe-west2"
    ) -> None:
        self.clock: Clock = clock or RealClock()
        self.world = World(self.clock, project, region)
        self.calls: Counter[str] = Counter()
        self.call_times: list[tuple[float, str]] = []
        self.faults: dict[str, list[Fault]] = {}
        self.run_requests: list[Any] = []
        self.list_filters: list[str] = []
        self.tail_filters: list[str] = []
        self.tail_break_after: int | None = None  # a tail stream fails with UNAVAILABLE after this many entries
        self.tail_suppress = 0  # a tail stream drops this many entries (and says so: suppression_info)
        self.denied_permissions: set[str] = set()  # TestIamPermissions leaves these out
        # Called once a method's answer is ready, before the client gets it (the answer may then be stale, as
        # any list over a network can be: two clients can read the same state before either acts).
        self.after_answer: dict[str, Callable[[], None]] = {}
        self._operations: dict[str, str] = {}
        self._finished: dict[str, Any] = {}  # operations that were done at once (UpdateJob)
        self._stopping = threading.Event()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        self._server.add_generic_rpc_handlers(self._handlers())
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"
        self._server.start()

    # -- test API ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Shut the server down (ending open tail streams)."""
        self._stopping.set()
        self._server.stop(grace=0.5).wait()

    def script(self, *scripts: Script) -> None:
        """The next executions behave like these, in order (then like `world.default_script`)."""
        self.world.scripts.extend(scripts)

    def fail(
        self, method: str, code: grpc.StatusCode, times: int = 1, *, after: bool = False, message: str | None = None
    ) -> None:
        """Make the next `times` calls of `method` (e.g. "RunJob") fail with `code`."""
        text = message or f"injected {code.name}"
        self.faults.setdefault(method, []).extend(Fault(code, text, after) for _ in range(times))

    @property
    def executions(self) -> list[Execution]:
        """Every execution, oldest first."""
        return sorted(self.world.executions.values(), key=lambda e: e.created_ns)

    def overrides(self, index: int = -1) -> dict[str, str]:
        """The env overrides RunJob received (the request itself, not the merged result)."""
        request = self.run_requests[index]
        return {e.name: e.value for c in request.overrides.container_overrides for e in c.env}

    def per_minute(self, method: str) -> int:
        """The most calls of `method` within any 60 s of fake time."""
        times = [t for t, m in self.call_times if m == method]
        return max((bisect.bisect_right(times, t + 60.0 - 1e-9) - i for i, t in enumerate(times)), default=0)

    # -- plumbing ----------------------------------------------------------------------------------

    def _handlers(self) -> list[grpc.GenericRpcHandler]:
        def unary(method: str, fn: Any, request_pb: Any) -> Any:
            def handle(request: Any, context: grpc.ServicerContext) -> Any:
                with self.world.lock:
                    self.calls[method] += 1
                    self.call_times.append((self.clock(), method))
                    queue = self.faults.get(method)
                    fault = queue.pop(0) if queue else None
                if fault is not None and not fault.after:
                    context.abort(fault.code, fault.message)
                with self.world.lock:
                    response = fn(request, context)
                hook = self.after_answer.get(method)
                if hook is not None:
                    hook()
                if fault is not None:
                    context.abort(fault.code, fault.message)
                return response

            return grpc.unary_unary_rpc_method_handler(
                handle, request_deserializer=request_pb.FromString, response_serializer=lambda m: m.SerializeToString()
            )

        def service(name: str, methods: dict[str, Any]) -> grpc.GenericRpcHandler:
            return grpc.method_handlers_generic_handler(name, methods)

        tail = grpc.stream_stream_rpc_method_handler(
            self._tail,
            request_deserializer=TailLogEntriesRequest.pb().FromString,
            response_serializer=lambda m: m.SerializeToString(),
        )
        return [
            service(
                "google.cloud.run.v2.Jobs",
                {
                    "GetJob": unary("GetJob", self._get_job, run_v2.GetJobRequest.pb()),
                    "RunJob": unary("RunJob", self._run_job, run_v2.RunJobRequest.pb()),
                    "UpdateJob": unary("UpdateJob", self._update_job, run_v2.UpdateJobRequest.pb()),
                    "TestIamPermissions": unary(
                        "TestIamPermissions", self._test_iam, iam_policy_pb2.TestIamPermissionsRequest
                    ),
                },
            ),
            service(
                "google.cloud.run.v2.Executions",
                {
                    "GetExecution": unary("GetExecution", self._get_execution, run_v2.GetExecutionRequest.pb()),
                    "ListExecutions": unary("ListExecutions", self._list_executions, run_v2.ListExecutionsRequest.pb()),
                    "CancelExecution": unary("CancelExecution", self._cancel, run_v2.CancelExecutionRequest.pb()),
                },
            ),
            service(
                "google.cloud.run.v2.Tasks",
                {
                    "GetTask": unary("GetTask", self._get_task, run_v2.GetTaskRequest.pb()),
                    "ListTasks": unary("ListTasks", self._list_tasks, run_v2.ListTasksRequest.pb()),
                },
            ),
            service(
                "google.longrunning.Operations",
                {
                    "GetOperation": unary("GetOperation", self._get_operation, operations_pb2.GetOperationRequest),
                },
            ),
            service(
                "google.logging.v2.LoggingServiceV2",
                {
                    "ListLogEntries": unary("ListLogEntries", self._list_entries, ListLogEntriesRequest.pb()),
                    "TailLogEntries": tail,
                },
            ),
        ]

    def _execution(self, name: str, context: grpc.ServicerContext) -> Execution:
        execution = self.world.executions.get(name)
        if execution is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource '{name}' was not found")
        assert execution is not None
        return execution

    def _operation(self, execution: Execution) -> Any:
        """The LRO of a RunJob or CancelExecution: metadata and response are both the Execution, and the
        metadata (its name, log_uri) is on the very first reply; the operation is done only when the
        execution has finished (googleapis job.proto `operation_info`; api_core operation.from_gapic)."""
        name = f"projects/{self.world.project}/locations/{self.world.region}/operations/{uuid.uuid4()}"
        self._operations[name] = execution.name
        return self._operation_pb(name, execution)

    def _operation_pb(self, name: str, execution: Execution) -> Any:
        now = self.clock()
        op = operations_pb2.Operation(name=name)
        message = execution.to_pb(now)
        op.metadata.Pack(message)
        done, _ = execution.done_at()
        if done is not None and now >= done:
            op.done = True
            op.response.Pack(message)
        return op

    # -- Cloud Run ---------------------------------------------------------------------------------

    def _get_job(self, request: Any, context: grpc.ServicerContext) -> Any:
        job = self.world.jobs.get(request.name)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource '{request.name}' was not found")
        assert job is not None
        pb = run_v2.Job.pb()(name=job.name)
        pb.template.task_count = job.task_count
        pb.template.parallelism = job.parallelism
        pb.template.template.max_retries = job.max_retries
        for cname, (image, env, args) in job.containers.items():
            container = pb.template.template.containers.add(name=cname, image=image, args=args)
            for k, v in env.items():
                container.env.add(name=k, value=v)
        pb.terminal_condition.type_ = "Ready"
        pb.terminal_condition.state = run_v2.Condition.State.CONDITION_SUCCEEDED
        return pb

    def _run_job(self, request: Any, context: grpc.ServicerContext) -> Any:
        # RunJobRequest has no request id and Execution labels are output-only: every call that reaches the
        # server creates an execution, a retried one too (googleapis google/cloud/run/v2/job.proto, §11).
        job = self.world.jobs.get(request.name)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource '{request.name}' was not found")
        assert job is not None
        self.run_requests.append(request)
        overrides = list(request.overrides.container_overrides)
        container = next(iter(job.containers))
        env: dict[str, str] = {}
        args: list[str] | None = None
        for override in overrides:
            name = override.name or (container if len(job.containers) == 1 else "")
            if name not in job.containers:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"container override names unknown container {override.name!r}"
                )
            container = name
            env.update({e.name: e.value for e in override.env})
            if override.args or override.clear_args:
                args = list(override.args)
        timeout = request.overrides.timeout.seconds if request.overrides.HasField("timeout") else 600
        execution = self.world.run(job, container, env, args, timeout, request.overrides.task_count)
        return self._operation(execution)

    def _update_job(self, request: Any, context: grpc.ServicerContext) -> Any:
        job = self.world.jobs.get(request.job.name)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource '{request.job.name}' was not found")
        assert job is not None
        for container in request.job.template.template.containers:
            if container.name in job.containers:
                _, env, args = job.containers[container.name]
                job.containers[container.name] = (container.image, env, args)
        op = operations_pb2.Operation(
            name=f"projects/{self.world.project}/locations/{self.world.region}/operations/{uuid.uuid4()}", done=True
        )
        response = self._get_job(run_v2.GetJobRequest.pb()(name=job.name), context)
        op.metadata.Pack(response)
        op.response.Pack(response)
        self._finished[op.name] = op
        return op

    def _test_iam(self, request: Any, context: grpc.ServicerContext) -> Any:
        granted = [p for p in request.permissions if p not in self.denied_permissions]
        return iam_policy_pb2.TestIamPermissionsResponse(permissions=granted)

    def _get_operation(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.name in self._finished:
            return self._finished[request.name]
        name = self._operations.get(request.name)
        if name is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"operation {request.name} not found")
        return self._operation_pb(request.name, self.world.executions[str(name)])

    def _get_execution(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._execution(request.name, context).to_pb(self.clock())

    def _list_executions(self, request: Any, context: grpc.ServicerContext) -> Any:
        if request.parent not in self.world.jobs:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource '{request.parent}' was not found")
        now = self.clock()
        # No filter exists on ListExecutions (parent, page_size, page_token, show_deleted only), newest first,
        # and a new execution shows up only after the listing's lag (§11).
        mine = [e for e in reversed(self.executions) if e.job.name == request.parent and self.world.listed(e, now)]
        start = int(request.page_token or 0)
        size = request.page_size or 100
        response = run_v2.ListExecutionsResponse.pb()(executions=[e.to_pb(now) for e in mine[start : start + size]])
        if start + size < len(mine):
            response.next_page_token = str(start + size)
        return response

    def _cancel(self, request: Any, context: grpc.ServicerContext) -> Any:
        execution = self._execution(request.name, context)
        now = self.clock()
        done, _ = execution.done_at()
        if done is not None and now >= done:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"Execution {execution.short} has already completed.")
        if execution.cancelled_at is None:
            execution.cancelled_at = now
        return self._operation(execution)

    def _get_task(self, request: Any, context: grpc.ServicerContext) -> Any:
        execution = self._execution(request.name.rsplit("/tasks/", 1)[0], context)
        index = request.name.rsplit("-task", 1)[-1]
        if not index.isdigit() or int(index) >= execution.task_count:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource '{request.name}' was not found")
        return execution.task_pb(self.clock(), int(index))

    def _list_tasks(self, request: Any, context: grpc.ServicerContext) -> Any:
        execution = self._execution(request.parent, context)
        now = self.clock()
        start = int(request.page_token or 0)
        size = request.page_size or 100
        indexes = range(start, min(start + size, execution.task_count))
        response = run_v2.ListTasksResponse.pb()(tasks=[execution.task_pb(now, k) for k in indexes])
        if start + size < execution.task_count:
            response.next_page_token = str(start + size)
        return response
