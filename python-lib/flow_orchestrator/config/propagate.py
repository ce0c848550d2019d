"""The Propagate schema configuration: form or CLI values checked against ``propagate-config.schema.json`` and the
rules it cannot say, then turned into a :class:`PropagateConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping, Optional, Tuple

from ..errors import ConfigError
from .validation import checked_fields, split_on

#: Default time limit of one propagation (auto-rebuild runs a job per recipe, so it can take a while).
DEFAULT_TIMEOUT_S = 3600.0


#: The form's field names; the CLI passes its own flags instead (``--source``...), so messages name what users typed.
PROPAGATE_FORM_FIELDS = {
    "source_dataset": "source_dataset",
    "auto_rebuild": "auto_rebuild",
    "stop_at": "stop_at",
    "mark_as_ok": "mark_as_ok",
    "partition_values": "partition_values",
    "preview_only": "preview_only",
    "timeout_s": "timeout_s",
}


@dataclass(frozen=True)
class PropagateConfig:
    """What to propagate and how; ``partition_values`` are ``(dimension, value)`` defaults for partitioned datasets."""

    source_dataset: str
    auto_rebuild: bool = True
    stop_at: Tuple[str, ...] = ()
    mark_as_ok: Tuple[str, ...] = ()
    partition_values: Tuple[Tuple[str, str], ...] = ()
    preview_only: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S

    def to_dict(self) -> dict:
        return {
            "source_dataset": self.source_dataset,
            "auto_rebuild": self.auto_rebuild,
            "stop_at": list(self.stop_at),
            "mark_as_ok": list(self.mark_as_ok),
            "partition_values": {dimension: value for dimension, value in self.partition_values},
            "preview_only": self.preview_only,
            "timeout_s": self.timeout_s,
        }


#: Where a propagate config comes from, each the name of the schema definition it is checked against.
_SOURCES = ("macro", "cli")
_SCHEMA = "propagate-config.schema.json"
_SOURCE_MISSING = "choose the dataset whose schema changed (the propagation source)"


def _missing_source_message(error, path: list) -> Optional[str]:
    """The one required field, missing: say what to choose rather than "is required"."""
    return _SOURCE_MISSING if error.validator == "required" else None


def parse_propagate_config(
    raw: Optional[Mapping], field_names: Optional[Mapping[str, str]] = None, *, source: str = "macro"
) -> PropagateConfig:
    """The propagation settings from the macro form (``source="macro"``) or the command line (``"cli"``), checked
    against ``propagate-config.schema.json`` and then by the rules it cannot say; every problem at once, named by its
    field. Nothing is read from DSS.

    Keys: ``source_dataset`` (required), ``auto_rebuild`` (default true), ``stop_at`` and ``mark_as_ok`` (recipe
    names), ``partition_values`` (``dimension=value``), ``preview_only`` (default true, as on the form: nothing
    changes unless asked) and, from the command line only, ``timeout_s``. ``field_names`` maps these keys to the names
    the user typed (``{"source_dataset": "--source"}``) for the messages.
    """
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {_SOURCES}, not {source!r}")
    names = dict(PROPAGATE_FORM_FIELDS)
    names.update(field_names or {})
    values, valid, problems = checked_fields(  # a key of no field of this source is not read
        raw,
        _SCHEMA,
        source,
        names=names,
        split={"stop_at": split_on(","), "mark_as_ok": split_on(",")},
        describe=_missing_source_message,
    )
    stop_at = _unique_names(valid, "stop_at", names, problems)
    mark_as_ok = _unique_names(valid, "mark_as_ok", names, problems)
    for recipe in stop_at:
        if recipe in mark_as_ok:
            problems.append(
                (
                    names["mark_as_ok"],
                    f"recipe '{recipe}' is also in {names['stop_at']}: a recipe is either where the "
                    "propagation stops or one it passes as OK; keep it in one list",
                )
            )
    partition_values = _partition_values(valid.get("partition_values"), names["partition_values"], problems)
    if problems:
        raise ConfigError(problems)
    return PropagateConfig(
        source_dataset=values["source_dataset"],
        auto_rebuild=values.get("auto_rebuild", True),
        stop_at=stop_at,
        mark_as_ok=mark_as_ok,
        partition_values=partition_values,
        preview_only=values.get("preview_only", True),
        timeout_s=float(values.get("timeout_s", DEFAULT_TIMEOUT_S)),
    )


def _unique_names(values: Mapping, key: str, names: Mapping[str, str], problems: List[Tuple[str, str]]):
    """The names of a list (entries that are not text were named by the schema), each kept once; a name listed
    again is a problem at its place."""
    kept: List[str] = []
    for index, name in enumerate(values.get(key, ())):
        if not isinstance(name, str):
            continue
        if name in kept:
            problems.append((f"{names[key]}[{index}]", f"recipe '{name}' is listed twice"))
        else:
            kept.append(name)
    return tuple(kept)


def _partition_values(value, name: str, problems: List[Tuple[str, str]]) -> Tuple[Tuple[str, str], ...]:
    """``{"dimension": "value"}`` or ``["dimension=value", ...]``, each dimension once (entries of a wrong type were
    named by the schema)."""
    if value is None:
        return ()
    items = []
    if isinstance(value, Mapping):
        items = [(str(k), str(v), f"{name}.{k}") for k, v in value.items() if _is_text_or_number(v)]
    else:
        for index, text in enumerate(value):
            if not isinstance(text, str):
                continue
            dimension, separator, chosen = text.partition("=")
            if not separator:
                problems.append(
                    (f"{name}[{index}]", f"write 'dimension=value' (e.g. 'day=2024-05-01'); found {text!r}")
                )
                continue
            items.append((dimension, chosen, f"{name}[{index}]"))
    pairs: List[Tuple[str, str]] = []
    for dimension, chosen, where in items:
        dimension, chosen = dimension.strip(), chosen.strip()
        if not dimension or not chosen:
            problems.append((where, "both the partition dimension and its value are needed ('dimension=value')"))
        elif any(existing == dimension for existing, _ in pairs):
            problems.append((where, f"partition dimension '{dimension}' is given twice"))
        else:
            pairs.append((dimension, chosen))
    return tuple(pairs)


def _is_text_or_number(value) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "PROPAGATE_FORM_FIELDS",
    "PropagateConfig",
    "parse_propagate_config",
]
