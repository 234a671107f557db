"""The appliance's local HTTP servers (the metrics endpoint with the
dashboard, and the operator API): a bounded threading server that refuses
connections beyond MAX_CONNECTIONS at once, and the handle of one running in
a background thread (its bound address, a URL for a path, close())."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from typing import Any

MAX_CONNECTIONS = 128  # connections served at once; more get 503 at once
IDLE_TIMEOUT_S = 5.0  # a connection silent this long (headers or body) is closed:
#                       handlers set `timeout = IDLE_TIMEOUT_S`
LISTEN_BACKLOG = 256


class BackgroundServer:
    """A running HTTP server (httpd serving in `thread`); close() stops it."""

    path = "/"

    def __init__(self, httpd: Any, thread: Any) -> None:
        self._httpd: Any | None = httpd
        self._thread = thread
        host, port = httpd.server_address[:2]
        self.address: tuple[str, int] = (str(host), int(port))

    @property
    def url(self) -> str:
        host, port = self.address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}{self.path}"

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_BUSY = json.dumps({"error": f"too many connections (at most {MAX_CONNECTIONS})"}).encode()
_BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(_BUSY)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n".encode()
    + _BUSY
)


class BoundedHTTPServer(ThreadingHTTPServer):
    """One thread per connection, at most MAX_CONNECTIONS of them: a
    connection beyond that is answered 503 from the accepting thread and
    closed, so idle or slow clients cannot grow the process without bound."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.settimeout(0.5)
                request.sendall(_BUSY_RESPONSE)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()
