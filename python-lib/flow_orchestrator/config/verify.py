"""The Verify outputs configuration: datasets and expectations (form fields or a JSON spec) checked against
``verify-config.schema.json`` into a :class:`VerifyConfig`; every problem names the user's field (a JSON path for
spec problems)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from ..errors import ConfigError
from ..expectations.spec import (
    ExpectationSet,
    expectations_from_form,
    merge_expectations,
    parse_expectations,
)
from ..text import is_blank
from .validation import checked_fields, split_on

#: Form fields of the macro and the step (the CLI passes its own flags as ``field_names``).
VERIFY_FORM_FIELDS = {
    "datasets": "datasets",
    "expectations": "expectations",
    "expected_columns": "expected_columns",
    "min_rows": "min_rows",
    "capture_current": "capture_current",
}


@dataclass(frozen=True)
class VerifyConfig:
    """What to verify: the selected datasets, the merged expectations, or a capture of the current state."""

    datasets: Tuple[str, ...] = ()
    expectations: ExpectationSet = ExpectationSet()
    capture_current: bool = False

    @property
    def capture_datasets(self) -> Tuple[str, ...]:
        """The datasets a capture describes: the selected ones, then those the spec names."""
        return tuple(dict.fromkeys(self.datasets + self.expectations.datasets))


_SCHEMA = "verify-config.schema.json"


def _spec_problem_field(field: str, path: str) -> str:
    """``expectations (datasets.ORDERS.min_rows)``: the form field, then the JSON path inside the spec."""
    return field if not path or path == field else f"{field} ({path})"


def parse_verify_config(form: Optional[Mapping], field_names: Optional[Mapping[str, str]] = None) -> VerifyConfig:
    """The Verify outputs form (or the CLI) as expectations, checked against ``verify-config.schema.json`` and then by
    the rules it cannot say (column syntax, the JSON spec); every problem at once, named by field and JSON path.

    The simple fields (``expected_columns`` as ``name`` or ``name:type``, ``min_rows``) apply to every selected
    dataset; the JSON spec in ``expectations`` wins for the same dataset and kind. Nothing is read from DSS.
    """
    names = dict(VERIFY_FORM_FIELDS)
    names.update(field_names or {})
    _, valid, problems = checked_fields(
        form, _SCHEMA, names=names, split={"datasets": split_on(","), "expected_columns": split_on(",")}
    )
    datasets = [name for name in valid.get("datasets", ()) if isinstance(name, str)]
    columns = valid.get("expected_columns", [])  # entries that are not text were named by the schema, and are skipped
    min_rows = valid.get("min_rows") or None  # 0: not checked
    capture = valid.get("capture_current", False)
    from_form = ExpectationSet()
    try:
        from_form = expectations_from_form(datasets, columns, min_rows)
    except ConfigError as error:
        for field, message in error.problems:
            base, _, rest = field.partition("[")
            renamed = names.get(base, base) + (f"[{rest}" if rest else "")
            problems.append((renamed, message))
    spec = valid.get("expectations")
    from_spec = ExpectationSet()
    if not is_blank(spec):
        try:
            from_spec = parse_expectations(spec)
        except ConfigError as error:
            problems.extend(
                (_spec_problem_field(names["expectations"], path), message) for path, message in error.problems
            )
    if problems:
        raise ConfigError(problems)
    merged = merge_expectations(from_form, from_spec)
    config = VerifyConfig(datasets=tuple(dict.fromkeys(datasets)), expectations=merged, capture_current=capture)
    if capture and not config.capture_datasets:
        raise ConfigError((names["datasets"], "select the datasets whose current state to capture"))
    if not capture and merged.is_empty:
        raise ConfigError(
            (
                names["datasets"],
                f"nothing to verify: select datasets (each is then expected to exist), fill {names['expected_columns']} "
                f"or {names['min_rows']}, or paste a JSON spec in {names['expectations']}",
            )
        )
    return config


__all__ = [
    "VERIFY_FORM_FIELDS",
    "VerifyConfig",
    "parse_verify_config",
]
