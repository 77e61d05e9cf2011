"""The bulk fast paths (``task_files``, ``check_depth``) give what the plain per-item definitions give.

Each fast path is compared with a straightforward reference, written here as the code read before it.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from agent.documents import MAX_DEPTH, _few_brackets, check_depth, parse_json
from agent.errors import InputError
from agent.facts import task_files

# ---------------------------------------------------------------- references


def reference_task_files(tasks: list[Any]) -> tuple[str, ...]:
    found: list[str] = []
    for task in tasks:
        if isinstance(task, dict):
            for key in ("files_created", "files_modified"):
                value = task.get(key)
                listed = [] if value is None else value if isinstance(value, list) else [value]
                found += [f for f in listed if isinstance(f, str)]
    return tuple(found)


# ---------------------------------------------------------------- task_files


class _Renamed(dict[str, Any]):
    """A mapping whose ``get`` answers differently from ``dict.get``: read through its own method."""

    def get(self, key: str, default: Any = None) -> Any:
        return ["renamed.py"] if key == "files_created" else default


class _Paths(list[Any]):
    pass


class _Text(str):
    pass


TASK_SHAPES: list[list[Any]] = [
    [],
    [{"files_created": ["a.py"], "files_modified": ["b.py", "c.py"]}, {"files_created": [], "files_modified": ["d.py"]}],
    [{"files_created": ["a.py"]}, {"files_modified": ["b.py"]}, {}],
    [{"files_created": None, "files_modified": ["b.py"]}],
    [{"files_created": "one.py", "files_modified": ["b.py"]}],
    [{"files_created": ["a.py", 3, None, {"x": 1}, ["n.py"], "z.py"], "files_modified": [True]}],
    [{"files_created": 7, "files_modified": {"a.py": 1}}],
    [{"files_created": ["a.py"]}, "not a task", None, ["x.py"], {"files_modified": ["b.py"]}],
    [_Renamed(files_created=["own.py"], files_modified=["m.py"]), {"files_created": ["a.py"]}],
    [{"files_created": _Paths(["sub.py"]), "files_modified": ["b.py"]}],
    [{"files_created": [_Text("t.py"), "u.py"], "files_modified": _Text("v.py")}],
    [{"files_created": ["a.py"], "files_modified": ()}],
    [{"files_created": ["a.py"], "files_modified": ""}],
]


@pytest.mark.parametrize("tasks", TASK_SHAPES)
def test_task_files_is_the_reference(tasks: list[Any]) -> None:
    found = task_files(tasks)
    assert found == reference_task_files(tasks)
    assert [type(f) for f in found] == [type(f) for f in reference_task_files(tasks)]


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
