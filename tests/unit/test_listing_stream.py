"""Listings parsed as they arrive (``iter_json_array``): every item whole, wherever the chunks cut the text."""

from __future__ import annotations

import json

import pytest
from flow_orchestrator.dss.listing import iter_json_array

ITEMS = [
    {"name": "orders", "partitioning": {"dimensions": [{"name": "day", "type": "time"}]}},
    {"name": "données_été 😀", "text": 'a "quoted" ] } , [ { \\ \n line', "tags": []},
    [1, -2.5e-3, 12345678901234567890, True, False, None],
    "a string item",
    -0.125,
    7,
    True,
    None,
    {},
    [],
]


def chunks(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("indent", [None, 2])
def test_every_cut_of_the_text_gives_the_same_items(indent):
    data = json.dumps(ITEMS, ensure_ascii=False, indent=indent).encode("utf-8")
    for cut in range(1, len(data)):  # two chunks, cut at every byte (inside numbers, escapes and UTF-8 sequences)
        assert list(iter_json_array([data[:cut], data[cut:]])) == ITEMS, cut
    for size in (1, 2, 3, 5, 64):
        assert list(iter_json_array(chunks(data, size))) == ITEMS, size


def test_an_item_larger_than_many_chunks_is_decoded_whole():
    items = [{"name": "big", "schema": ["c" * 50 for _ in range(20_000)]}, {"name": "after"}]
    data = json.dumps(items).encode("utf-8")
    assert list(iter_json_array(chunks(data, 4096))) == items


def test_items_come_one_by_one_before_the_answer_ends():
    pieces = [b'[{"name": "a"}, ', b'{"name": "b"}', b", "]

    def source():
        yield from pieces
        raise AssertionError("read past the second item before yielding it")

    items = iter_json_array(source())
    assert next(items) == {"name": "a"}
    assert next(items) == {"name": "b"}


@pytest.mark.parametrize("text", ["[]", " [ ] ", "[\n]"])
def test_empty_listings(text):
    assert list(iter_json_array([text.encode()])) == []


@pytest.mark.parametrize(
    "text",
    ["", "   ", "{}", '{"errorType": "x"}', "<html>proxy</html>", "[", "[1,", "[1 2]", "[{]", "[1,]", '["open'],
)
def test_anything_but_one_json_array_is_refused(text):
    with pytest.raises(ValueError):
        list(iter_json_array(chunks(text.encode(), 2) or [b""]))
