"""What a failed DSS job tells us: is it worth retrying, where is the cause in its log, and no secrets in either.

Pure text functions: the runner feeds them ``JobSnapshot.failure_message`` / ``failure_type`` and the job log.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional, Pattern, Sequence, Tuple

from .errors import ConfigError
from .redaction import redact

# --------------------------------------------------------------------------------------------------------------------
# Transient or permanent
# --------------------------------------------------------------------------------------------------------------------

#: Errors that say "the infrastructure hiccupped", not "the recipe is wrong": retrying may succeed.
_TRANSIENT_PATTERNS = (
    # network
    r"connection\s+(?:was\s+)?(?:refused|reset|aborted|closed|timed\s*out|lost|error|failure|dropped)",
    r"\b(?:ConnectionError|ConnectionResetError|ConnectionRefusedError|ConnectionAbortedError|ConnectException)\b",
    r"\b(?:BrokenPipeError|broken\s+pipe|SocketException|SocketTimeoutException|EOFException)\b",
    r"could\s+not\s+connect\s+to\s+server",
    r"communications\s+link\s+failure",
    r"network\s+is\s+unreachable|no\s+route\s+to\s+host|remote\s+end\s+closed\s+connection",
    r"temporar(?:y|ily)\s+(?:failure|unavailable)",
    r"try\s+again\s+later",
    # the DSS backend went away under the job (restart, crash): the recipe itself was fine
    r"(?:DSS|backend)\s+(?:was\s+)?restarted|\bProcessDiedException\b|job\s+was\s+lost",
    # HTTP
    r"\bHTTP(?:/\d(?:\.\d)?)?\s*(?:status\s*)?(?:code\s*)?[:=]?\s*(?:5\d\d|408|425|429)\b",
    r"\b(?:5\d\d|408|425|429)\s+(?:Server\s+Error|Internal\s+Server\s+Error|Bad\s+Gateway|Service\s+Unavailable|"
    r"Gateway\s+Time-?out|Request\s+Time-?out|Too\s+Many\s+Requests|Too\s+Early)\b",
    r"\b(?:Bad\s+Gateway|Service\s+Unavailable|Gateway\s+Time-?out|Too\s+Many\s+Requests)\b",
    # time-outs
    r"\btime[sd]?[\s_-]?out\b|\btimeout(?:error|exception)?\b",
    # databases
    r"too\s+many\s+(?:connections|clients|sessions)",
    r"remaining\s+connection\s+slots\s+are\s+reserved",
    r"\bdeadlock",
    r"could\s+not\s+serialize\s+access",
    r"lock\s+wait\s+timeout",
    r"server\s+closed\s+the\s+connection\s+unexpectedly",
    # DSS codes
    r"\bERR_SQL_DB_UNREACHABLE\b",
    r"\bERR_SQL_POSTGRESQL_TOOMANYSESSIONS\b",
    r"\bERR_CONNECTION_[A-Z_]+\b",
)

#: Errors in the recipe itself (code, configuration, data): retrying gives the same result. They win over the
#: transient patterns, so ``KeyError: 'timeout'`` stays permanent.
_PERMANENT_PATTERNS = (
    r"<class\s+'(?:KeyError|NameError|TypeError|ValueError|AttributeError|SyntaxError|IndentationError|IndexError|"
    r"ZeroDivisionError|ImportError|ModuleNotFoundError|AssertionError|NotImplementedError|UnboundLocalError)'>",
    r"^(?:KeyError|NameError|TypeError|ValueError|AttributeError|SyntaxError|IndexError|ZeroDivisionError|"
    r"ImportError|ModuleNotFoundError|AssertionError)\b",
    r"\bERR_RECIPE_[A-Z_]+\b",
    r"\bERR_SCHEMA_[A-Z_]+\b",
    r"\bERR_DATASET_[A-Z_]+\b",
    r"\bERR_PLUGIN_[A-Z_]+\b",
    r"\bERR_MISC_ENOSPC\b",
)

_TRANSIENT_RE = re.compile("|".join(f"(?:{p})" for p in _TRANSIENT_PATTERNS), re.IGNORECASE)
_PERMANENT_RE = re.compile("|".join(f"(?:{p})" for p in _PERMANENT_PATTERNS), re.IGNORECASE | re.MULTILINE)


def compile_patterns(patterns: Iterable[str], field: str = "retry.transient_patterns") -> Tuple[Pattern[str], ...]:
    """Compile the user's extra transient patterns once, naming the bad one if any (before any job starts)."""
    compiled = []
    problems = []
    for i, pattern in enumerate(patterns):
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            problems.append(
                (f"{field}[{i}]", f"{pattern!r} is not a valid regular expression ({exc}); fix or remove it")
            )
    if problems:
        raise ConfigError(problems)
    return tuple(compiled)


def classify(message: Optional[str], error_type: Optional[str] = None, extra_patterns: Sequence = ()) -> bool:
    """True when the failure is transient (worth retrying), False when permanent.

    ``extra_patterns`` (strings or compiled regular expressions, matched case-insensitively against the message
    and the error type) mark more errors as transient and win over everything else: the user knows best.
    Otherwise recipe errors (Python ``KeyError``..., ``ERR_RECIPE_...``) are permanent, infrastructure errors
    (connections, HTTP 5xx, time-outs, too many sessions, deadlocks, ``ERR_SQL_DB_UNREACHABLE``...) are transient,
    and anything unknown is permanent, so a broken recipe is never run twice for nothing.
    """
    text = "\n".join(t for t in (error_type, message) if t)
    if not text:
        return False
    for pattern in extra_patterns:
        regex = compile_patterns([pattern])[0] if isinstance(pattern, str) else pattern
        if regex.search(text):
            return True
    if _PERMANENT_RE.search(text):
        return False
    return bool(_TRANSIENT_RE.search(text))


# --------------------------------------------------------------------------------------------------------------------
# Log excerpt
# --------------------------------------------------------------------------------------------------------------------

#: ``[2026/09/02-14:34:00.900] [thread] [LEVEL] [logger] NDC - message`` (DSS's log4j layout).
_LOG4J_RE = re.compile(r"^\[[^\]]*\] \[[^\]]*\] \[(?P<level>[A-Z]+)\] \[[^\]]*\] (?P<ndc>.*?) - (?P<msg>.*)$")
#: Python logging inside a child process: ``2026-09-02 14:34:01,499 ERROR message``.
_PYLOG_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) (?P<msg>.*)$")
_FRAME_RE = re.compile(r"^\s*(?:at\s+[\w$.<>/]+\(.*\)|\.\.\. \d+ (?:more|common frames omitted))\s*$")
_JAVA_EXCEPTION_RE = re.compile(r"^(?:Exception in thread \"[^\"]*\" )?[a-z][\w$]*(?:\.[\w$]+)+(?:Exception|Error)\b")
_ERROR_MARKERS = re.compile(
    r"Recipe code failed|Error in Python process|Job failed|Exception:|\bERR_[A-Z_]+\b|\bFAILED\b", re.IGNORECASE
)
_MAX_LINE_CHARS = 600
_CONTEXT_BEFORE = 3
_MAX_MESSAGE_LINES = 5

# Priorities: lower numbers are kept first when the excerpt must be shortened.
_P_TRACEBACK_TAIL = 0
_P_CAUSE = 1
_P_ERROR = 2
_P_TRACEBACK = 3
_P_CONTEXT = 4


def _split(line: str) -> Tuple[Optional[str], str]:
    """(log level or None, message) of one log line."""
    match = _LOG4J_RE.match(line)
    if match:
        message = match.group("msg")
        inner = _PYLOG_RE.match(message)
        if inner:
            return inner.group("level"), inner.group("msg")
        return match.group("level"), message
    inner = _PYLOG_RE.match(line)
    if inner:
        return inner.group("level"), inner.group("msg")
    return None, line


def _python_blocks(messages: List[str]) -> List[Tuple[int, int]]:
    """(first, last) line indexes of each Python traceback, DSS's "Begin/End Python stack" markers first."""
    blocks = []
    i, n = 0, len(messages)
    while i < n:
        text = messages[i]
        if "Begin Python stack" in text:
            end = i + 1
            while end < n and "End Python stack" not in messages[end]:
                end += 1
            blocks.append((i, min(end, n - 1)))
            i = end + 1
            continue
        if text.lstrip().startswith("Traceback (most recent call last)"):
            end = i + 1
            # frames and source lines are indented; the exception line is the first non-indented line after them
            while end < n and (messages[end].startswith((" ", "\t")) or not messages[end].strip()):
                end += 1
            # chained exceptions ("During handling..." / "The above exception...") continue the block
            while (
                end + 2 < n
                and messages[end + 1].strip() == ""
                and (
                    messages[end + 2].startswith("During handling")
                    or messages[end + 2].startswith("The above exception")
                )
            ):
                end += 3
                while end < n and (messages[end].startswith((" ", "\t", "Traceback")) or not messages[end].strip()):
                    end += 1
            blocks.append((i, min(end, n - 1)))
            i = end + 1
            continue
        i += 1
    return blocks


def extract_log_excerpt(log: Optional[str], max_lines: int = 60, max_chars: int = 6000) -> str:
    """A short, redacted excerpt of a DSS job log that points at the cause of the failure.

    Keeps Python tracebacks (whole, or their head and tail when too long), Java exception lines and their
    ``Caused by:`` chain each with its first ``at`` frame, ERROR lines and the few lines before the first error;
    drops the rest of the Java stack frames and the INFO noise. Omitted stretches show as ``[... N lines ...]``.
    Without any error marker it falls back to the log's last lines. Never longer than ``max_lines`` lines
    (plus omission markers) nor ``max_chars`` characters.
    """
    if not log:
        return ""
    lines = (redact(log) or "").splitlines()
    parsed = [_split(line) for line in lines]
    messages = [m for _, m in parsed]
    keep = {}  # line index -> priority

    def mark(index: int, priority: int) -> None:
        if 0 <= index < len(lines) and priority < keep.get(index, 99):
            keep[index] = priority

    in_block = set()
    for first, last in _python_blocks(messages):
        size = last - first + 1
        for k in range(first, last + 1):
            in_block.add(k)
            # the end of a traceback holds the exception and the failing line: most valuable
            mark(k, _P_TRACEBACK_TAIL if last - k < 6 or k == first else _P_TRACEBACK)
        if size > 1:
            mark(first, _P_TRACEBACK_TAIL)

    # lines since a Java exception line (its message may continue on a few lines before the first frame)
    since_exception = None
    for k, (level, message) in enumerate(parsed):
        stripped = message.strip()
        is_frame = bool(_FRAME_RE.match(stripped))
        if k in in_block:
            since_exception = None
            continue
        if stripped.startswith("Caused by:") or _JAVA_EXCEPTION_RE.match(stripped):
            mark(k, _P_CAUSE)
            since_exception = 0
            continue
        if is_frame:
            if since_exception is not None:
                mark(k, _P_CAUSE)  # the first frame says where it happened; the rest is noise
            since_exception = None
            continue
        if since_exception is not None and level is None and stripped and since_exception < _MAX_MESSAGE_LINES:
            mark(k, _P_CAUSE)  # continuation of the exception's message
            since_exception += 1
            continue
        since_exception = None
        if (
            level == "ERROR"
            or (level is None and _ERROR_MARKERS.search(stripped))
            or (level in ("INFO", "WARN") and re.search(r"Recipe code failed|Error in Python process", stripped))
        ):
            mark(k, _P_ERROR)

    if not keep:
        tail_start = max(0, len(lines) - max_lines)
        chosen = list(range(tail_start, len(lines)))
    else:
        first_error = min(keep)
        for k in range(max(0, first_error - _CONTEXT_BEFORE), first_error):
            if not _FRAME_RE.match(messages[k].strip()):
                mark(k, _P_CONTEXT)
        chosen = _choose(keep, max_lines)
    return _render(lines, chosen, max_chars)


def _choose(keep: dict, max_lines: int) -> List[int]:
    """The highest-priority lines up to ``max_lines``, in log order (later lines first on ties: nearer the end)."""
    if len(keep) <= max_lines:
        return sorted(keep)
    ranked = sorted(keep, key=lambda k: (keep[k], -k))
    return sorted(ranked[:max_lines])


def _render(lines: List[str], chosen: List[int], max_chars: int) -> str:
    out: List[str] = []
    previous = -1
    for k in chosen:
        if k - previous > 1:
            out.append(f"[... {k - previous - 1} lines ...]")
        line = lines[k]
        if len(line) > _MAX_LINE_CHARS:
            line = line[:_MAX_LINE_CHARS] + " [...]"
        out.append(line)
        previous = k
    if previous < len(lines) - 1 and chosen:
        out.append(f"[... {len(lines) - 1 - previous} lines ...]")
    text = "\n".join(out)
    if len(text) <= max_chars:
        return text
    # too long: keep a little of the start and most of the end (the innermost cause and the final exception line)
    marker = "[... excerpt truncated ...]"
    budget = max_chars - len(marker) - 2
    head: List[str] = []
    used = 0
    for line in out:
        if used + len(line) + 1 > budget // 3:
            break
        head.append(line)
        used += len(line) + 1
    tail: List[str] = []
    for line in reversed(out[len(head) :]):
        if used + len(line) + 1 > budget:
            break
        tail.append(line)
        used += len(line) + 1
    tail.reverse()
    if not tail:  # one enormous line: cut it
        return (text[:budget] + "\n" + marker)[:max_chars]
    return "\n".join(head + [marker] + tail)[:max_chars]
