"""Small text helpers shared by every layer: blank form values, plurals, durations.

Bottom layer: imports nothing of the library, so that any module may use it.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, List, Sequence


def is_blank(value) -> bool:
    """An unset form field: DSS sends None, "" or an empty list for a field left empty."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict)):
        return len(value) == 0
    return False


def plural(count: int, word: str) -> str:
    """``1 row``, ``2 rows``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def format_duration(seconds: Any) -> str:
    """Seconds as a short human duration: ``0.4s``, ``12.3s``, ``2m 05s``, ``1h 02m``; ``–`` when unknown."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "–"
    seconds = max(0.0, float(seconds))
    if seconds < 59.95:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def close_names(name: str, candidates: Sequence[str], *, n: int = 3, cutoff: float = 0.6) -> List[str]:
    """What ``name`` was probably meant to be: case-insensitive equals first, then difflib's closest (at most ``n``)."""
    candidates = list(candidates)
    lowered = name.lower()
    close = [c for c in candidates if c.lower() == lowered and c != name]
    close += [c for c in difflib.get_close_matches(name, candidates, n=n, cutoff=cutoff) if c not in close]
    return close[:n]


def did_you_mean(name: str, candidates: Sequence[str], *, n: int = 3) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the names close to ``name`` (``""`` when none is)."""
    close = close_names(name, candidates, n=n)
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""


def one_line(error: Any, limit: int = 300) -> str:
    """``str(error)`` on one line (whitespace collapsed), cut at ``limit`` characters with an ellipsis."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + "…"


__all__ = ["close_names", "did_you_mean", "format_duration", "is_blank", "one_line", "plural"]
