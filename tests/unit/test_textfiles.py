"""Files users hand the command line: UTF-8 with or without BOM; anything else named, with the fix."""

from __future__ import annotations

import codecs

import pytest
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.textfiles import decode_text, read_text


def test_utf8_with_or_without_bom():
    assert decode_text("café".encode(), "f") == "café"
    assert decode_text(codecs.BOM_UTF8 + "café".encode(), "f") == "café"
    assert decode_text(b"", "f") == ""


@pytest.mark.parametrize(
    "data,expected",
    [
        ("{}".encode("utf-16"), "f is UTF-16 text"),
        ('{"a": 1}'.encode("utf-16-be"), "looks like UTF-16 text without a byte order mark"),
        ("{}".encode("utf-32"), "f is UTF-32 text"),
        ("x\ncafé".encode("latin-1"), "byte 0xe9 on line 2 (offset 5) is not UTF-8"),
    ],
)
def test_other_encodings_are_named_with_the_fix(data, expected):
    with pytest.raises(ValueError, match="save it as UTF-8") as caught:
        decode_text(data, "f")
    assert expected in str(caught.value)


def test_read_text_names_the_field(tmp_path):
    with pytest.raises(ConfigError, match="--spec: cannot read .*missing.json: no such file; pass a spec"):
        read_text(tmp_path / "missing.json", "--spec", "a spec")
    with pytest.raises(ConfigError, match="--spec: cannot read .*: it is a folder"):
        read_text(tmp_path, "--spec", "a spec")
    (tmp_path / "s.json").write_bytes("{}".encode("utf-16"))
    with pytest.raises(ConfigError, match="--spec: .*s.json is UTF-16 text"):
        read_text(tmp_path / "s.json", "--spec", "a spec")
