"""Connecting to DSS and reading its failures: the HTTP session, time-outs, and which errors are transient.

The bottom of the adapter: every other module of :mod:`flow_orchestrator.dss` uses it; it uses none of them.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import re
import threading
import time
from typing import Optional

from requests.adapters import HTTPAdapter

from ..errors import DSSAccessError
from ..redaction import register_secret, register_url_credentials

log = logging.getLogger(__name__)


#: Seconds to wait for any single HTTP answer; dataikuapi itself never times out.
DEFAULT_HTTP_TIMEOUT_S = 60.0


#: Pauses between attempts of a read that failed transiently (before the first job, nothing else retries them).
READ_RETRY_PAUSES_S = (0.5, 1.0, 2.0)


#: Slack when comparing DSS's start time of a job with the moment our unanswered start request was sent.
START_ADOPTION_SLACK_MS = 500


#: Longest wait for a job whose start got no answer to show up in the job list, before starting it again.
ADOPTION_WAIT_MAX_S = 5.0


#: Time limit of one metric computation: DSS answers ``computeMetricsFromIds`` once it has counted, which takes
#: minutes on a large file dataset; the ordinary HTTP time-out would turn every such count into a failure.
METRIC_TIMEOUT_S = 900.0


#: First and longest pause between two polls of a DSS future (schema propagation, metric computation); x1.5 each poll.
FUTURE_POLL_FIRST_S, FUTURE_POLL_MAX_S = 0.2, 5.0


#: Bytes read from the socket at a time when a listing is parsed as it arrives.
LISTING_CHUNK_BYTES = 256 * 1024


class FutureError(Exception):
    """A DSS future that did not give a result: ``kind`` is failed, aborted, timeout, cancelled or lost.

    ``detail`` keeps DSS's own error (``errorType: message``) of a failed future."""

    def __init__(self, kind: str, message: str, detail: str = ""):
        super().__init__(message)
        self.kind = kind
        self.detail = detail


class TimeoutAdapter(HTTPAdapter):
    """Gives every request of the client's session a time-out, so a hung DSS cannot hang a run.

    A call known to take long on DSS (a metric computation answers once counted) sets its own, per thread."""

    def __init__(self, timeout_s: float, **kwargs):
        self._timeout_s = timeout_s
        self._local = threading.local()
        super().__init__(**kwargs)

    @contextlib.contextmanager
    def longer_timeout(self, timeout_s: float):
        previous = getattr(self._local, "timeout_s", None)
        self._local.timeout_s = timeout_s
        try:
            yield
        finally:
            self._local.timeout_s = previous

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = getattr(self._local, "timeout_s", None) or self._timeout_s
        return super().send(request, **kwargs)


def settle_environment(session, url: str) -> None:
    """Read the environment's proxy and certificate settings for ``url`` once, then stop ``requests`` from reading
    them again on every request (a scan of the whole environment each time: a fifth of a millisecond of the run's
    one loop per call, thousands of calls in a large run). The answer is the same: the run talks to one instance
    and its environment does not change while it runs. Credentials from ``.netrc`` are never used: every request of
    the client carries its API key."""
    if not url or not getattr(session, "trust_env", False) or not hasattr(session, "merge_environment_settings"):
        return
    settings = session.merge_environment_settings(url, {}, None, session.verify, None)
    session.proxies = dict(settings.get("proxies") or {})
    session.verify = settings.get("verify", session.verify)
    session.trust_env = False


class StatusTracker:
    """Remembers, per thread, the HTTP status of the last answer: dataikuapi drops it from its exceptions."""

    def __init__(self):
        self._local = threading.local()
        self.clock_offset_ms: Optional[int] = None  # best estimate of (DSS clock - our clock), never too high
        self.last_start_ms: Optional[int] = None  # DSS's start time of the newest job started through this client

    def hook(self, response, *args, **kwargs):
        self._local.status = response.status_code
        self._local.content_type = response.headers.get("Content-Type") or ""
        now_ms = int(time.time() * 1000)
        server_ms = None
        request = response.request
        if (
            request is not None
            and request.method == "POST"
            and request.path_url.split("?")[0].endswith("/jobs/")
            and response.status_code == 200
        ):
            try:  # a started job's definition carries DSS's own start time, to the millisecond
                server_ms = int(response.json().get("initiationTimestamp") or 0) or None
            except (ValueError, AttributeError, TypeError):
                server_ms = None
            if server_ms is not None and (self.last_start_ms is None or server_ms > self.last_start_ms):
                self.last_start_ms = server_ms
        if server_ms is None and response.headers.get("Date"):
            try:  # to the second only
                server_ms = int(email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp() * 1000)
            except (TypeError, ValueError):
                server_ms = None
        if server_ms is not None:
            # Both samples are taken before the answer reaches us, so each is at most the true offset: keep the highest.
            offset = server_ms - now_ms
            if self.clock_offset_ms is None or offset > self.clock_offset_ms:
                self.clock_offset_ms = offset
        return response

    def reset(self) -> None:
        self._local.status = None

    @property
    def last_status(self) -> Optional[int]:
        return getattr(self._local, "status", None)

    @property
    def last_content_type(self) -> str:
        return getattr(self._local, "content_type", "")


def connect(url: str, api_key: str, *, verify_tls: bool = True, timeout_s: float = DEFAULT_HTTP_TIMEOUT_S):
    """A ``dataikuapi.DSSClient`` for ``url`` (no HTTP yet); bad URLs are rejected with the fix."""
    import dataikuapi

    register_secret(api_key)  # first: even the messages below must not show them
    register_url_credentials(str(url or ""))
    if not url or not str(url).startswith(("http://", "https://")):
        raise DSSAccessError(
            f"DSS URL {url!r} is not valid: give the instance's base URL, e.g. https://dss.example.com:11200 "
            "(--url, DSS_URL or the 'DSS instance' preset)."
        )
    if not api_key:
        raise DSSAccessError("No API key: set DSS_API_KEY, choose a 'DSS instance' preset or pass --api-key.")
    return new_client(dataikuapi.DSSClient, str(url).rstrip("/"), api_key, verify_tls=verify_tls)


def new_client(client_class, url: str, api_key: str, *, verify_tls: bool = True):
    """A client of whatever ``dataikuapi`` DSS bundles, certificate checks set the way that release takes them.

    Found by feature detection, never by version: ``no_check_certificate`` (clients 13.3.2 and later),
    ``insecure_tls`` (12.4 to 13.3.1), or neither (12.0 to 12.3: the client's requests session is told directly)."""
    import inspect

    try:
        parameters = inspect.signature(client_class.__init__).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "no_check_certificate" in parameters:
        return client_class(url, api_key, no_check_certificate=not verify_tls)
    if "insecure_tls" in parameters:
        return client_class(url, api_key, insecure_tls=not verify_tls)
    client = client_class(url, api_key)
    session = getattr(client, "_session", None)
    if not verify_tls and session is not None:
        session.verify = False
    return client


#: Statuses a proxy or a restarting DSS answers with, and 429 (rate limiting): worth retrying whatever the body says.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


#: ``errorType`` values (Java classes) of DSS error answers that say the backend was momentarily unable to answer,
#: not that the request was wrong; any other DSS error type is an answer about the request and is not retried.
TRANSIENT_ERROR_TYPES = frozenset(
    {
        "java.net.SocketTimeoutException",
        "java.net.ConnectException",
        "java.net.SocketException",
        "java.util.concurrent.TimeoutException",
        "org.eclipse.jetty.io.EofException",
    }
)


#: Words of a DSS error message that say the same, whatever the type wraps them.
_TRANSIENT_MESSAGE_MARKERS = ("connection reset", "connection refused", "timed out", "temporarily unavailable")


#: dataikuapi formats DSS's error answers as ``"<errorType>: <message>"``; bodies that are not DSS's JSON error
#: (a proxy's or a servlet container's page) become ``"Unknown error: ..."``.
_ERROR_TYPE = re.compile(r"^((?:[A-Za-z_$][\w$]*\.)+[A-Za-z_$][\w$]*):")


def error_type_of(message: str) -> Optional[str]:
    """The Java ``errorType`` at the head of a dataikuapi error message, or None when DSS gave none."""
    match = _ERROR_TYPE.match(message or "")
    return match.group(1) if match else None


def is_transient_answer(status: Optional[int], message: str) -> bool:
    """Whether an HTTP error answer is worth retrying: decided by DSS's error type and message, not by the status.

    DSS answers many deterministic errors (an illegal argument, an unknown object in a job definition) with HTTP 500
    and an ``errorType``: retrying those repeats the same refusal. A 500 without a DSS error type did not come from
    DSS's API layer (a proxy, a crashing servlet container) and is retried.
    """
    if status in TRANSIENT_STATUSES:
        return True
    if status != 500:
        return False
    error_type = error_type_of(message)
    if error_type is None:
        return True
    lowered = message.lower()
    return error_type in TRANSIENT_ERROR_TYPES or any(marker in lowered for marker in _TRANSIENT_MESSAGE_MARKERS)


def is_dss_answer(error: BaseException) -> bool:
    """True when DSS answered with an error (as opposed to not answering at all)."""
    from dataikuapi.utils import DataikuException

    return isinstance(error, DataikuException) or isinstance(getattr(error, "__cause__", None), DataikuException)


def exception_text(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= 2000 else text[:2000] + "…"


def dss_error_sentence(error: BaseException) -> Optional[str]:
    """One line for an error DSS answered that no caller turned into a library error (None for any other error):
    the request, naming its object (``Reading the settings of dataset X``), and DSS's first line."""
    from dataikuapi.utils import DataikuException

    if not isinstance(error, DataikuException):
        return None
    what = getattr(error, "request_description", None) or "A request to DSS"
    first = (str(error).strip().splitlines() or [""])[0] or type(error).__name__
    return f"{what} failed: DSS answered {first}"


#: How DSS says an object or a file is missing, whatever the HTTP status (the Java exception names vary by version).
_NOT_FOUND_MARKERS = ("notfoundexception", "filenotfoundexception", "does not exist", "no such file", "not found")


def is_not_found(status: Optional[int], message: str) -> bool:
    return status == 404 or any(marker in message.lower() for marker in _NOT_FOUND_MARKERS)


__all__ = [
    "DEFAULT_HTTP_TIMEOUT_S",
    "READ_RETRY_PAUSES_S",
    "START_ADOPTION_SLACK_MS",
    "ADOPTION_WAIT_MAX_S",
    "METRIC_TIMEOUT_S",
    "FUTURE_POLL_FIRST_S",
    "LISTING_CHUNK_BYTES",
    "FutureError",
    "TimeoutAdapter",
    "StatusTracker",
    "connect",
    "new_client",
    "TRANSIENT_STATUSES",
    "TRANSIENT_ERROR_TYPES",
    "error_type_of",
    "is_transient_answer",
    "is_dss_answer",
    "exception_text",
    "dss_error_sentence",
    "is_not_found",
    "FUTURE_POLL_MAX_S",
]
