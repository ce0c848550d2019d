"""The Verify outputs configuration: datasets and expectations (form fields or a JSON spec) checked into a
:class:`VerifyConfig`; every problem names the user's field (a JSON path for spec problems)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Tuple

from ..errors import ConfigError
from ..expectations.spec import (
    ExpectationSet,
    expectations_from_form,
    merge_expectations,
    parse_expectations,
)
from ..text import is_blank

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


def _text_list(value: Any, field: str, problems: List[Tuple[str, str]]) -> List[str]:
    if is_blank(value):
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        problems.append((field, f"expected a list; found {type(value).__name__}"))
        return []
    return [item.strip() for item in value if isinstance(item, str) and item.strip()]


def _min_rows(value: Any, field: str, problems: List[Tuple[str, str]]) -> Optional[int]:
    """The form's INT (DSS may send 3.0); empty or 0 means "not checked"."""
    if is_blank(value):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            problems.append((field, f"expected a whole number >= 0; found {value!r}"))
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
        problems.append((field, f"expected a whole number >= 0; found {value!r}"))
        return None
    return int(value) or None


def _spec_problem_field(field: str, path: str) -> str:
    """``expectations (datasets.ORDERS.min_rows)``: the form field, then the JSON path inside the spec."""
    return field if not path or path == field else f"{field} ({path})"


def parse_verify_config(form: Optional[Mapping], field_names: Optional[Mapping[str, str]] = None) -> VerifyConfig:
    """The Verify outputs form (or the CLI) as expectations; every problem named by field and JSON path.

    The simple fields (``expected_columns`` as ``name`` or ``name:type``, ``min_rows``) apply to every selected
    dataset; the JSON spec in ``expectations`` wins for the same dataset and kind. Nothing is read from DSS.
    """
    form = dict(form or {})
    names = dict(VERIFY_FORM_FIELDS)
    names.update(field_names or {})
    problems: List[Tuple[str, str]] = []
    datasets = _text_list(form.get("datasets"), names["datasets"], problems)
    columns = _text_list(form.get("expected_columns"), names["expected_columns"], problems)
    min_rows = _min_rows(form.get("min_rows"), names["min_rows"], problems)
    capture = form.get("capture_current")
    if capture is not None and not isinstance(capture, bool):
        problems.append((names["capture_current"], f"expected true or false; found {capture!r}"))
    capture = bool(capture)
    from_form = ExpectationSet()
    try:
        from_form = expectations_from_form(datasets, columns, min_rows)
    except ConfigError as error:
        for field, message in error.problems:
            base, _, rest = field.partition("[")
            renamed = names.get(base, base) + (f"[{rest}" if rest else "")
            problems.append((renamed, message))
    spec = form.get("expectations")
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
