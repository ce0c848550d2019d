"""The Propagate schema configuration: form or CLI values checked and turned into a :class:`PropagateConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping, Optional, Tuple

from ..errors import ConfigError
from ..text import is_blank

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


def _flag(raw: Mapping, key: str, default: bool, name: str, problems: List[Tuple[str, str]]) -> bool:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    problems.append((name, f"expected true or false; found {value!r}"))
    return default


def _names(raw: Mapping, key: str, name: str, problems: List[Tuple[str, str]]) -> Tuple[str, ...]:
    """A list of recipe names (STRINGS or MULTISELECT; a comma-separated text is accepted too), duplicates named."""
    value = raw.get(key)
    if is_blank(value):
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        problems.append((name, f"expected a list of recipe names; found {type(value).__name__}"))
        return ()
    names: List[str] = []
    for index, item in enumerate(value):
        if is_blank(item):
            continue
        if not isinstance(item, str):
            problems.append((f"{name}[{index}]", f"expected a recipe name; found {item!r}"))
            continue
        text = item.strip()
        if text in names:
            problems.append((f"{name}[{index}]", f"recipe '{text}' is listed twice"))
            continue
        names.append(text)
    return tuple(names)


def _partition_values(raw: Mapping, name: str, problems: List[Tuple[str, str]]) -> Tuple[Tuple[str, str], ...]:
    """``{"dimension": "value"}`` or ``["dimension=value", ...]`` (a STRINGS field, or ``--partition`` flags)."""
    value = raw.get("partition_values")
    if is_blank(value):
        return ()
    pairs: List[Tuple[str, str]] = []
    if isinstance(value, Mapping):
        items = [(str(k), v, f"{name}.{k}") for k, v in value.items()]
    elif isinstance(value, (list, tuple, str)):
        items = []
        for index, text in enumerate([value] if isinstance(value, str) else value):
            if is_blank(text):
                continue
            dimension, separator, chosen = str(text).partition("=")
            if not separator:
                problems.append(
                    (f"{name}[{index}]", f"write 'dimension=value' (e.g. 'day=2024-05-01'); found {text!r}")
                )
                continue
            items.append((dimension, chosen, f"{name}[{index}]"))
    else:
        problems.append((name, "expected 'dimension=value' entries"))
        return ()
    for dimension, chosen, where in items:
        dimension = dimension.strip()
        chosen = "" if chosen is None else str(chosen).strip()
        if not dimension or not chosen:
            problems.append((where, "both the partition dimension and its value are needed ('dimension=value')"))
            continue
        if any(existing == dimension for existing, _ in pairs):
            problems.append((where, f"partition dimension '{dimension}' is given twice"))
            continue
        pairs.append((dimension, chosen))
    return tuple(pairs)


def parse_propagate_config(raw: Optional[Mapping], field_names: Optional[Mapping[str, str]] = None) -> PropagateConfig:
    """The propagation settings from a form (or the CLI), every problem named by its field; nothing is read from DSS.

    Keys: ``source_dataset`` (required), ``auto_rebuild`` (default true), ``stop_at`` and ``mark_as_ok`` (recipe
    names), ``partition_values`` (``dimension=value``), ``preview_only`` (default true, as on the form: nothing
    changes unless asked), ``timeout_s``. ``field_names`` maps these
    keys to the names the user typed (``{"source_dataset": "--source"}``) for the messages.
    """
    raw = dict(raw or {})
    names = dict(PROPAGATE_FORM_FIELDS)
    names.update(field_names or {})
    problems: List[Tuple[str, str]] = []
    source = raw.get("source_dataset")
    if is_blank(source):
        problems.append((names["source_dataset"], "choose the dataset whose schema changed (the propagation source)"))
        source = ""
    elif not isinstance(source, str):
        problems.append((names["source_dataset"], f"expected a dataset name; found {source!r}"))
        source = ""
    stop_at = _names(raw, "stop_at", names["stop_at"], problems)
    mark_as_ok = _names(raw, "mark_as_ok", names["mark_as_ok"], problems)
    for recipe in stop_at:
        if recipe in mark_as_ok:
            problems.append(
                (
                    names["mark_as_ok"],
                    f"recipe '{recipe}' is also in {names['stop_at']}: a recipe is either where the "
                    "propagation stops or one it passes as OK; keep it in one list",
                )
            )
    timeout_s = raw.get("timeout_s")
    if timeout_s is None:
        timeout_s = DEFAULT_TIMEOUT_S
    elif isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
        problems.append((names["timeout_s"], f"expected a number of seconds > 0; found {timeout_s!r}"))
        timeout_s = DEFAULT_TIMEOUT_S
    config = PropagateConfig(
        source_dataset=str(source).strip(),
        auto_rebuild=_flag(raw, "auto_rebuild", True, names["auto_rebuild"], problems),
        stop_at=stop_at,
        mark_as_ok=mark_as_ok,
        partition_values=_partition_values(raw, names["partition_values"], problems),
        preview_only=_flag(raw, "preview_only", True, names["preview_only"], problems),
        timeout_s=float(timeout_s),
    )
    if problems:
        raise ConfigError(problems)
    return config


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "PROPAGATE_FORM_FIELDS",
    "PropagateConfig",
    "parse_propagate_config",
]
