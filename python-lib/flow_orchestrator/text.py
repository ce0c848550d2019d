"""Small text helpers shared by every layer: blank form values, plurals, durations.

Bottom layer: imports nothing of the library, so that any module may use it.
"""

from __future__ import annotations

import math
from typing import Any


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


__all__ = ["format_duration", "is_blank", "plural"]
