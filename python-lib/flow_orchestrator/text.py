"""Small text helpers shared by every layer: blank form values, plurals, durations.

Bottom layer: imports nothing of the library, so that any module may use it.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Optional, Sequence


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


def close_name(name: str, candidates: Sequence[str]) -> Optional[str]:
    """The one candidate ``name`` was probably meant to be (difflib first, then a case-insensitive match), or None."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if close:
        return close[0]
    lowered = {candidate.lower(): candidate for candidate in candidates}
    return lowered.get(name.lower())


def one_line(error: Any, limit: int = 300) -> str:
    """``str(error)`` on one line (whitespace collapsed), cut at ``limit`` characters with an ellipsis."""
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[:limit] + "…"


__all__ = ["close_name", "format_duration", "is_blank", "one_line", "plural"]
