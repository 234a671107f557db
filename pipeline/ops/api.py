"""The operator HTTP API (JSON, localhost, bearer token) and its CLI client.

Routes (docs/operations.md has examples):

    GET  /v1/status                      controller.status()
    GET  /v1/flows                       controller.flows()
    GET  /v1/instruments                 controller.instruments()
    POST /v1/instruments/{symbol}/halt   controller.halt(symbol)
    POST /v1/instruments/{symbol}/resume controller.resume(symbol)
    POST /v1/sessions/{id}/cancel-all    controller.cancel_all(id)
    GET  /v1/book/{symbol}?depth=N       controller.book(symbol, N)   (1..1000, default 10)
    POST /v1/snapshot                    controller.snapshot()

Every request needs `Authorization: Bearer <token>` (compared in constant
time); without it, or with another token: 401.  A malformed symbol, id,
depth, query or JSON body: 400; an unknown symbol, session or path: 404; a
known path with another method: 405; always {"error": "reason"}.  Controller
calls are serialised (one at a time), so a controller need not be thread-safe.

What each route answers is declared once, below (`Book`, `Cancelled`,
`InstrumentState`, ...): the appliance builds these, the CLI client checks
an answer against them (`shape_errors`) before it draws it.

The CLI commands (`wirematch book|halt|resume|cancel-all`) find the API of
instance NAME in its region's `instance` blob and the token in
/run/wirematch/NAME.token (mode 0600), unless --api/--token or
WIREMATCH_TOKEN say otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import socket
import stat
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, Union, get_args, get_origin
from typing import get_type_hints as _hints

from wirematch.pipeline.ops.httpserve import (
    IDLE_TIMEOUT_S,
    BackgroundServer,
    BoundedHTTPServer,
)
from wirematch.pipeline.ops.status import APPLIANCE_BLOCK, DEFAULT_NAME, RUNNING

if TYPE_CHECKING:
    from wirematch.output import Command

log = logging.getLogger("wirematch.api")

MAX_BODY = 64 << 10
MAX_JSON_NESTING = 32  # a request body nested deeper is refused (400), never parsed
MAX_DEPTH = 1000
DEFAULT_DEPTH = 10
SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$")
SESSION_RE = re.compile(r"^[0-9]{1,10}$")
MAX_SESSION = (1 << 32) - 1


# -- what the routes answer ----------------------------------------------------------


class Level(TypedDict):
    """One price level of a book side."""

    price: int  # price units (the configuration's)
    qty: int  # resting quantity at the level
    orders: int  # resting orders at the level


class RestingOrder(TypedDict):
    """One resting order (L3), in time priority within its level."""

    order_ref: int  # the order reference the client was told (OUCH Accepted)
    session: int
    user_ref: int  # the client's OUCH UserRefNum
    price: int
    qty: int  # leaves quantity


class BookLevels(TypedDict):
    bids: list[Level]  # best first
    asks: list[Level]


class BookOrders(TypedDict):
    bids: list[RestingOrder]  # the orders resting at the levels shown
    asks: list[RestingOrder]


class Book(TypedDict):
    """GET /v1/book/{symbol}: L2 (the best `depth` levels per side) and L3."""

    symbol: str
    instrument: int
    state: str  # "open", "halted" or "closed"
    depth: int  # levels per side asked for
    live_orders: int  # resting orders of the instrument, every level
    l2: BookLevels
    l3: BookOrders
    truncated: bool  # the book holds more than the answer could carry


class InstrumentState(TypedDict):
    """POST /v1/instruments/{symbol}/halt and /resume: the state afterwards."""

    symbol: str
    state: str


class Cancelled(TypedDict):
    """POST /v1/sessions/{id}/cancel-all."""

    session: int
    cancelled: int  # orders cancelled


class Instrument(TypedDict):
    symbol: str
    id: int
    state: str
    tick_size: int
    best_bid: int | None  # None: the side is empty
    best_ask: int | None


class Flow(TypedDict):
    src: str  # "a.b.c.d:port"
    dst: str
    vlan: int
    proto: int
    action: str  # "allow" or "deny"
    session: int
    shard: int
    rule: int
    packets: int
    bytes: int
    drops: int


class Snapshot(TypedDict):
    """POST /v1/snapshot: the matcher's event hash and sequence, and every book."""

    event_hash: str  # 16 hex digits
    last_seq: int
    live_orders: int
    books: dict[str, Book]


class Status(TypedDict):
    name: str
    pid: int
    running: bool
    backend: str
    interface: str
    address: str
    uptime_s: float
    workers: list[dict[str, Any]]
    warnings: list[str]
    classifier: dict[str, int]
    flow_table: dict[str, int]
    counters: dict[str, dict[str, int]]
    latency_ns: dict[str, dict[str, float]]


class Controller(Protocol):
    """What the API serves (`wirematch.pipeline.appliance.Appliance` implements it).

    Raise LookupError (KeyError) for an unknown symbol or session (-> 404) and
    ValueError for a request the controller refuses (-> 400); the message
    becomes the reason.
    """

    def status(self) -> Status: ...

    def flows(self) -> list[Flow]: ...

    def instruments(self) -> list[Instrument]: ...

    def halt(self, symbol: str) -> InstrumentState: ...

    def resume(self, symbol: str) -> InstrumentState: ...

    def cancel_all(self, session: int) -> Cancelled: ...

    def book(self, symbol: str, depth: int) -> Book: ...

    def snapshot(self) -> Snapshot: ...


def shape_errors(value: Any, shape: Any, where: str = "answer") -> list[str]:
    """What in `value` (decoded JSON) differs from `shape` (one of the TypedDicts
    above, or a type built of them): missing or extra keys, wrong types."""
    origin, args = get_origin(shape), get_args(shape)
    if shape is Any:
        return []
    if origin in (Union, UnionType):
        if any(not shape_errors(value, a, where) for a in args):
            return []
        return [f"{where}: {value!r} is none of {' | '.join(_type_name(a) for a in args)}"]
    if isinstance(shape, type) and issubclass(shape, dict) and hasattr(shape, "__total__"):
        if not isinstance(value, dict):
            return [f"{where}: expected an object ({shape.__name__}), got {value!r}"]
        fields = _hints(shape)
        errors = [f"{where}: missing {k!r}" for k in fields if k not in value]
        errors += [f"{where}: unexpected {k!r}" for k in value if k not in fields]
        for k, t in fields.items():
            if k in value:
                errors += shape_errors(value[k], t, f"{where}.{k}")
        return errors
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {value!r}"]
        return [e for i, v in enumerate(value) for e in shape_errors(v, args[0], f"{where}[{i}]")]
    if origin is dict:
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r}"]
        return [e for k, v in value.items() for e in shape_errors(v, args[1], f"{where}.{k}")]
    if shape is NoneType:
        return [] if value is None else [f"{where}: expected null, got {value!r}"]
    if shape is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif shape is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, shape)
    return [] if ok else [f"{where}: expected {_type_name(shape)}, got {value!r}"]


def _type_name(t: Any) -> str:
    return "null" if t is NoneType else getattr(t, "__name__", str(t))


class ApiError(Exception):
    """A request the API answers with `status` and {"error": reason}."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


# -- the server -----------------------------------------------------------------------


def _check_symbol(symbol: str) -> str:
    symbol = urllib.parse.unquote(symbol)
    if not SYMBOL_RE.match(symbol):
        raise ApiError(400, f"bad symbol {symbol!r}: 1-16 letters, digits, '.', '_' or '-'")
    return symbol


def _check_session(text: str) -> int:
    if not SESSION_RE.match(text) or int(text) > MAX_SESSION:
        raise ApiError(400, f"bad session id {text!r}: an integer 0..{MAX_SESSION}")
    return int(text)


class _Api:
    """Routing and validation, independent of the HTTP plumbing."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.lock = threading.Lock()
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = [
            ("GET", re.compile(r"^/v1/status$"), self.status),
            ("GET", re.compile(r"^/v1/flows$"), self.flows),
            ("GET", re.compile(r"^/v1/instruments$"), self.instruments),
            ("POST", re.compile(r"^/v1/instruments/([^/]+)/halt$"), self.halt),
            ("POST", re.compile(r"^/v1/instruments/([^/]+)/resume$"), self.resume),
            ("POST", re.compile(r"^/v1/sessions/([^/]+)/cancel-all$"), self.cancel_all),
            ("GET", re.compile(r"^/v1/book/([^/]+)$"), self.book),
            ("POST", re.compile(r"^/v1/snapshot$"), self.snapshot),
        ]

    def dispatch(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        allowed = []
        for m, pattern, func in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if m != method:
                allowed.append(m)
                continue
            with self.lock:
                return func(query, body, *match.groups())
        if allowed:
            raise ApiError(
                405,
                f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                {"Allow": ", ".join(allowed)},
            )
        raise ApiError(404, f"no such path {path!r} (see GET /v1/status, docs/operations.md)")

    @staticmethod
    def _no_query(query: dict[str, list[str]]) -> None:
        if query:
            raise ApiError(400, f"unexpected query parameter(s): {', '.join(sorted(query))}")

    def _known(self, symbol: str) -> str:
        symbol = _check_symbol(symbol)
        symbols = {str(i.get("symbol")) for i in self.controller.instruments()}
        if symbol not in symbols:
            raise ApiError(404, f"no instrument {symbol!r}; known: {', '.join(sorted(symbols))}")
        return symbol

    def status(self, query: dict[str, list[str]], body: Any) -> Any:
        self._no_query(query)
        return self.controller.status()

    def flows(self, query: dict[str, list[str]], body: Any) -> Any:
        self._no_query(query)
        return {"flows": self.controller.flows()}

    def instruments(self, query: dict[str, list[str]], body: Any) -> Any:
        self._no_query(query)
        return {"instruments": self.controller.instruments()}

    def halt(self, query: dict[str, list[str]], body: Any, symbol: str) -> Any:
        self._no_query(query)
        return self.controller.halt(self._known(symbol))

    def resume(self, query: dict[str, list[str]], body: Any, symbol: str) -> Any:
        self._no_query(query)
        return self.controller.resume(self._known(symbol))

    def cancel_all(self, query: dict[str, list[str]], body: Any, session: str) -> Any:
        self._no_query(query)
        return self.controller.cancel_all(_check_session(session))

    def book(self, query: dict[str, list[str]], body: Any, symbol: str) -> Any:
        extra = set(query) - {"depth"}
        if extra:
            raise ApiError(400, f"unexpected query parameter(s): {', '.join(sorted(extra))}")
        depth = DEFAULT_DEPTH
        if "depth" in query:
            text = query["depth"][-1]
            if not text.isdigit() or not 1 <= int(text) <= MAX_DEPTH:
                raise ApiError(400, f"bad depth {text!r}: an integer 1..{MAX_DEPTH}")
            depth = int(text)
        return self.controller.book(self._known(symbol), depth)

    def snapshot(self, query: dict[str, list[str]], body: Any) -> Any:
        self._no_query(query)
        return self.controller.snapshot()


class _Handler(BaseHTTPRequestHandler):
    server_version = "wirematch-api/1"
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S  # the connection's socket timeout (StreamRequestHandler)
    api: _Api
    token_digest: bytes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data, default=_json_default).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        try:
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client left before its answer

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        ok_scheme = scheme.lower() == "bearer"
        # Digests of equal length compared in constant time: neither the
        # token's content nor its length shows in the response time.
        given = hashlib.sha256(presented.strip().encode()).digest()
        same = hmac.compare_digest(given, self.token_digest)
        return ok_scheme and same

    def _read_body(self) -> Any:
        length_text = self.headers.get("Content-Length", "0")
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # the body's end is unknown: read no further
            raise ApiError(400, "Transfer-Encoding is not accepted; send Content-Length")
        if not length_text.isdigit():
            self.close_connection = True
            raise ApiError(400, "bad Content-Length")
        length = int(length_text)
        if length > MAX_BODY:
            self.close_connection = True  # the refused body is not read as a request
            raise ApiError(413, f"body of {length} bytes; at most {MAX_BODY}")
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return None
        if json_nesting(raw) > MAX_JSON_NESTING:
            raise ApiError(400, f"body nests deeper than {MAX_JSON_NESTING} levels")
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, f"body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "body must be a JSON object")
        return body

    def _handle(self, method: str) -> None:
        try:
            if not self._authorized():
                # Drain the body so the connection stays usable.
                self._drain()
                raise ApiError(
                    401,
                    "missing or wrong bearer token",
                    {"WWW-Authenticate": 'Bearer realm="wirematch"'},
                )
            url = urllib.parse.urlsplit(self.path)
            try:
                query = urllib.parse.parse_qs(
                    url.query, keep_blank_values=True, strict_parsing=bool(url.query)
                )
            except ValueError as exc:
                raise ApiError(400, f"bad query string: {exc}") from exc
            body = self._read_body() if method == "POST" else self._drain()
            result = self.api.dispatch(method, url.path, query, body)
            self._send(200, result)
        except TimeoutError:
            self.close_connection = True  # a body promised and not sent: drop the client
        except ApiError as exc:
            self._send(exc.status, {"error": exc.reason}, exc.headers)
        except LookupError as exc:
            self._send(404, {"error": str(exc.args[0]) if exc.args else "not found"})
        except ValueError as exc:
            self._send(400, {"error": str(exc)})
        except Exception as exc:  # the API answers; it never takes the process down
            log.exception("operator API: %s %s failed", method, self.path)
            self._send(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})

    def _drain(self) -> None:
        length_text = self.headers.get("Content-Length", "0")
        if length_text.isdigit() and 0 < int(length_text) <= MAX_BODY:
            self.rfile.read(int(length_text))
        elif length_text != "0":
            self.close_connection = True

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


def json_nesting(raw: bytes) -> int:
    """How deeply a JSON text nests arrays and objects (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in raw:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:  # backslash
                escaped = True
            elif c == 0x22:  # quote
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif c in (0x5D, 0x7D):
            depth -= 1
    return deepest


class ApiServer(BackgroundServer):
    """A running operator API; close() stops it."""

    path = ""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_api(
    controller: Controller,
    address: str | tuple[str, int],
    token: str,
    allow_remote: bool = False,
) -> ApiServer:
    """Serve `controller` at address ("host:port"; port 0: any) in a daemon thread.

    The token must be non-empty; a non-loopback address needs allow_remote
    (the API speaks plain HTTP)."""
    from wirematch.pipeline.ops.metrics import parse_address

    if not token:
        raise ValueError("the operator API needs a non-empty token")
    host, port = parse_address(address)
    if not allow_remote and not _is_loopback(host):
        raise ValueError(f"API address {host!r} is not a loopback address (plain HTTP)")
    handler = type(
        "Handler",
        (_Handler,),
        {"api": _Api(controller), "token_digest": hashlib.sha256(token.encode()).digest()},
    )
    server_cls: type[BoundedHTTPServer] = BoundedHTTPServer
    if ":" in host:
        server_cls = type("Server6", (BoundedHTTPServer,), {"address_family": socket.AF_INET6})
    httpd = server_cls((host, port), handler)
    thread = threading.Thread(
        target=httpd.serve_forever, args=(0.1,), name="wirematch-api", daemon=True
    )
    thread.start()
    return ApiServer(httpd, thread)


# -- token files ------------------------------------------------------------------------


def run_dir() -> Path:
    return Path(os.environ.get("WIREMATCH_RUN_DIR", "/run/wirematch"))


def token_path(name: str) -> Path:
    return run_dir() / f"{name}.token"


def write_token_file(name: str, token: str) -> Path:
    """Write instance `name`'s API token, readable by its owner only (0600)."""
    path = token_path(name)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode() + b"\n")
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def read_token_file(name: str) -> str:
    path = token_path(name)
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise ApiClientError(
            f"no token file {path} (is instance {name!r} running with [api] token?); "
            "pass --token or set WIREMATCH_TOKEN"
        ) from exc
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ApiClientError(f"token file {path} is readable by others; chmod 600 it")
    return path.read_text().strip()


# -- the client ---------------------------------------------------------------------------


class ApiClientError(Exception):
    """A client-side failure with an operator-facing message."""


def call_api(
    address: str, token: str, method: str, path: str, body: Any = None, timeout: float = 5.0
) -> Any:
    """One API call; returns the decoded JSON or raises ApiClientError with the reason."""
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(f"http://{address}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", exc.reason)
        except (ValueError, AttributeError):
            reason = exc.reason
        if exc.code == 401:
            raise ApiClientError(f"the API at {address} refused the token (401): {reason}") from exc
        raise ApiClientError(f"{reason} ({exc.code})") from exc
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", exc)
        raise ApiClientError(f"cannot reach the operator API at {address}: {why}") from exc


def resolve_api(name: str, api: str | None, token: str | None) -> tuple[str, str]:
    """(address, token) of instance `name`: flags, else the region's instance
    blob and WIREMATCH_TOKEN / the token file."""
    if not api:
        from wirematch.pipeline.native.shm import RegionError
        from wirematch.pipeline.ops.status import attach, read_instance

        try:
            with attach(name) as region:
                distrust = region.untrusted_reason()
                if distrust:
                    # Never send the token to an address an untrusted region names.
                    raise ApiClientError(
                        f"not trusting region {name!r}: {distrust}; pass --api to "
                        "name the API's address yourself"
                    )
                instance = read_instance(region)
                running = (
                    region.counters(APPLIANCE_BLOCK)[RUNNING]
                    if any(o.name == APPLIANCE_BLOCK for o in region.objects())
                    else 1
                )
        except RegionError as exc:
            raise ApiClientError(str(exc)) from exc
        if not instance or "error" in instance:
            raise ApiClientError(f"instance {name!r} publishes no instance facts; pass --api")
        if not running:
            raise ApiClientError(f"instance {name!r} has stopped (its region remains)")
        api = str(instance.get("api") or "")
        if not api:
            raise ApiClientError(
                f"instance {name!r} runs without the operator API (set [api] token)"
            )
    token = token or os.environ.get("WIREMATCH_TOKEN") or read_token_file(name)
    return api, token


# -- CLI commands -------------------------------------------------------------------------


def render_book(book: Book) -> str:
    """The ladder: L2 levels side by side, then the L3 orders at them."""
    lines = [f"{book['symbol']} ({book['state']}), {book['live_orders']} live order(s)"]
    bids, asks = book["l2"]["bids"], book["l2"]["asks"]
    lines.append(f"{'orders':>6} {'qty':>12} {'bid':>12} | {'ask':<12} {'qty':<12} {'orders':<6}")
    for i in range(max(len(bids), len(asks))):
        b = bids[i] if i < len(bids) else None
        a = asks[i] if i < len(asks) else None
        left = f"{b['orders']:>6} {b['qty']:>12,} {b['price']:>12}" if b else " " * 32
        right = f"{a['price']:<12} {a['qty']:<12,} {a['orders']:<6}" if a else ""
        lines.append(f"{left} | {right}".rstrip())
    if not bids and not asks:
        lines.append("  (empty book)")
    for side in ("bids", "asks"):
        orders = book["l3"][side]
        if orders:
            lines.append(f"{side[:-1]} orders (time priority per level):")
            for o in orders:
                lines.append(
                    f"  ref {o['order_ref']:<10} session {o['session']:<6} "
                    f"user ref {o['user_ref']:<10} {o['qty']:>10,} @ {o['price']}"
                )
    if book["truncated"]:
        lines.append("(truncated: the book holds more than one answer carries)")
    return "\n".join(lines)


def _client_call(args: argparse.Namespace, method: str, path: str, shape: Any) -> Any:
    """One API call for a CLI command; its answer must have `shape`."""
    from wirematch.output import CliError

    try:
        api, token = resolve_api(args.name, args.api, args.token)
        data = call_api(api, token, method, path)
    except ApiClientError as exc:
        raise CliError(str(exc)) from exc
    errors = shape_errors(data, shape)
    if errors:
        raise CliError(
            f"the API answered {method} {path} with something other than a "
            f"{_type_name(shape)}: {'; '.join(errors[:3])}"
        )
    return data


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=_json_default) if args.json else text)


def cmd_book(args: argparse.Namespace) -> None:
    from wirematch.output import CliError

    if not 1 <= args.depth <= MAX_DEPTH:
        raise CliError(f"--depth must be 1..{MAX_DEPTH}")
    sym = urllib.parse.quote(args.symbol, safe="")
    data = _client_call(args, "GET", f"/v1/book/{sym}?depth={args.depth}", Book)
    _print(args, data, render_book(data))


def cmd_halt(args: argparse.Namespace) -> None:
    sym = urllib.parse.quote(args.symbol, safe="")
    data = _client_call(args, "POST", f"/v1/instruments/{sym}/halt", InstrumentState)
    _print(args, data, f"{data['symbol']}: {data['state']}")


def cmd_resume(args: argparse.Namespace) -> None:
    sym = urllib.parse.quote(args.symbol, safe="")
    data = _client_call(args, "POST", f"/v1/instruments/{sym}/resume", InstrumentState)
    _print(args, data, f"{data['symbol']}: {data['state']}")


def cmd_cancel_all(args: argparse.Namespace) -> None:
    session = urllib.parse.quote(args.session, safe="")
    data = _client_call(args, "POST", f"/v1/sessions/{session}/cancel-all", Cancelled)
    _print(args, data, f"session {data['session']}: {data['cancelled']} order(s) cancelled")


def render_instruments(rows: list[Instrument]) -> str:
    def px(v: int | None) -> str:
        return "-" if v is None else f"{v:,}"

    lines = [f"{'symbol':10} {'id':>5} {'state':8} {'tick':>8} {'best bid':>14} {'best ask':>14}"]
    for r in rows:
        lines.append(
            f"{r['symbol']:10} {r['id']:>5} {r['state']:8} {r['tick_size']:>8,} "
            f"{px(r['best_bid']):>14} {px(r['best_ask']):>14}"
        )
    return "\n".join(lines)


def cmd_instruments(args: argparse.Namespace) -> None:
    data = _client_call(args, "GET", "/v1/instruments", dict[str, list[Instrument]])
    rows = data.get("instruments", [])
    _print(args, rows, render_instruments(rows))


CLIENT_ARGS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("--name",), {"default": DEFAULT_NAME, "help": "instance name"}),
    (("--api",), {"default": None, "help": "host:port of the API (default: from the instance)"}),
    (
        ("--token",),
        {
            "default": None,
            "help": "API token (default: $WIREMATCH_TOKEN, then /run/wirematch/NAME.token)",
        },
    ),
)


def register_commands(register: Callable[[Command], None]) -> None:
    from wirematch.output import Command

    sym = (("symbol",), {"help": "instrument symbol"})
    register(
        Command(
            ("book",),
            cmd_book,
            "an instrument's order book: L2 levels and the L3 orders resting at them",
            (
                sym,
                (("--depth",), {"type": int, "default": DEFAULT_DEPTH, "help": "levels per side"}),
                *CLIENT_ARGS,
            ),
        )
    )
    register(
        Command(
            ("instruments",),
            cmd_instruments,
            "the instruments: trading state, tick size, best bid and ask",
            CLIENT_ARGS,
        )
    )
    register(Command(("halt",), cmd_halt, "halt trading in an instrument", (sym, *CLIENT_ARGS)))
    register(
        Command(("resume",), cmd_resume, "resume trading in an instrument", (sym, *CLIENT_ARGS))
    )
    register(
        Command(
            ("cancel-all",),
            cmd_cancel_all,
            "cancel every resting order of a client session",
            ((("session",), {"help": "session id"}), *CLIENT_ARGS),
        )
    )
