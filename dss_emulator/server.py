"""The HTTP side of the emulator: DSS's public REST API on a ThreadingHTTPServer (HTTP/1.1, keep-alive).

What a real DSS and the unmodified ``dataikuapi`` client need, and the traps they set (dataikuapi-surface.md §10):

* both prefixes ``/dip/publicapi`` and ``/public/api``; repeated slashes collapsed (``//dip/publicapi`` from a host
  given with a trailing slash); trailing slashes ignored, so both slash forms of every route match;
* path segments percent-decoded one by one (non-ASCII names; a ``%2F`` stays inside its segment);
* request bodies parsed as JSON whatever their ``Content-Type`` (the client sends none), GET bodies included;
* query booleans as ``True``/``False`` (any case); repeated keys kept as lists;
* errors as a JSON object ``{errorType, message, detailedMessage}`` with a DSS Java class name as ``errorType``;
* JSON answers with ``charset=utf-8`` and a ``Content-Length`` (the dataset listing, tens of megabytes in a large
  project, is chunked, as a servlet container sends a long answer); text answers ``text/plain; charset=utf-8``;
  ``iter_rows`` TSV streamed with chunked encoding and never gzip-encoded;
* HTTP Basic auth with the API key as user name: unknown key → 401 ``NotAuthenticatedException``; each call needs
  a project permission (reads *Read project content*, writes *Write project content*, see ``required_permission``)
  and a key without it gets 403 ``UnauthorizedException`` naming it (the read-only key has READ_CONF only; keys
  added with ``EmulatedDSS.add_api_key`` have the permissions given);
* request faults (500, dropped connection, slow answers) injected on public-API requests, not on ``/emulator/``.

Handlers live in :mod:`dss_emulator.api`; each returns a :class:`Response` or raises :class:`~dss_emulator.state.DSSError`.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import parse_qs, unquote

from .state import INTERNAL_ERROR, MALFORMED_REQUEST, NOT_AUTHENTICATED, NOT_FOUND, UNAUTHORIZED, DSSError

PUBLIC_PREFIXES = (("dip", "publicapi"), ("public", "api"))
ADMIN_PREFIX = ("emulator",)
READ_METHODS = frozenset({"GET", "HEAD"})
#: DSS's project permissions the plugin's calls need: every read it makes needs *Read project content*; every write
#: (job starts and aborts, schema and variable writes, schema propagation, metric computation, folder writes) needs
#: *Write project content*.
READ_CONF, WRITE_CONF = "READ_CONF", "WRITE_CONF"
PERMISSION_NAMES = {READ_CONF: "Read project content", WRITE_CONF: "Write project content"}


def required_permission(method: str) -> str:
    """The project permission a public-API call needs."""
    return READ_CONF if method in READ_METHODS else WRITE_CONF


_SLASHES = re.compile(r"/+")


class Response:
    """What a handler answers: a status, a content type and a body (bytes, or an iterator of chunks to stream)."""

    def __init__(
        self,
        status: int = 200,
        body: Any = b"",
        content_type: str = "application/json;charset=utf-8",
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}

    @property
    def streamed(self) -> bool:
        return not isinstance(self.body, (bytes, bytearray))


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value, ensure_ascii=False).encode("utf-8"))


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode("utf-8"), "text/plain;charset=utf-8")


def stream_response(chunks: Iterable[bytes], content_type: str) -> Response:
    return Response(200, iter(chunks), content_type)


def error_response(error: DSSError) -> Response:
    return json_response(error.to_json(), error.status)


class Request:
    """One parsed API request: method, decoded path segments (prefix removed), query lists, raw body."""

    def __init__(
        self, method: str, segments: List[str], query: Dict[str, List[str]], body: bytes, headers: Any, access: str
    ) -> None:
        self.method = method
        self.segments = segments
        self.query = query
        self.body = body
        self.headers = headers
        self.access = access  # "admin" or "read"
        self.path_params: Dict[str, str] = {}

    @property
    def path(self) -> str:
        return "/" + "/".join(self.segments)

    def arg(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> List[str]:
        return list(self.query.get(name) or [])

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query parameter, as ``requests`` sends Python bools (``True``/``False``)."""
        value = self.arg(name)
        if value is None or value == "":
            return default
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise DSSError(400, MALFORMED_REQUEST, f"Query parameter {name} must be True or False, got {value!r}")

    def json(self, required: bool = False) -> Any:
        """The body parsed as JSON whatever the Content-Type (the client sends none); None when empty."""
        if not self.body or not self.body.strip():
            if required:
                raise DSSError(400, MALFORMED_REQUEST, "Could not parse a JSON object from request body: body is empty")
            return None
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise DSSError(400, MALFORMED_REQUEST, f"Could not parse a JSON object from request body: {exc}") from None

    def multipart_part(self, field: str) -> Optional[Tuple[str, bytes]]:
        """(file name, bytes) of the multipart/form-data part named ``field``, as ``dataikuapi``'s uploads send it.

        None when the body is not multipart or has no such part (each endpoint words its own error). Parsed with the
        standard library's ``email`` parser (``cgi`` is gone from Python 3.13): the bytes come back exactly as sent.
        """
        content_type = self.headers.get("Content-Type") or ""
        if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
            return None
        head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self.body)
        if not message.is_multipart():
            return None
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == field:
                return part.get_filename() or "", part.get_payload(decode=True) or b""
        return None

    def json_object(self) -> dict:
        value = self.json(required=True)
        if not isinstance(value, dict):
            raise DSSError(
                400, MALFORMED_REQUEST, f"Could not parse a JSON object from request body: got {type(value).__name__}"
            )
        return value


Handler = Callable[[Any, Request], Response]


class Router:
    """Routes ``(method, path pattern)`` to handlers; ``{name}`` segments capture, literals win over captures.

    A last segment ``{name*}`` captures the rest of the path (one segment or more, joined with ``/``): a file path
    inside a managed folder. Such routes are tried after every fixed-length one.
    """

    def __init__(self) -> None:
        self._routes: List[Tuple[str, Tuple[str, ...], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        segments = tuple(s for s in pattern.strip("/").split("/") if s)
        self._routes.append((method, segments, handler))
        # Most literal segments first, so /jobs/running beats /jobs/{job}; rest-of-path captures last.
        self._routes.sort(
            key=lambda r: (
                bool(r[1]) and r[1][-1].endswith("*}"),
                -len(r[1]),
                -sum(1 for s in r[1] if not s.startswith("{")),
            )
        )

    def add_all(self, routes: Iterable[Tuple[str, str, Handler]]) -> None:
        for method, pattern, handler in routes:
            self.add(method, pattern, handler)

    def resolve(self, method: str, segments: List[str]) -> Tuple[Handler, Dict[str, str]]:
        allowed = []
        for route_method, pattern, handler in self._routes:
            params = _match(pattern, segments)
            if params is None:
                continue
            if route_method == method:
                return handler, params
            allowed.append(route_method)
        if allowed:
            raise DSSError(
                405,
                "com.dataiku.dip.server.controllers.MethodNotAllowedException",
                "Method {} is not supported on /{} (use {})".format(
                    method, "/".join(segments), ", ".join(sorted(set(allowed)))
                ),
            )
        raise DSSError(404, NOT_FOUND, "No public API endpoint at /{}".format("/".join(segments)))


def _match(pattern: Tuple[str, ...], segments: List[str]) -> Optional[Dict[str, str]]:
    if pattern and pattern[-1].endswith("*}"):
        head = len(pattern) - 1
        if len(segments) <= head:
            return None
        params = _match(pattern[:head], segments[:head])
        if params is not None:
            params[pattern[-1][1:-2]] = "/".join(segments[head:])
        return params
    if len(pattern) != len(segments):
        return None
    params = {}
    for expected, actual in zip(pattern, segments):
        if expected.startswith("{"):
            if actual == "":
                return None
            params[expected[1:-1]] = actual
        elif expected != actual:
            return None
    return params


def split_path(raw_path: str) -> Tuple[List[str], Dict[str, List[str]]]:
    """(decoded segments without empty ones, query) of a request target; ``//a//b/`` → ``["a", "b"]``."""
    path, _, query = raw_path.partition("?")
    path = path.split("#", 1)[0]
    segments = [
        unquote(s, encoding="utf-8", errors="replace") for s in _SLASHES.sub("/", path).strip("/").split("/") if s
    ]
    return segments, parse_qs(query, keep_blank_values=True)


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Serves the public API and the admin API of one emulator; one daemon thread per connection."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # many clients connect at once in benchmarks; the default of 5 drops SYNs

    def __init__(
        self,
        address: Tuple[str, int],
        context: Any,
        public: Router,
        admin: Router,
        api_key: str,
        read_only_api_key: Optional[str],
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.context = context
        self.public_router = public
        self.admin_router = admin
        self.api_key = api_key
        self.read_only_api_key = read_only_api_key
        self.key_permissions: Dict[str, frozenset] = {}  # further API keys and their project permissions
        self.stopping = threading.Event()
        self._count_lock = threading.Lock()
        self.request_count = 0

    def count_request(self) -> None:
        with self._count_lock:
            self.request_count += 1

    def permissions_of(self, access: str) -> frozenset:
        """The project permissions of an authenticated caller (``access`` as :meth:`access_for` gives it)."""
        if access == "admin":
            return frozenset(PERMISSION_NAMES)
        if access == "read":
            return frozenset({READ_CONF})
        return self.key_permissions.get(access, frozenset())

    def access_for(self, authorization: Optional[str]) -> Optional[str]:
        """ "admin", "read", another known key (its permissions in ``key_permissions``) or None (not authenticated)."""
        if not authorization or not authorization.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(authorization.split(None, 1)[1].strip()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        user = decoded.split(":", 1)[0]
        if user == self.api_key:
            return "admin"
        if self.read_only_api_key and user == self.read_only_api_key:
            return "read"
        if user in self.key_permissions:
            return user
        return None


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "DSS-Emulator/1.0"
    # Headers and body leave in one write (flushed in _send), and small answers are not held back by Nagle.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Quiet: the emulator runs inside test suites and benchmarks."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        body = self._read_body()
        if body is None:
            return
        segments, query = split_path(self.path)
        admin = tuple(segments[:1]) == ADMIN_PREFIX
        prefix = next((p for p in PUBLIC_PREFIXES if tuple(segments[: len(p)]) == p), None)
        if admin:
            router = self.server.admin_router
            segments = segments[1:]
        elif prefix is not None:
            router = self.server.public_router
            segments = segments[len(prefix) :]
            self.server.count_request()
            fault = self.server.context.faults.take_request_fault()
            if fault.delay:
                self.server.stopping.wait(fault.delay)
            if fault.mode == "drop":
                self.close_connection = True
                return
            if fault.mode in ("500", "503"):
                status = int(fault.mode)
                title = "Server Error" if status == 500 else "Service Unavailable"
                page = f"<html><body><h2>HTTP ERROR {status} {title}</h2>(injected by fail_requests)</body></html>"
                self._send(Response(status, page.encode("utf-8"), "text/html;charset=utf-8"))
                return
        else:
            self._send(
                error_response(
                    DSSError(
                        404,
                        NOT_FOUND,
                        f"No endpoint at {self.path}: the public API is under /dip/publicapi or /public/api",
                    )
                )
            )
            return
        access = self.server.access_for(self.headers.get("Authorization"))
        if access is None:
            self._send(
                error_response(
                    DSSError(
                        401,
                        NOT_AUTHENTICATED,
                        "Unknown API Key",
                        "Unknown API Key: authenticate with HTTP Basic, the API key as user name and an empty password",
                    )
                )
            )
            return
        request = Request(method, segments, query, body, self.headers, access)
        try:
            handler, params = router.resolve(method, segments)
            needed = required_permission(method)
            if access != "admin" and needed not in self.server.permissions_of(access):
                kind = "is read-only and cannot" if READ_CONF in self.server.permissions_of(access) else "cannot"
                raise DSSError(
                    403,
                    UNAUTHORIZED,
                    f"Permission denied: this API key {kind} {method} {request.path} (needs {needed})",
                    f"Permission denied: this API key {kind} {method} {request.path}: that needs the project "
                    f"permission {needed} ({PERMISSION_NAMES[needed]})",
                )
            if admin and access != "admin":
                raise DSSError(403, UNAUTHORIZED, "Permission denied: the emulator admin API needs the admin key")
            request.path_params = params
            response = handler(self.server.context, request)
        except DSSError as error:
            response = error_response(error)
        except Exception as exc:  # noqa: BLE001 - any emulator bug answers a DSS-shaped 500, never a dropped socket
            response = error_response(
                DSSError(500, INTERNAL_ERROR, "Internal error", f"Internal error: {type(exc).__name__}: {exc}")
            )
        self._send(response)

    def _read_body(self) -> Optional[bytes]:
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        if not length:
            return b""
        try:
            return self.rfile.read(int(length))
        except ValueError:
            self._send(error_response(DSSError(400, MALFORMED_REQUEST, f"Bad Content-Length {length!r}")))
            self.close_connection = True
            return None

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.streamed:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in _chunks(response.body):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _chunks(body: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in body:
        if chunk:
            yield chunk
