"""Uploaded files without HTTP: format detection, CSV reading with DSS's format params, cell conversion by type."""

from __future__ import annotations

import pytest

from dss_emulator.uploads import (
    FileDecodingError,
    cell_value,
    clean_file_name,
    column_names,
    decode_text,
    default_csv_params,
    detect_format,
    detect_separator,
    infer_type,
    read_files,
)


@pytest.mark.parametrize(
    ("header", "separator"),
    [
        ("a,b,c", ","),
        ("a;b;c", ";"),
        ("a\tb\tc", "\t"),
        ("a|b", "|"),
        ("single", ","),
        ('"x;y",b', ","),  # a separator inside quotes does not count
        ("a;b,c;d", ";"),
    ],
)
def test_separator_is_the_one_giving_most_header_fields(header, separator):
    assert detect_separator(header) == separator


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", "+3", ""], "int"),
        (["2147483648"], "bigint"),
        (["99999999999999999999"], "double"),
        (["1.5", "2", "1e-3", ".5"], "double"),
        (["007", "1"], "string"),
        (["00.5"], "string"),
        (["true", "FALSE"], "boolean"),
        (["2024-01-05T10:00:00.000Z", "2024-01-05T10:00+01:00"], "date"),
        (["2024-01-05"], "string"),
        (["nan"], "string"),
        (["", "  "], "string"),
        (["1", "x"], "string"),
    ],
)
def test_storage_type_inference(values, expected):
    assert infer_type(values) == expected


@pytest.mark.parametrize(
    ("text", "dss_type", "value"),
    [
        ("", "string", None),
        ("", "double", None),
        (" x ", "string", " x "),
        ("5", "bigint", 5),
        ("5.0", "int", 5),
        ("5.5", "int", None),
        ("abc", "int", None),
        ("5.25", "double", 5.25),
        ("7", "float", 7.0),
        ("abc", "double", None),
        ("TRUE", "boolean", True),
        ("false", "boolean", False),
        ("yes", "boolean", None),
        ("2024-01-05T00:00:00.000Z", "date", "2024-01-05T00:00:00.000Z"),
    ],
)
def test_cells_are_converted_to_the_column_type(text, dss_type, value):
    converted = cell_value(text, dss_type)
    assert converted == value and type(converted) is type(value)


def test_column_names_fill_blanks_and_deduplicate():
    assert column_names(["a", "", "a", " b "], 6) == ["a", "col_1", "a_1", "b", "col_4", "col_5"]


def test_reading_pads_short_rows_drops_extra_fields_and_skips_each_files_header():
    columns = [{"name": "id", "type": "string"}, {"name": "n", "type": "int"}]
    files = [("a.csv", "id,n\nA,1\nB\n\n"), ("b.csv", "id,n\nC,3,extra\n")]
    assert read_files(files, default_csv_params(), columns) == [["A", 1], ["B", None], ["C", 3]]


def test_reading_honours_styles_skipped_rows_and_no_header():
    columns = [{"name": "a", "type": "string"}, {"name": "b", "type": "string"}]
    excel = default_csv_params(";")
    assert read_files([("f", 'a;b\n"x;""y""";z\n')], excel, columns) == [['x;"y"', "z"]]
    unix = dict(default_csv_params(), style="unix")
    assert read_files([("f", 'a,b\n"x\\"y",z\n')], unix, columns) == [['x"y', "z"]]
    no_quote = dict(default_csv_params(), style="escape_only_no_quote")
    assert read_files([("f", 'a,b\n"x\\,y,z\n')], no_quote, columns) == [['"x,y', "z"]]
    skipping = dict(default_csv_params(), skipRowsBeforeHeader=1, skipRowsAfterHeader=1)
    assert read_files([("f", "junk\na,b\nunits,units\n1,2\n")], skipping, columns) == [["1", "2"]]
    headerless = dict(default_csv_params(), parseHeaderRow=False)
    assert read_files([("f", "1,2\n3,4\n")], headerless, columns) == [["1", "2"], ["3", "4"]]


def test_multiline_quoted_values_are_one_record():
    columns = [{"name": "id", "type": "string"}, {"name": "note", "type": "string"}]
    assert read_files([("f", 'id,note\nN1,"line one\nline two"\n')], default_csv_params(), columns) == [
        ["N1", "line one\nline two"]
    ]


def test_detection_result_has_what_the_client_reads():
    result = detect_format("P.D", [("a.csv", b"id;v\n1;2.5\n2;3\n")], infer_storage_types=True)
    detected = result["format"]
    assert detected["ok"] is True and detected["type"] == "csv"
    assert detected["params"]["separator"] == ";" and detected["params"]["probableNumberOfRecords"] == 2
    assert detected["schemaDetection"]["newSchema"]["columns"] == [
        {"name": "id", "type": "int"},
        {"name": "v", "type": "double"},
    ]
    assert result["empty"] is False


def test_detection_of_extra_fields_names_them_and_of_nothing_fails():
    wide = detect_format("P.D", [("a.csv", b"a,b\n1,2,3\n")], infer_storage_types=False)["format"]
    assert [c["name"] for c in wide["schemaDetection"]["newSchema"]["columns"]] == ["a", "b", "col_2"]
    assert detect_format("P.D", [], False)["format"]["ok"] is False
    blank = detect_format("P.D", [("a.csv", b"\n\n")], False)
    assert (
        blank["format"]["ok"] is False and "P.D" in blank["format"]["message"] and "a.csv" in blank["format"]["message"]
    )


def test_decoding_drops_the_bom_and_reports_the_first_bad_byte():
    assert decode_text("f", "\ufeffé".encode()) == "é"
    with pytest.raises(FileDecodingError) as failure:
        decode_text("f.csv", b"ab\xff")
    assert (failure.value.offset, failure.value.byte) == (2, 0xFF)


@pytest.mark.parametrize(("raw", "name"), [("a.csv", "a.csv"), ("dir/a.csv", "a.csv"), ("C:\\x\\a b.csv", "a b.csv")])
def test_file_names_lose_their_directories(raw, name):
    assert clean_file_name(raw) == name
