"""A local HTTP server running in a background thread (the metrics endpoint
and the operator API): its bound address, a URL for a path, and close()."""

from __future__ import annotations

from typing import Any


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
