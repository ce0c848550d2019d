"""One way to keep secrets in: every string that leaves the process (output, logs, records, reports, exception
messages) goes through :func:`redact`, every JSON-like value through :func:`scrub`, every URL shown or kept through
:func:`public_url`.

Two nets. The literal value of every secret the process holds (the API key in use, a preset's key, the password of a
URL) is registered once, where it enters (:func:`register_secret`, called by ``dss.connect``), and replaced wherever
it appears, whatever surrounds it: a recipe error quoting the key verbatim is caught. Patterns catch the secrets the
process never held (``password=...`` in a job log, an ``Authorization`` header, credentials in a JDBC URL).
Everything becomes ``***``.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from typing import Any, List, Mapping, Optional, Tuple
from urllib.parse import quote, unquote, urlsplit, urlunsplit

#: Shorter values are not registered: replacing every "ab" of a text would say nothing and hide much.
MIN_SECRET_LENGTH = 4
MASK = "***"

_lock = threading.Lock()
_secrets: List[str] = []  # longest first, so that a secret containing another is replaced whole

_SECRET_KEY = (
    r"[A-Za-z0-9_.-]*(?:api[_-]?key|apikey|api[_-]?ticket|apiticket|ticket|secret|password|passwd|pwd|"
    r"access[_-]?token|refresh[_-]?token|auth[_-]?token|token|credentials?)"
)
_REDACTIONS = (
    # Authorization: Bearer xxx / Basic xxx (header or prose)
    (re.compile(r"(\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{4,}", re.IGNORECASE), r"\1***"),
    # "apiKey": "value with spaces" (JSON, possibly escaped inside another string)
    (
        re.compile(
            r"((?<![A-Za-z0-9])" + _SECRET_KEY + r'\\?["\']?\s*[:=]\s*\\?")((?:[^"\\]|\\(?!"))*)(\\?")', re.IGNORECASE
        ),
        r"\1***\3",
    ),
    (re.compile(r"((?<![A-Za-z0-9])" + _SECRET_KEY + r"\\?[\"']?\s*[:=]\s*')([^']*)(')", re.IGNORECASE), r"\1***\3"),
    # api_key=value, X-DKU-APITicket: value, password: value
    (
        re.compile(
            r"((?<![A-Za-z0-9])" + _SECRET_KEY + r"[\"']?\s*[:=]\s*)(?![\s\"'*])([^\s\"',;&}\]]+)", re.IGNORECASE
        ),
        r"\1***",
    ),
    # --api-key value, --password value
    (re.compile(r"(--(?:api-key|apikey|password|token|ticket|secret)(?:=|\s+))(?!\*\*\*)\S+", re.IGNORECASE), r"\1***"),
    # scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s:@]+(?::[^/\s@]*)?@", re.IGNORECASE), r"\1***@"),
)


def register_secret(value: Optional[str]) -> None:
    """Redact ``value`` (and its URL-encoded form) from everything this process writes from now on."""
    if not isinstance(value, str) or len(value.strip()) < MIN_SECRET_LENGTH:
        return
    forms = {value, value.strip(), quote(value, safe=""), unquote(value)}
    with _lock:
        for form in forms:
            if len(form) >= MIN_SECRET_LENGTH and form not in _secrets:
                _secrets.append(form)
        _secrets.sort(key=len, reverse=True)


def register_url_credentials(url: Optional[str]) -> None:
    """Register the user name and password of ``scheme://user:password@host`` (a URL may carry them)."""
    if not isinstance(url, str) or "@" not in url:
        return
    text = url.strip()
    try:
        parts = urlsplit(text if "://" in text else "//" + text)  # "user:pw@host" without a scheme too
    except ValueError:
        return
    if parts.password:
        register_secret(parts.password)
    if parts.username and parts.password is None:
        register_secret(parts.username)  # a lone user info is a token (https://TOKEN@host)


def forget_secrets() -> None:
    """Forget every registered secret (for tests that check one process's runs one by one)."""
    with _lock:
        _secrets.clear()


def redact(text: Optional[str]) -> Optional[str]:
    """``text`` with the registered secrets, API keys, tickets, passwords, auth headers and URL credentials as ``***``."""
    if not text:
        return text
    with _lock:
        known = tuple(_secrets)
    return _redact(text, known)


def _redact(text: str, known: Tuple[str, ...]) -> str:
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    if _PATTERN_WORD.search(text.lower()):  # most texts (names, ids) hold none: no pattern can match
        for pattern, replacement in _REDACTIONS:
            text = pattern.sub(replacement, text)
    return text


#: Every pattern of ``_REDACTIONS`` needs one of these words (lower case).
_PATTERN_WORDS = ("bearer", "basic", "key", "ticket", "secret", "pass", "pwd", "token", "credential", "@", "--")
#: Any of them, in one search of the lowered text (a record of 20,000 recipes holds hundreds of thousands of strings).
_PATTERN_WORD = re.compile("|".join(re.escape(word) for word in _PATTERN_WORDS))


def scrub(value: Any) -> Any:
    """A copy of a JSON-like value with the values of secret-looking keys masked and every string redacted."""
    with _lock:
        known = tuple(_secrets)
    return _scrub(value, known)


def _scrub(value: Any, known: Tuple[str, ...]) -> Any:
    kind = type(value)  # the exact JSON types first: an isinstance check against Mapping (an ABC) is slow
    if kind is str:
        return _redact(value, known) if value else value
    if kind is dict:
        return _scrub_dict(value, known)
    if kind is list or kind is tuple:
        return [_scrub(v, known) for v in value]
    if kind in _PLAIN_SCALARS:
        return value
    if isinstance(value, str):
        return _redact(value, known) if value else value
    if isinstance(value, (dict, Mapping)):
        return {
            k: (MASK if _is_secret_field(k) and v not in (None, "") else _scrub(v, known)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_scrub(v, known) for v in value]
    return value


def _scrub_dict(value: dict, known: Tuple[str, ...]) -> dict:
    """:func:`_scrub` of a plain dict, its scalar and string values handled in place (a record of 20,000 recipes
    holds a million values: a call each costs a second)."""
    out = {}
    for k, v in value.items():
        kind = type(v)
        if _is_secret_field(k) and v not in (None, ""):
            out[k] = MASK
        elif kind in _PLAIN_SCALARS:
            out[k] = v
        elif kind is str:
            out[k] = _redact(v, known) if v else v
        else:
            out[k] = _scrub(v, known)
    return out


def public_url(url: Optional[str]) -> Optional[str]:
    """``url`` without its user info (``user:password@``): the form of a URL to show, link or keep in a record."""
    if not isinstance(url, str) or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return redact(url)
    if not parts.netloc or "@" not in parts.netloc or not host:
        return url
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


#: Values :func:`_scrub` returns as they are.
_PLAIN_SCALARS = frozenset({int, float, bool, type(None)})


@functools.lru_cache(maxsize=1024)
def _is_secret_field(key: Any) -> bool:
    return bool(_SECRET_FIELD.search(str(key)))


#: Keys of a JSON object whose value is a secret whatever it looks like (``apiKey``, ``password``...).
_SECRET_FIELD = re.compile(r"api[_-]?key|apikey|ticket|password|passwd|secret|token|credential", re.IGNORECASE)


class RedactingFilter(logging.Filter):
    """A handler filter: the formatted message and any traceback of every log record, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class RedactedStream:
    """A text stream (``sys.stderr``) that redacts what is written to it: for live output built from DSS's words."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(redact(text) or "")

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        isatty = getattr(self._stream, "isatty", None)
        return bool(isatty()) if callable(isatty) else False


def redact_log_handlers(logger: Optional[logging.Logger] = None) -> None:
    """Put a :class:`RedactingFilter` on every handler of ``logger`` (the root logger by default), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
