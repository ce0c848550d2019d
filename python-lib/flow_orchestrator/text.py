"""Small text helpers shared by every layer: blank form values, plurals.

Bottom layer: imports nothing of the library, so that any module may use it.
"""

from __future__ import annotations


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


__all__ = ["is_blank", "plural"]
