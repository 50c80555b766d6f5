"""Faults between opsctl's Google clients and the gRPC fake, as a network would make them.

    opsctl ──TCP──▶ ConnectionDropper ──TCP──▶ GrpcFaultProxy ──gRPC──▶ FakeGcp

`GrpcFaultProxy` forwards every call as raw bytes (any method, unary or the TailLogEntries stream) and,
by a seeded draw per call, answers RESOURCE_EXHAUSTED or UNAVAILABLE instead (the fake never sees the
call), forwards it and then answers UNAVAILABLE or DEADLINE_EXCEEDED (the call took effect: the
ambiguous case), waits first (a latency spike), or breaks a tail stream midway. `ConnectionDropper`
resets the TCP connection under a chunk of bytes by a seeded draw, before or after passing it on: every
call in flight on that HTTP/2 connection fails at once, and the channel must reconnect.

The draws are seeded; which call meets which draw depends on thread timing, as it does on a network.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc

TAIL = "/google.logging.v2.LoggingServiceV2/TailLogEntries"


@dataclass(frozen=True)
class GrpcFault:
    """One kind of fault: how often it is drawn, the code the client gets, and whether the fake sees the call."""

    weight: float
    code: grpc.StatusCode | None  # None: the call succeeds (slowly)
    reaches_server: bool


GRPC_FAULTS = {
    "throttled": GrpcFault(0.30, grpc.StatusCode.RESOURCE_EXHAUSTED, reaches_server=False),
    "unavailable": GrpcFault(0.25, grpc.StatusCode.UNAVAILABLE, reaches_server=False),
    "lost answer": GrpcFault(0.20, grpc.StatusCode.UNAVAILABLE, reaches_server=True),
    "deadline after effect": GrpcFault(0.10, grpc.StatusCode.DEADLINE_EXCEEDED, reaches_server=True),
    "latency": GrpcFault(0.15, None, reaches_server=True),
}
_CLEAN = GrpcFault(0.0, None, reaches_server=True)


@dataclass(frozen=True)
class ProxiedCall:
    """One call the proxy saw, when (time.monotonic) and what it did to it."""

    at: float
    method: str
    fault: str | None


class GrpcFaultProxy:
    """A gRPC server that forwards every method to `upstream`, failing a seeded share of the calls."""

    def __init__(self, upstream: str, *, seed: int, rate: float, latency_s: tuple[float, float] = (0.1, 0.4)) -> None:
        self.rate = rate
        self.latency_s = latency_s
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.calls: list[ProxiedCall] = []
        # Method names (e.g. {"ListExecutions"}) whose calls may be faulted; None: every method.
        self.only: set[str] | None = None
        # method name (e.g. "RunJob") → called with the request's bytes before the call is forwarded
        self.before: dict[str, Callable[[bytes], None]] = {}
        # method name → the next such call fails at once (connection reset) while the server goes on with it,
        # taking effect this many seconds later: the ambiguous failure whose effect lands late.
        self.late: dict[str, float] = {}
        self._late: list[threading.Thread] = []
        self._channel = grpc.insecure_channel(upstream, options=[("grpc.max_receive_message_length", 64 << 20)])
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=64),
            options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)],
        )
        self._server.add_generic_rpc_handlers([_Forwarder(self)])
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{self.port}"
        self._server.start()

    def stop(self) -> None:
        """Stop serving and close the upstream channel."""
        self._server.stop(grace=0.2).wait()
        self._channel.close()

    def settle(self) -> None:
        """Wait until every late call has taken effect."""
        for thread in self._late:
            thread.join(timeout=30)

    def counts(self) -> Counter[str]:
        """Calls per method."""
        with self._lock:
            return Counter(c.method for c in self.calls)

    def faults(self) -> Counter[str]:
        """How often each kind of fault was played."""
        with self._lock:
            return Counter(c.fault for c in self.calls if c.fault is not None)

    def _draw(self, method: str) -> tuple[str | None, GrpcFault]:
        """Record the call and decide its fault (None: pass it through untouched)."""
        name = method.rsplit("/", 1)[-1]
        with self._lock:
            kind = None
            if (self.only is None or name in self.only) and self._rng.random() < self.rate:
                kinds = list(GRPC_FAULTS)
                kind = self._rng.choices(kinds, weights=[GRPC_FAULTS[k].weight for k in kinds])[0]
            self.calls.append(ProxiedCall(time.monotonic(), name, kind))
            return kind, GRPC_FAULTS[kind] if kind else _CLEAN

    def _open(self, method: str, context: grpc.ServicerContext) -> tuple[str | None, GrpcFault]:
        """Draw the call's fault and play its first half: refuse it, or wait, before it is forwarded."""
        kind, fault = self._draw(method)
        if not fault.reaches_server:
            assert fault.code is not None
            context.abort(fault.code, f"injected: {kind}")
        if kind == "latency":
            with self._lock:
                delay = self._rng.uniform(*self.latency_s)
            time.sleep(delay)
        if not context.is_active():  # the client went away meanwhile: a frontend drops the call, too
            context.abort(grpc.StatusCode.CANCELLED, "client gone")
        return kind, fault

    def _late_effect(self, method: str, request: bytes, context: grpc.ServicerContext) -> None:
        with self._lock:
            delay = self.late.pop(method.rsplit("/", 1)[-1], None)
            if delay is None:
                return
            self.calls.append(ProxiedCall(time.monotonic(), method.rsplit("/", 1)[-1], "late effect"))
        later = threading.Timer(delay, lambda: self._channel.unary_unary(method)(request, timeout=30))
        self._late.append(later)
        later.start()
        context.abort(grpc.StatusCode.UNAVAILABLE, "injected: connection reset by peer")

    def unary(self, method: str, request: bytes, context: grpc.ServicerContext) -> bytes:
        """Forward one unary call (the bytes as they are), playing its fault."""
        hook = self.before.get(method.rsplit("/", 1)[-1])
        if hook is not None:
            hook(request)
        self._late_effect(method, request, context)
        kind, fault = self._open(method, context)
        try:
            response: bytes = self._channel.unary_unary(method)(request, timeout=context.time_remaining())
        except grpc.RpcError as e:
            context.abort(e.code(), e.details() or "")
        if fault.code is not None:
            context.abort(fault.code, f"injected: {kind}")
        return response

    def stream(self, method: str, requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        """Forward a streaming call; a faulted one breaks after a few responses (a tail session failing midway)."""
        kind, fault = self._open(method, context)
        upstream = self._channel.stream_stream(method)(_until_closed(requests), timeout=context.time_remaining())
        context.add_callback(upstream.cancel)
        with self._lock:
            limit = self._rng.randint(0, 3) if fault.code is not None else None
        sent = 0
        try:
            for response in upstream:
                if limit is not None and sent >= limit:
                    break
                yield response
                sent += 1
        except grpc.RpcError as e:
            if e.code() is not grpc.StatusCode.CANCELLED:
                context.abort(e.code(), e.details() or "")
            return
        if fault.code is not None:
            upstream.cancel()
            context.abort(fault.code, f"injected: {kind} after {sent} responses")


def _until_closed(requests: Iterator[bytes]) -> Iterator[bytes]:
    """The client's request stream, ending quietly when the client goes away (the proxy then cancels)."""
    try:
        yield from requests
    except grpc.RpcError:
        return


class _Forwarder(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc has no type stubs here
    def __init__(self, proxy: GrpcFaultProxy) -> None:
        self.proxy = proxy

    def service(self, handler_call_details: Any) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        if method == TAIL:
            return grpc.stream_stream_rpc_method_handler(lambda it, ctx: self.proxy.stream(method, it, ctx))
        return grpc.unary_unary_rpc_method_handler(lambda req, ctx: self.proxy.unary(method, req, ctx))


class ConnectionDropper:
    """A TCP relay that resets both sides of a connection under a seeded share of client chunks."""

    def __init__(self, upstream_port: int, *, seed: int, rate: float) -> None:
        self.rate = rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.accepted = 0
        self.drops: Counter[str] = Counter()  # "before" (chunk not passed on) / "after" (passed on, then reset)
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, name="dropper-accept", daemon=True).start()

    def stop(self) -> None:
        """Stop accepting (open relays end when their sockets do)."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                _reset(client)
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link = _Link(client, server)
            threading.Thread(target=self._pump, args=(link, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(link, False), daemon=True).start()

    def _draw(self) -> str | None:
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(("before", "after"))
            self.drops[kind] += 1
            return kind

    def _pump(self, link: _Link, upward: bool) -> None:
        src, dst = (link.client, link.server) if upward else (link.server, link.client)
        try:
            while not link.severed.is_set():
                chunk = src.recv(65536)
                if not chunk:
                    break
                drop = self._draw() if upward else None
                if drop == "before":
                    break
                if drop == "after":
                    link.severed.set()  # nothing more reaches the client: the answer is lost
                    dst.sendall(chunk)
                    time.sleep(0.02)  # long enough for the server to act on the request
                    break
                if not link.severed.is_set():
                    dst.sendall(chunk)
        except OSError:
            pass
        link.severed.set()
        _reset(link.client)
        _reset(link.server)


@dataclass
class _Link:
    client: socket.socket
    server: socket.socket

    def __post_init__(self) -> None:
        self.severed = threading.Event()


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a dropped connection looks to both peers."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
