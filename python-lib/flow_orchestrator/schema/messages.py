"""DSS's schema propagation results in plain words: where it stopped, why, and a one-line summary (pure parsing)."""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ..errors import FlowOrchestratorError
from .diff import SchemaDiff, diff_snapshots, with_changes

# ------------------------------------------------------------------------------------ propagation results


class PropagationError(FlowOrchestratorError):
    """DSS's schema propagation stopped; ``recipe`` names where, when DSS said so."""

    def __init__(self, message: str, recipe: Optional[str] = None, code: Optional[str] = None, dss_message: str = ""):
        super().__init__(message)
        self.recipe = recipe
        self.code = code
        self.dss_message = dss_message


_QUOTED_RECIPE = re.compile(r"\brecipe\s*:?\s*['\"`\u2018\u201c]([^'\"`\u2019\u201d\s]+)['\"`\u2019\u201d]", re.I)
_BARE_RECIPE = re.compile(r"\brecipe\s*:?\s+([A-Za-z0-9_][A-Za-z0-9_.\-]*)", re.I)
_NOT_A_NAME = frozenset(
    {
        "a", "an", "the", "type", "types", "settings", "setting", "input", "inputs", "output", "outputs", "is",
        "has", "was", "cannot", "can", "schema", "of", "for", "and", "or", "to", "in", "with", "config",
        "configuration", "payload", "status", "engine", "run", "that", "which", "not", "may", "must", "will",
    }
)  # fmt: skip


def stopped_at_recipe(error_text: Optional[str]) -> Optional[str]:
    """The recipe a DSS error text names ("... in recipe compute_x ..."), without its project key."""
    if not error_text:
        return None
    candidates = [match.group(1) for match in _QUOTED_RECIPE.finditer(error_text)]
    candidates += [match.group(1) for match in _BARE_RECIPE.finditer(error_text)]
    for candidate in candidates:
        name = candidate.rstrip(".,;:)")
        if name.lower() in _NOT_A_NAME or not name:
            continue
        if "." in name:
            project, _, rest = name.partition(".")
            if project.isupper() and rest:
                name = rest
        return name
    return None


def propagation_error(error_text: str, source: Optional[str] = None, code: Optional[str] = None) -> PropagationError:
    """Turn a DSS error text from a failed propagation into an error naming the recipe and the way out."""
    text = " ".join(str(error_text or "").split()) or "DSS gave no details"
    recipe = stopped_at_recipe(text)
    origin = f"Schema propagation from '{source}'" if source else "Schema propagation"
    prefix = f"[{code}] " if code else ""
    if recipe:
        message = (
            f"{origin} stopped at recipe '{recipe}': {prefix}{text}. Open recipe '{recipe}' in DSS and fix its "
            f"settings for the new schema (or exclude it with stop_at / mark it as OK), then run the propagation again."
        )
    else:
        message = (
            f"{origin} failed: {prefix}{text}. DSS did not name the recipe; open the Flow's schema propagation tool "
            f"from '{source or 'the source dataset'}' to see where it stopped."
        )
    return PropagationError(message, recipe=recipe, code=code, dss_message=text)


def _messages(result: Optional[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
    if not isinstance(result, Mapping):
        return []
    return [item for item in result.get("messages") or [] if isinstance(item, Mapping)]


def _message_text(message: Mapping[str, Any]) -> str:
    parts = [str(message.get(key)) for key in ("title", "message", "details") if message.get(key)]
    unique = []
    for part in parts:
        if part not in unique:
            unique.append(part)
    return ": ".join(unique)


def propagation_failure(
    result: Optional[Mapping[str, Any]], source: Optional[str] = None
) -> Optional[PropagationError]:
    """The error of a finished propagation whose result (DSS ``InfoMessages``) reports an ERROR, else None."""
    for message in _messages(result):
        if message.get("severity") == "ERROR" or message.get("isFatal"):
            return propagation_error(_message_text(message), source=source, code=message.get("code"))
    if isinstance(result, Mapping) and (result.get("fatal") or result.get("error")):
        return propagation_error("DSS reported an error without a message", source=source)
    return None


def summarise_propagation(
    before_snapshot: Mapping[str, Sequence[Mapping]],
    after_snapshot: Mapping[str, Sequence[Mapping]],
    propagation_result: Optional[Mapping[str, Any]] = None,
) -> List[SchemaDiff]:
    """The datasets whose schema a propagation changed, in snapshot order.

    Each diff carries, as ``notes``, the propagation's messages (``severity code: title``) that name its dataset,
    so a report shows the warnings next to the dataset they concern.
    """
    diffs = [diff for diff in diff_snapshots(before_snapshot, after_snapshot).values() if diff.changed]
    messages = _messages(propagation_result)
    summarised = []
    for diff in diffs:
        pattern = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(diff.dataset) + r"(?![A-Za-z0-9_])")
        notes = tuple(
            "{} {}{}".format(
                message.get("severity") or "INFO",
                f"{message.get('code')}: " if message.get("code") else "",
                _message_text(message),
            )
            for message in messages
            if pattern.search(_message_text(message))
        )
        summarised.append(with_changes(diff, notes=notes) if notes else diff)
    return summarised


def propagation_messages(result: Optional[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """The propagation's messages as ``{"severity", "code", "text", "recipe"}`` for a report."""
    return [
        {
            "severity": message.get("severity") or "INFO",
            "code": message.get("code"),
            "text": _message_text(message),
            "recipe": stopped_at_recipe(_message_text(message)),
        }
        for message in _messages(result)
    ]


__all__ = [
    "PropagationError",
    "stopped_at_recipe",
    "propagation_error",
    "propagation_failure",
    "summarise_propagation",
    "propagation_messages",
]
