"""Schema diffs: what changed between two lists of DSS schema columns (``{"name", "type", ...}``), pure data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

#: ``{dataset name: schema columns}``: the schemas of a set of datasets at one moment.
SchemaSnapshot = Dict[str, List[Dict[str, Any]]]


def _type_text(column_type: Optional[str]) -> str:
    return column_type if column_type else "?"


# --------------------------------------------------------------------------------------------------- diffs


@dataclass(frozen=True)
class SchemaDiff:
    """How one dataset's schema differs between two moments.

    ``added`` and ``removed`` hold ``(name, type)`` pairs; ``type_changed`` holds ``(name, old type, new type)``;
    ``reordered`` says whether the columns present in both schemas changed their relative order, and
    ``old_order`` / ``new_order`` give both full column orders so a report can show them.
    """

    dataset: str = ""
    added: Tuple[Tuple[str, str], ...] = ()
    removed: Tuple[Tuple[str, str], ...] = ()
    type_changed: Tuple[Tuple[str, str, str], ...] = ()
    reordered: bool = False
    old_order: Tuple[str, ...] = ()
    new_order: Tuple[str, ...] = ()
    existed_before: bool = True
    exists_after: bool = True
    notes: Tuple[str, ...] = ()  # e.g. propagation messages that name this dataset

    @property
    def changed(self) -> bool:
        return bool(
            self.added
            or self.removed
            or self.type_changed
            or self.reordered
            or self.existed_before != self.exists_after
        )

    @property
    def added_names(self) -> Tuple[str, ...]:
        return tuple(name for name, _ in self.added)

    @property
    def removed_names(self) -> Tuple[str, ...]:
        return tuple(name for name, _ in self.removed)

    def summary(self) -> str:
        """One line such as ``+ discount (double); - customerID (string); ~ total: bigint -> double``."""
        if not self.changed:
            return "unchanged"
        parts = []
        if not self.existed_before:
            parts.append("new dataset")
        if not self.exists_after:
            parts.append("dataset gone")
        parts.extend(f"+ {name} ({_type_text(kind)})" for name, kind in self.added)
        parts.extend(f"- {name} ({_type_text(kind)})" for name, kind in self.removed)
        parts.extend(f"~ {name}: {_type_text(old)} -> {_type_text(new)}" for name, old, new in self.type_changed)
        if self.reordered:
            parts.append("column order changed")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "changed": self.changed,
            "added": [{"name": name, "type": kind} for name, kind in self.added],
            "removed": [{"name": name, "type": kind} for name, kind in self.removed],
            "type_changed": [{"name": name, "old": old, "new": new} for name, old, new in self.type_changed],
            "reordered": self.reordered,
            "old_order": list(self.old_order),
            "new_order": list(self.new_order),
            "existed_before": self.existed_before,
            "exists_after": self.exists_after,
            "notes": list(self.notes),
            "summary": self.summary(),
        }


def by_name(columns: Optional[Iterable[Mapping[str, Any]]]) -> Dict[str, Mapping[str, Any]]:
    """Columns keyed by name, in schema order; a repeated name keeps its first column (as DSS reads it)."""
    indexed: Dict[str, Mapping[str, Any]] = {}
    for column in columns or ():
        name = column.get("name")
        if isinstance(name, str) and name not in indexed:
            indexed[name] = column
    return indexed


def diff_schemas(
    before: Optional[Sequence[Mapping[str, Any]]],
    after: Optional[Sequence[Mapping[str, Any]]],
    dataset: str = "",
) -> SchemaDiff:
    """Compare two lists of DSS schema columns by name (names are case-sensitive in DSS)."""
    old = by_name(before)
    new = by_name(after)
    added = tuple((name, column.get("type")) for name, column in new.items() if name not in old)
    removed = tuple((name, column.get("type")) for name, column in old.items() if name not in new)
    type_changed = tuple(
        (name, column.get("type"), new[name].get("type"))
        for name, column in old.items()
        if name in new and column.get("type") != new[name].get("type")
    )
    common_old = [name for name in old if name in new]
    common_new = [name for name in new if name in old]
    return SchemaDiff(
        dataset=dataset,
        added=added,
        removed=removed,
        type_changed=type_changed,
        reordered=common_old != common_new,
        old_order=tuple(old),
        new_order=tuple(new),
    )


def diff_snapshots(
    before: Mapping[str, Sequence[Mapping]], after: Mapping[str, Sequence[Mapping]]
) -> Dict[str, SchemaDiff]:
    """One :class:`SchemaDiff` per dataset of either snapshot (unchanged ones included), in snapshot order."""
    names = list(before) + [name for name in after if name not in before]
    diffs = {}
    for name in names:
        diff = diff_schemas(before.get(name), after.get(name), dataset=name)
        if name not in before or name not in after:
            diff = with_changes(diff, existed_before=name in before, exists_after=name in after)
        diffs[name] = diff
    return diffs


def with_changes(diff: SchemaDiff, **changes) -> SchemaDiff:
    values = {name: getattr(diff, name) for name in diff.__dataclass_fields__}
    values.update(changes)
    return SchemaDiff(**values)


__all__ = [
    "SchemaSnapshot",
    "SchemaDiff",
    "by_name",
    "diff_schemas",
    "diff_snapshots",
    "with_changes",
]
