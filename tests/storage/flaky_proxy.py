"""A small HTTP proxy in front of a storage emulator that fails requests on demand.

The client talks to the proxy as if it were the emulator (its endpoint is the proxy's); the
proxy forwards each request to the emulator unchanged (method, path, headers, body) and relays
the answer, except while faults are armed: ``fail_next(n, status)`` answers the next ``n``
requests with that HTTP status itself, ``drop_next(n)`` closes the next ``n`` connections without
answering. ``requests`` lists every request seen, as (method, path, what happened).
"""

from __future__ import annotations

import http.client
import http.server
import threading
import urllib.parse
from collections import deque

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
}

FORWARDED = "forwarded"
DROPPED = "dropped"


class FlakyProxy:
    def __init__(self, upstream: str) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self._upstream = (parsed.hostname, parsed.port)
        self._faults: deque[int | str] = deque()  # a status to answer with, or DROPPED
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str, str]] = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._faults.extend([status] * count)

    def drop_next(self, count: int) -> None:
        with self._lock:
            self._faults.extend([DROPPED] * count)

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self.requests.clear()

    def faults_left(self) -> int:
        with self._lock:
            return len(self._faults)

    def _next_fault(self) -> int | str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _record(self, method: str, path: str, outcome: str) -> None:
        with self._lock:
            self.requests.append((method, path, outcome))

    def _handler_class(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: the test reads ``requests`` instead
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                fault = proxy._next_fault()
                if fault == DROPPED:
                    proxy._record(self.command, self.path, DROPPED)
                    self.close_connection = True
                    self.connection.shutdown(2)  # socket.SHUT_RDWR: the client sees the connection reset
                    return
                if fault is not None:
                    proxy._record(self.command, self.path, str(fault))
                    message = b'{"error": {"code": %d, "message": "injected by the test proxy"}}' % fault
                    self.send_response(fault)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(message)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(message)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if body or "Content-Length" in self.headers or self.headers.get("Transfer-Encoding"):
                    headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection(*proxy._upstream, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    payload = answer.read()
                    proxy._record(self.command, self.path, FORWARDED)
                    self.send_response(answer.status, answer.reason)
                    for key, value in answer.getheaders():
                        if key.lower() not in _HOP_BY_HOP and key.lower() != "content-length":
                            self.send_header(key, value)
                    length = answer.getheader("Content-Length") if self.command == "HEAD" else None
                    self.send_header("Content-Length", length or str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

        return Handler
