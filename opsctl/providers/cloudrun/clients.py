"""The Google clients the Cloud Run provider uses: real endpoints with ADC, or plaintext gRPC to a stand-in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.auth import exceptions as auth_exc
from google.auth.credentials import Credentials
from google.cloud import run_v2
from google.cloud.logging_v2.services.logging_service_v2 import LoggingServiceV2Client

from opsctl.providers.cloudrun.errors import no_credentials

RPC_TIMEOUT_S = 30.0  # a hung connection becomes DEADLINE_EXCEEDED, which the runner retries


@dataclass
class GcpClients:
    """The four Google clients opsctl uses, on one channel when an endpoint override is set."""

    jobs: run_v2.JobsClient
    executions: run_v2.ExecutionsClient
    tasks: run_v2.TasksClient
    logging: LoggingServiceV2Client
    channel: grpc.Channel | None = None  # set with an endpoint override
    credentials: Credentials | None = None  # the Application Default Credentials, without one

    def close(self) -> None:
        """Close the channels."""
        if self.channel is not None:
            self.channel.close()
            return
        for client in (self.jobs, self.executions, self.tasks, self.logging):
            close: Callable[[], None] = client.transport.close
            close()


def connect(endpoint: str | None) -> GcpClients:
    """Real endpoints with TLS and Application Default Credentials, or plaintext gRPC to `endpoint`."""
    from google.cloud.logging_v2.services.logging_service_v2.transports import LoggingServiceV2GrpcTransport
    from google.cloud.run_v2.services.executions.transports import ExecutionsGrpcTransport
    from google.cloud.run_v2.services.jobs.transports import JobsGrpcTransport
    from google.cloud.run_v2.services.tasks.transports import TasksGrpcTransport

    if endpoint:
        # An emulator or test fake: no TLS, no credentials (a transport given a channel ignores them).
        channel = grpc.insecure_channel(endpoint, options=[("grpc.max_receive_message_length", 64 << 20)])
        return GcpClients(
            jobs=run_v2.JobsClient(transport=JobsGrpcTransport(channel=channel)),
            executions=run_v2.ExecutionsClient(transport=ExecutionsGrpcTransport(channel=channel)),
            tasks=run_v2.TasksClient(transport=TasksGrpcTransport(channel=channel)),
            logging=LoggingServiceV2Client(transport=LoggingServiceV2GrpcTransport(channel=channel)),
            channel=channel,
        )
    import google.auth

    try:
        credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except auth_exc.DefaultCredentialsError as e:
        raise no_credentials(e) from None
    return GcpClients(
        jobs=run_v2.JobsClient(credentials=credentials),
        executions=run_v2.ExecutionsClient(credentials=credentials),
        tasks=run_v2.TasksClient(credentials=credentials),
        logging=LoggingServiceV2Client(credentials=credentials),
        credentials=credentials,
    )
