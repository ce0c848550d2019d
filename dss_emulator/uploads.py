"""Uploaded-files datasets: the files' bytes, DSS's format detection on them, and their rows in the storage.

An ``UploadedFiles`` dataset is a source: nothing builds it, its rows come from the files uploaded to it
(``POST .../uploaded/files``), read as CSV with the dataset's format settings and converted to its schema's types.
The rows are re-read from the files whenever one of the three changes (a file is uploaded, the settings or the schema
are saved), so what ``iter_rows``, metrics and recipes see is always the files through the current settings, as on
DSS, where an uploaded dataset is read from its files on every access. As on DSS, a dataset whose format was never
saved (``create_upload_dataset`` leaves none; ``autodetect_settings().save()`` sets it) cannot be read: it holds no
data until then, and reading it answers the not-ready error.

Only UTF-8 CSV is emulated (what ``autodetect_settings`` detects for text files): separator, quote and escape
characters, ``excel``/``unix``/``escape_only_no_quote`` styles, header row and skipped rows. Other format types leave
the dataset without data. Nothing here knows about HTTP; :mod:`dss_emulator.api.uploads` serves it.
"""

from __future__ import annotations

import copy
import csv
import io
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .execution.formulas import to_number
from .state import Dataset, EmulatorState, UploadedFile

UPLOADED_TYPE = "UploadedFiles"
#: Separators tried on the header line, in the order that wins ties (DSS's default is the comma).
SEPARATORS = (",", ";", "\t", "|")
INTEGER_TYPES = ("int", "bigint", "smallint", "tinyint")
DECIMAL_TYPES = ("double", "float")
_INT32 = 2**31
_INT64 = 2**63
_INTEGER_TEXT = re.compile(r"^[+-]?(0|[1-9][0-9]*)$")
_DECIMAL_TEXT = re.compile(r"^[+-]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_ISO_DATETIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})$"
)
_BOOLEANS = {"true": True, "false": False}


class FileDecodingError(ValueError):
    """An uploaded file is not UTF-8 text; ``offset`` is the first undecodable byte."""

    def __init__(self, name: str, offset: int, byte: int) -> None:
        super().__init__(f"{name} is not UTF-8 text (byte 0x{byte:02x} at offset {offset})")
        self.name = name
        self.offset = offset
        self.byte = byte


def is_uploaded(dataset: Dataset) -> bool:
    return dataset.definition.get("type") == UPLOADED_TYPE


def decode_text(name: str, data: bytes) -> str:
    """A file's text: UTF-8, a leading byte-order mark dropped (DSS's ``utf8`` charset does the same)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileDecodingError(name, exc.start, data[exc.start]) from None


def clean_file_name(raw: str) -> str:
    """The name a file is stored under: its last path component, as DSS keeps uploads flat in the dataset."""
    return re.split(r"[/\\]", raw.strip())[-1].strip()


def uploaded_definition(definition: dict, given_params: dict, format_given: bool) -> None:
    """Turn a new dataset's definition into an uploaded-files one, as ``create_upload_dataset`` leaves it on DSS.

    Its ``params`` are what was sent (``uploadConnection`` when given) plus the file selection rules, without the
    managed ``connection``/``path``; it has no format until one is detected and saved (unless one was sent).
    """
    params = {
        "notReadyIfEmpty": False,
        "filesSelectionRules": {"mode": "ALL", "excludeRules": [], "includeRules": [], "explicitFiles": []},
    }
    params.update(given_params)
    definition["params"] = params
    definition["managed"] = False
    if not format_given:
        definition.pop("formatType", None)
        definition.pop("formatParams", None)


def sorted_files(dataset: Dataset) -> List[UploadedFile]:
    """The dataset's files in path order: how they are listed and the order their rows are read in."""
    return [dataset.uploaded_files[name] for name in sorted(dataset.uploaded_files)]


# -- detection -------------------------------------------------------------------------------------------------------


def default_csv_params(separator: str = ",") -> dict:
    """The CSV ``formatParams`` DSS's detection suggests for a plain UTF-8 file with a header line."""
    return {
        "style": "excel",
        "charset": "utf8",
        "separator": separator,
        "quoteChar": '"',
        "escapeChar": "\\",
        "dateSerializationFormat": "ISO",
        "arrayMapFormat": "json",
        "hiveSeparators": ["\u0002", "\u0003", "\u0004", "\u0005", "\u0006", "\u0007", "\b"],
        "skipRowsBeforeHeader": 0,
        "parseHeaderRow": True,
        "skipRowsAfterHeader": 0,
        "normalizeBooleans": False,
        "normalizeDoubles": True,
        "compress": "",
    }


def detect_separator(header_line: str) -> str:
    """The separator that splits the header line into the most fields (comma on ties and single columns)."""
    best, best_fields = ",", 1
    for separator in SEPARATORS:
        fields = len(next(csv.reader([header_line], delimiter=separator, quotechar='"'), []))
        if fields > best_fields:
            best, best_fields = separator, fields
    return best


def column_names(header: Sequence[str], width: int) -> List[str]:
    """Column names from a header record: blanks become ``col_<i>``, duplicates get ``_<n>``, extra fields too."""
    names: List[str] = []
    seen: Dict[str, int] = {}
    for index in range(width):
        name = header[index].strip() if index < len(header) else ""
        name = name or f"col_{index}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


def infer_type(values: Sequence[str]) -> str:
    """DSS-like storage type of a column from its non-empty texts: boolean, int/bigint, double, date, else string.

    Numbers with leading zeros stay strings (identifiers such as ``007`` would lose their zeros); ``date`` needs an
    ISO-8601 date-time with a zone, the only text DSS stores as ``date`` without a custom format.
    """
    texts = [v.strip() for v in values if v.strip()]
    if not texts:
        return "string"
    if all(t.lower() in _BOOLEANS for t in texts):
        return "boolean"
    if all(_INTEGER_TEXT.match(t) for t in texts):
        widest = max(abs(int(t)) for t in texts)
        if widest < _INT32:
            return "int"
        return "bigint" if widest < _INT64 else "double"
    if all(_DECIMAL_TEXT.match(t) for t in texts):
        return "double"
    if all(_ISO_DATETIME.match(t) for t in texts):
        return "date"
    return "string"


def detect_format(full_name: str, files: Sequence[Tuple[str, bytes]], infer_storage_types: bool) -> dict:
    """DSS's ``testAndDetectSettings/fsLike`` result for dataset ``full_name``'s files (``(name, bytes)``, path order).

    The client reads ``format.ok``, ``format.type``, ``format.params`` and ``format.schemaDetection.newSchema``. The
    separator comes from the first file's header line; columns are ``string`` unless ``infer_storage_types``.
    Files that are missing or empty answer ``format.ok: false`` with a message, and the client then raises
    "Format detection failed".
    """
    if not files:
        return _failed_detection(
            True, f"No files in dataset {full_name}: upload a file first (dataset.uploaded_add_file), then detect"
        )
    texts = [(name, decode_text(name, data)) for name, data in files]
    first_name, first_text = next(((n, t) for n, t in texts if t.strip()), (None, ""))
    if first_name is None:
        names = ", ".join(name for name, _ in texts)
        return _failed_detection(
            False, f"Could not detect the format of dataset {full_name}: its files are empty ({names})"
        )
    header_line = next(line for line in first_text.splitlines() if line.strip())
    params = default_csv_params(detect_separator(header_line))
    records = _records(texts, params)
    width = max([len(records.header)] + [len(row) for row in records.rows])
    names = column_names(records.header, width)
    if infer_storage_types:
        types = [infer_type([row[i] for row in records.rows if i < len(row)]) for i in range(width)]
    else:
        types = ["string"] * width
    schema = {"columns": [{"name": n, "type": t} for n, t in zip(names, types)], "userModified": False}
    params["probableNumberOfRecords"] = len(records.rows)
    return {
        "connectionOK": True,
        "empty": False,
        "format": {
            "ok": True,
            "type": "csv",
            "params": params,
            "schemaDetection": {"newSchema": schema, "detectedSchema": copy.deepcopy(schema), "reasons": []},
            "metadataMessage": "{} file(s), {} record(s), separator {!r}".format(
                len(files), len(records.rows), params["separator"]
            ),
        },
    }


def _failed_detection(empty: bool, message: str) -> dict:
    return {"connectionOK": True, "empty": empty, "format": {"ok": False, "message": message}}


# -- reading -----------------------------------------------------------------------------------------------------------


class _Records:
    """The header record of the first file that has one, and the data records of every file, as texts."""

    def __init__(self) -> None:
        self.header: List[str] = []
        self.rows: List[List[str]] = []


def _reader(text: str, params: dict):
    separator = params.get("separator") or ","
    quote = params.get("quoteChar") or '"'
    escape = params.get("escapeChar") or None
    style = params.get("style") or "excel"
    if style == "escape_only_no_quote":
        return csv.reader(io.StringIO(text), delimiter=separator, quoting=csv.QUOTE_NONE, escapechar=escape)
    if style == "unix":
        return csv.reader(io.StringIO(text), delimiter=separator, quotechar=quote, doublequote=False, escapechar=escape)
    return csv.reader(io.StringIO(text), delimiter=separator, quotechar=quote, doublequote=True)


def _records(texts: Sequence[Tuple[str, str]], params: dict) -> _Records:
    """Every file's records with ``params``: each file skips its own leading rows and header, as DSS reads files."""
    found = _Records()
    before = int(params.get("skipRowsBeforeHeader") or 0)
    after = int(params.get("skipRowsAfterHeader") or 0)
    header = bool(params.get("parseHeaderRow"))
    for _, text in texts:
        records = [r for r in _reader(text, params) if any(field != "" for field in r)]
        records = records[before:]
        if header and records:
            if not found.header:
                found.header = records[0]
            records = records[1:]
        found.rows.extend(records[after:])
    return found


def cell_value(text: str, dss_type: str) -> Any:
    """A CSV cell as the storage holds a value of ``dss_type``, like flow-file rows: int, float, bool or text.

    Empty cells are null. Text that is not a valid value of the type (``abc`` in a double column, ``5.5`` in an int
    column) is null too, as DSS reads invalid values of a typed column.
    """
    if text == "":
        return None
    if dss_type in INTEGER_TYPES:
        number = to_number(text)
        if number is None or (isinstance(number, float) and not number.is_integer()):
            return None
        return int(number)
    if dss_type in DECIMAL_TYPES:
        number = to_number(text)
        return None if number is None else float(number)
    if dss_type == "boolean":
        return _BOOLEANS.get(text.strip().lower())
    return text


def read_files(files: Sequence[Tuple[str, str]], params: dict, columns: List[dict]) -> List[list]:
    """Rows of the files' texts read with ``params``, by position against ``columns`` (short rows padded with nulls,
    extra fields dropped), each value converted to its column's type."""
    types = [column.get("type") or "string" for column in columns]
    rows = []
    for record in _records(files, params).rows:
        cells = list(record[: len(types)]) + [""] * (len(types) - len(record))
        rows.append([cell_value(text, dss_type) for text, dss_type in zip(cells, types)])
    return rows


def effective_format(dataset: Dataset, files: Sequence[Tuple[str, bytes]]) -> Optional[Tuple[dict, List[dict]]]:
    """(CSV params, columns) the dataset's files are read with, or None when they cannot be read.

    They can be read once a ``csv`` format is saved. Saved params win over detected ones (a partial ``formatParams``
    keeps the detected rest); without a saved schema the header's columns are read as ``string``.
    """
    definition = dataset.definition
    if definition.get("formatType") != "csv":
        return None
    detected = detect_format(dataset.full_name, files, infer_storage_types=False)["format"]
    if not detected["ok"]:
        return None
    params = dict(detected["params"])
    params.update(definition.get("formatParams") or {})
    separator, quote = params.get("separator"), params.get("quoteChar")
    if not isinstance(separator, str) or len(separator) != 1 or (quote and len(str(quote)) != 1):
        return None
    columns = dataset.columns or detected["schemaDetection"]["newSchema"]["columns"]
    return params, columns


def refresh_rows(state: EmulatorState, dataset: Dataset) -> None:
    """Re-read an uploaded-files dataset's rows from its files into the storage (lock held).

    Without files, without a saved CSV format, or with format params the emulator cannot read (a separator that is not
    one character, skip counts that are not numbers, text the style cannot parse), the dataset holds no data:
    ``iter_rows`` then answers DSS's not-ready error. Saving such settings still succeeds, as on DSS, where the
    error only shows when the data is read.
    """
    files = [(f.name, f.data) for f in sorted_files(dataset)]
    rows: Optional[List[list]] = None
    columns: List[dict] = []
    try:
        found = effective_format(dataset, files) if files else None
        if found is not None:
            params, columns = found
            texts = [(name, decode_text(name, data)) for name, data in files]
            rows = read_files(texts, params, columns)
    except (ValueError, TypeError, csv.Error):
        rows = None
    if rows is None:
        state.storage.clear(dataset.project_key, dataset.name)
    else:
        state.storage.write(dataset.project_key, dataset.name, columns, rows)
