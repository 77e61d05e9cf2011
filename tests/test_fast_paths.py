"""The bulk fast paths give what the plain definitions give: strict JSON's depth check at and around the limit."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from agent.documents import MAX_DEPTH, _few_brackets, check_depth, parse_json
from agent.errors import InputError

# ---------------------------------------------------------------- depth and strict JSON


@pytest.mark.parametrize("curly", [0, 1, 40, 60, 99, 100, 101, 150])
@pytest.mark.parametrize("square", [0, 1, 40, 41, 60, 61, 100, 101])
def test_few_brackets_is_the_count(curly: int, square: int) -> None:
    pieces = ["{"] * curly + ["["] * square + ["x", "]", "}", '"é"'] * 30
    random.Random(curly * 1000 + square).shuffle(pieces)
    text = "".join(pieces)
    assert _few_brackets(text) == (text.count("{") + text.count("[") <= MAX_DEPTH)


def _nested(depth: int, leaf: str = "1") -> str:
    """JSON nesting ``depth`` levels, alternating objects and arrays, beside enough siblings that the text holds
    more than ``MAX_DEPTH`` brackets (so the walk runs, not the shortcut)."""
    text = leaf
    for level in range(depth):
        text = f'{{"k{level}": {text}}}' if level % 2 else f"[{text}]"
    return f'{{"wide": [{", ".join(["{}"] * (MAX_DEPTH + 5))}], "deep": {text}}}'


@pytest.mark.parametrize("depth", [1, 2, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 3 * MAX_DEPTH])
def test_depth_is_refused_past_the_limit_exactly(depth: int) -> None:
    text = _nested(depth)  # the outer object adds one level
    if depth + 1 <= MAX_DEPTH:
        assert parse_json(text, Path("x.json")) == json.loads(text)
    else:
        with pytest.raises(InputError, match=f"nests too deeply \\(more than {MAX_DEPTH} levels\\)"):
            parse_json(text, Path("x.json"))


@pytest.mark.parametrize("deep", [[], {}])
def test_check_depth_counts_lists_and_objects_alike(deep: Any) -> None:
    data: Any = deep
    for level in range(MAX_DEPTH):
        data = {"k": data} if level % 2 else [data]
    with pytest.raises(InputError, match="nests too deeply"):
        check_depth(data, Path("x.json"), "[" * (MAX_DEPTH + 1))
    check_depth(data, Path("x.json"), "[" * MAX_DEPTH)  # the text proves it shallow; the data is not read


@pytest.mark.parametrize("depth", [0, 1, 5, 40, MAX_DEPTH - 2])
@pytest.mark.parametrize("place", ["first", "last"])
def test_a_duplicate_key_at_any_depth_is_refused_by_name(depth: int, place: str) -> None:
    duplicate = '{"a": 1, "dup\\"é": 2, "b": 3, "dup\\"é": 4}'
    text = _nested(depth, duplicate)
    if place == "last":
        text = text[:-1] + f', "tail": {duplicate}}}'
    with pytest.raises(InputError, match=re.escape('duplicate key "dup\\"\\u00e9"')):
        parse_json(text, Path("x.json"))


@pytest.mark.parametrize("depth", [0, 3, MAX_DEPTH - 2])
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_at_any_depth_is_refused_naming_the_field(depth: int, token: str) -> None:
    text = _nested(depth, f'{{"ok": "NaN [{{", "bad": {token}}}')
    with pytest.raises(InputError, match=f"{token} is not a number JSON allows") as caught:
        parse_json(text, Path("x.json"))
    assert caught.value.field is not None and caught.value.field.startswith("deep") and caught.value.field.endswith(".bad")
