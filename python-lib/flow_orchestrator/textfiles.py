"""Text files users hand the command line (expectation specs, run records): UTF-8 with or without a byte order mark.

Anything else is refused with what it is and how to fix it, never a ``UnicodeDecodeError``: UTF-16 is what Windows
PowerShell 5's ``>`` and ``Out-File`` write by default, and a legacy code page what old editors save.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Union

from .errors import ConfigError

_UTF8_FIX = "save it as UTF-8 (PowerShell: Set-Content -Encoding utf8, or Out-File -Encoding utf8)"


def decode_text(data: bytes, source: str) -> str:
    """``data`` as text: UTF-8, a leading BOM dropped; :class:`ValueError` saying what the bytes are otherwise."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise ValueError(f"{source} is UTF-32 text: {_UTF8_FIX}")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ValueError(f"{source} is UTF-16 text (what Windows PowerShell writes by default): {_UTF8_FIX}")
    elif len(data) >= 4 and data[:64].count(0) * 3 >= min(len(data), 64):
        raise ValueError(f"{source} looks like UTF-16 text without a byte order mark (many NUL bytes): {_UTF8_FIX}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"{source} is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} (offset {exc.start}) is not "
            f"UTF-8, most likely a legacy code page such as Windows-1252 or Latin-1: {_UTF8_FIX}"
        ) from None


def read_text(path: Union[str, Path], field: str, what: str) -> str:
    """The text of the file ``path`` (UTF-8, with or without BOM); a :class:`ConfigError` naming ``field`` otherwise.

    ``what`` says what the file should be, for the message ("the JSON spec of the expectations").
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError((field, f"cannot read {path}: no such file; pass {what}")) from None
    except IsADirectoryError:
        raise ConfigError((field, f"cannot read {path}: it is a folder; pass {what}")) from None
    except OSError as error:
        raise ConfigError((field, f"cannot read {path}: {error.strerror or error}; pass {what}")) from None
    try:
        return decode_text(data, str(path))
    except ValueError as error:
        raise ConfigError((field, str(error))) from None
