"""A stdlib HTTP proxy in front of moto that injects faults per AWS operation.

The operation is the `X-Amz-Target` suffix (JSON protocols: ECS, CloudWatch Logs) or the `Action=` form
field (query protocols: STS). Faults are armed from the test process:

    proxy.arm("RunTask", "drop_after", count=1)         # forward to moto, then hang up: the ambiguous case
    proxy.arm("*", "throttle", probability=0.2, seed=7)  # any operation, one call in five

Kinds: `throttle` (400 ThrottlingException), `error500` (500 InternalFailure), `drop_before` (hang up
without forwarding), `drop_after` (forward, discard moto's answer, hang up), `latency` (sleep `delay_s`
first; it adds to whichever other fault fires on the same call), `error` (a given status, code and
message, e.g. ExpiredTokenException) and `respond` (a given status and JSON body, e.g. RunTask's HTTP
200 with `failures`). `rewrite` changes moto's own answers (e.g. a DescribeTasks that misses one task).
Hooks may block, to order calls from several processes: `before` runs before a call reaches moto (it takes
effect only once the hook returns), `after` once moto answered, before the client hears it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

KINDS = ("throttle", "error500", "drop_before", "drop_after", "latency", "error", "respond")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection"}


@dataclass
class Fault:
    """One armed fault: fires `count` times, or with `probability` on every matching call."""

    match: str  # operation name, or "*"
    kind: str
    count: int | None = 1
    probability: float | None = None
    delay_s: float = 0.0
    status: int = 400
    code: str = ""
    message: str = ""
    body: dict[str, Any] | None = None
    rng: random.Random = field(default_factory=random.Random)

    def fires(self, operation: str) -> bool:
        if self.match not in ("*", operation):
            return False
        if self.probability is not None:
            return self.rng.random() < self.probability
        if self.count is None or self.count <= 0:
            return False
        self.count -= 1
        return True


@dataclass(frozen=True)
class Call:
    """One request the proxy saw."""

    at: float
    operation: str
    faults: tuple[str, ...]
    body: bytes


class FaultProxy:
    """Forwards every request to `upstream` (moto) unless an armed fault says otherwise."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self._faults: list[Fault] = []
        self._hooks: list[tuple[str, Callable[[bytes, bytes], None]]] = []
        self._before: list[tuple[str, Callable[[bytes], None]]] = []
        self._rewrites: list[list[Any]] = []  # [match, fn, calls left, calls rewritten]
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="faultproxy", daemon=True)

    @property
    def url(self) -> str:
        """Where clients should send their requests."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down."""
        self._server.shutdown()
        self._server.server_close()

    def arm(
        self,
        match: str,
        kind: str,
        *,
        count: int | None = 1,
        probability: float | None = None,
        seed: int | None = None,
        delay_s: float = 0.0,
        status: int = 400,
        code: str = "",
        message: str = "",
        body: dict[str, Any] | None = None,
    ) -> Fault:
        """Add a fault for operation `match` ("*" = any)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {KINDS}")
        fault = Fault(
            match,
            kind,
            count=None if probability is not None else count,
            probability=probability,
            delay_s=delay_s,
            status=status,
            code=code,
            message=message,
            body=body,
            rng=random.Random(seed),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def before(self, match: str, hook: Callable[[bytes], None]) -> None:
        """Call `hook(request_body)` before `match` is forwarded to moto (it may block: moto has not seen the call
        yet, so a call held here takes effect only once the hook returns)."""
        with self._lock:
            self._before.append((match, hook))

    def after(self, match: str, hook: Callable[[bytes, bytes], None]) -> None:
        """Call `hook(request_body, response_body)` once moto has answered `match`, before the client hears it."""
        with self._lock:
            self._hooks.append((match, hook))

    def rewrite(self, match: str, fn: Callable[[bytes, bytes], bytes | None], *, count: int = 1) -> None:
        """Answer the next `count` calls of `match` that `fn(request_body, response_body)` changes (a new body;
        None: leave that answer alone) with the changed body instead of moto's."""
        with self._lock:
            self._rewrites.append([match, fn, count, 0])

    def rewritten(self, match: str) -> int:
        """How many answers of `match` were rewritten so far."""
        with self._lock:
            return sum(r[3] for r in self._rewrites if r[0] == match)

    def _rewrite(self, operation: str, body: bytes, payload: bytes) -> bytes:
        with self._lock:
            for rule in self._rewrites:
                if rule[0] in ("*", operation) and rule[2] > 0:
                    changed = rule[1](body, payload)
                    if changed is not None:
                        rule[2] -= 1
                        rule[3] += 1
                        return bytes(changed)
        return payload

    def disarm(self) -> None:
        """Remove every fault and hook."""
        with self._lock:
            self._faults.clear()
            self._hooks.clear()
            self._before.clear()
            self._rewrites.clear()

    def reset(self) -> None:
        """Remove every fault and hook and forget the calls seen."""
        with self._lock:
            self._faults.clear()
            self._hooks.clear()
            self._before.clear()
            self._rewrites.clear()
            self.calls.clear()

    def _hold(self, operation: str, body: bytes) -> None:
        with self._lock:
            hooks = [h for m, h in self._before if m in ("*", operation)]
        for hook in hooks:
            hook(body)

    def _after(self, operation: str, body: bytes, payload: bytes) -> None:
        with self._lock:
            hooks = [h for m, h in self._hooks if m in ("*", operation)]
        for hook in hooks:
            hook(body, payload)

    def counts(self, *, faulted: bool | None = None) -> Counter[str]:
        """Calls per operation (all, only faulted, or only clean ones)."""
        with self._lock:
            return Counter(c.operation for c in self.calls if faulted is None or bool(c.faults) == faulted)

    def injected(self) -> Counter[tuple[str, str]]:
        """How often each (operation, kind) fault fired."""
        with self._lock:
            return Counter((c.operation, kind) for c in self.calls for kind in c.faults)

    def _choose(self, operation: str, body: bytes) -> tuple[float, Fault | None]:
        """The delay to add and the (non-latency) fault to play for one call."""
        with self._lock:
            delays = [f for f in self._faults if f.kind == "latency" and f.fires(operation)]
            fault = next((f for f in self._faults if f.kind != "latency" and f.fires(operation)), None)
            kinds = tuple(f.kind for f in delays) + ((fault.kind,) if fault else ())
            self.calls.append(Call(time.monotonic(), operation, kinds, body))
            return sum(f.delay_s for f in delays), fault


def operation_of(headers: Any, body: bytes) -> str:
    """`RunTask` from `X-Amz-Target: AmazonEC2ContainerServiceV20141113.RunTask`, or a query `Action`."""
    target = headers.get("X-Amz-Target")
    if target:
        return str(target).rsplit(".", 1)[-1]
    if body and b"Action=" in body:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return "?"


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _proxy(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        operation = operation_of(self.headers, body)
        delay, fault = self.owner._choose(operation, body)
        kind = fault.kind if fault else None
        if delay:
            time.sleep(delay)
        if kind == "drop_before":
            return self._hang_up()
        if fault is not None and kind in ("throttle", "error500", "error", "respond"):
            return self._error(fault)
        self.owner._hold(operation, body)
        status, headers, payload = self._forward(body)
        self.owner._after(operation, body, payload)
        if status == 200:
            payload = self.owner._rewrite(operation, body, payload)
        if kind == "drop_after":
            return self._hang_up()
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        return None

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _proxy

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.owner.upstream_host, self.owner.upstream_port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _hang_up(self) -> None:
        # Close without a status line: the client sees the connection drop mid-request.
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _error(self, fault: Fault) -> None:
        query = not self.headers.get("X-Amz-Target")
        if fault.kind == "throttle":
            status, code, message = 400, "ThrottlingException", "Rate exceeded"
        elif fault.kind == "error500":
            status, code, message = 500, "InternalFailure", "We encountered an internal error. Please try again."
        else:
            status, code, message = fault.status, fault.code, fault.message
        if fault.kind == "respond":
            body = json.dumps(fault.body or {}).encode()
            ctype = "application/x-amz-json-1.1"
        elif query:  # STS and other query-protocol services answer in XML
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                "</Error><RequestId>fault</RequestId></ErrorResponse>"
            ).encode()
            ctype = "text/xml"
        else:
            body = json.dumps({"__type": code, "message": message}).encode()
            ctype = "application/x-amz-json-1.1"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("x-amzn-RequestId", "fault")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
