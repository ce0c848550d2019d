"""A JSON array parsed as it arrives, so that a listing of 100 000 items never sits whole in memory twice."""

from __future__ import annotations

import codecs
import json
import re
from typing import Any, Iterable, Iterator

from .client import LISTING_CHUNK_BYTES

_JSON_SPACE = re.compile(r"[ \t\n\r]*")


_NUMBER_TAIL = re.compile(r"[0-9.eE+\-]*")


def iter_json_array(chunks: Iterable[bytes]) -> Iterator[Any]:
    """The items of a JSON array whose UTF-8 text arrives in ``chunks``, each decoded as soon as it is complete.

    Only the array's own punctuation is read here; every item goes through the standard JSON decoder (all of JSON,
    escapes included). An item cut by a chunk boundary fails to decode and is decoded again once more text has come:
    the text kept doubles each time, so an item larger than a chunk costs a bounded number of attempts. Raises
    ValueError when the text is not one JSON array.
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    source = iter(chunks)
    text, pos, exhausted = "", 0, False

    def more(at_least: int = 1) -> bool:
        """Append at least ``at_least`` characters (fewer at the end of the answer); False when nothing came."""
        nonlocal text, pos, exhausted
        text, pos = text[pos:], 0  # what was decoded is dropped: memory stays bounded
        wanted = len(text) + at_least
        grew = False
        while not exhausted and len(text) < wanted:
            chunk = next(source, None)
            if chunk is None:
                exhausted = True
                text += utf8.decode(b"", final=True)
            else:
                text += utf8.decode(chunk)
            grew = True
        return grew

    def skip_space() -> bool:
        """Move to the next non-space character; False at the end of the answer."""
        nonlocal pos
        while True:
            pos = _JSON_SPACE.match(text, pos).end()
            if pos < len(text):
                return True
            if not more():
                return False

    if not skip_space() or text[pos] != "[":
        raise ValueError("expected a JSON array (a DSS listing), got " + repr(text[pos : pos + 80]))
    pos += 1
    if not skip_space():
        raise ValueError("the JSON array is cut short")
    if text[pos] == "]":
        return
    while True:
        while True:
            try:
                item, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError:
                if exhausted or not more(max(LISTING_CHUNK_BYTES, len(text) - pos)):
                    raise
                continue
            if not exhausted and not isinstance(item, (dict, list, str)):
                if _NUMBER_TAIL.match(text, end).end() == len(text):
                    more()  # a number (or literal) at the end of the text may go on in the next chunk: 12|.5e3
                    continue
            break
        yield item
        if text.startswith(", {", end) or text.startswith(",{", end):  # the usual separators: no regex, no call
            pos = text.index("{", end)
            continue
        pos = end
        if not skip_space():
            raise ValueError("the JSON array is cut short")
        if text[pos] == "]":
            return
        if text[pos] != ",":
            raise ValueError(f"expected ',' or ']' in a JSON array, got {text[pos : pos + 80]!r}")
        pos += 1
        if not skip_space():
            raise ValueError("the JSON array is cut short")


__all__ = [
    "iter_json_array",
]
