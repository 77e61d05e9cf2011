"""Read and parse JSON and YAML safely: no links followed, bounded size and depth, no alias bombs, errors with line:column."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from agent.errors import InputError, printable
from agent.files import NotRegularFile, open_regular

MAX_EXPANDED_NODES = 100_000
"""A YAML document whose aliases would expand past this many nodes is refused."""

MAX_DEPTH = 100
"""Deeper nesting is refused on reading, so nothing downstream (json.dumps, pydantic, YAML) can hit the recursion limit."""



def _libyaml_limits_nesting() -> bool:
    """libyaml before 0.2.6 (bundled in PyYAML wheels before 6.0.4) recurses without a limit: a hostile
    `[[[[…` segfaults the process. There the pure-Python loader is used, whose recursion Python bounds."""
    try:
        from yaml import _yaml

        return bool(_yaml.get_version() >= (0, 2, 6))
    except (ImportError, AttributeError):
        return False


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if _libyaml_limits_nesting() else yaml.SafeLoader
_MERGE = "tag:yaml.org,2002:merge"


class _StrictLoader(_Loader):  # type: ignore[valid-type,misc]
    """Refuses a duplicate key as each mapping is built, when ``keys_of`` names the document (see ``parse_yaml``)."""

    keys_of: Path | None = None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if self.keys_of is not None:
            _unique_yaml_keys(node, self.keys_of)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep)
        return mapping


class _Yaml12BoolLoader(_StrictLoader):
    """SafeLoader that reads only true/false as booleans (YAML 1.2), so the key `on` stays `on`."""


_Yaml12BoolLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}
_Yaml12BoolLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def read_text(path: Path, *, max_bytes: int | None = None) -> str:
    """Read a UTF-8 regular file, never through a symbolic link; every failure is an InputError naming it."""
    raw = _read_bytes(path, max_bytes)
    if b"\x00" in raw:
        raise InputError(path, "binary content (NUL byte), expected UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start})") from None


def _read_bytes(path: Path, max_bytes: int | None) -> bytes:
    fd, info = open_file(path)
    try:
        if max_bytes is None or info.st_size <= max_bytes:
            with os.fdopen(fd, "rb", closefd=False) as handle:
                raw = handle.read(-1 if max_bytes is None else max_bytes + 1)
            if max_bytes is None or len(raw) <= max_bytes:  # else it grew since fstat: no more than the limit is read
                return raw
        raise InputError(path, f"file is larger than the {max_bytes:,}-byte limit")
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror or err}") from None
    finally:
        os.close(fd)


def open_file(path: Path) -> tuple[int, os.stat_result]:
    """``files.open_regular`` (no link, no waiting on a FIFO, a regular file only), every refusal an
    InputError naming the file."""
    try:
        return open_regular(path)
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a file") from None
    except NotRegularFile:
        raise InputError(path, "is not a regular file (device, FIFO or socket); refused") from None
    except OSError as err:
        raise _open_error(path, err) from None


def _open_error(path: Path, err: OSError) -> InputError:
    if err.errno == errno.ENOENT:
        return InputError(path, "file not found")
    if err.errno == errno.ELOOP and is_link(path):
        return InputError(path, "is a symbolic link; the agent never reads through links (replace it with the file)")
    return InputError(path, f"cannot open: {err.strerror or err}")


def is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key


class _NonFinite:
    """What ``NaN``/``Infinity`` parse to, so the reader can name the field before refusing them."""

    def __init__(self, token: str) -> None:
        self.token = token


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _DuplicateKey(_first_repeat([key for key, _ in pairs]))
    return result


def _first_repeat(keys: list[str]) -> str:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            return key
        seen.add(key)
    return ""


def parse_json(text: str, path: Path) -> Any:
    """Strict JSON: duplicate keys, ``NaN``/``Infinity`` and nesting past ``MAX_DEPTH`` are InputErrors naming the place."""
    constants: list[_NonFinite] = []

    def constant(token: str) -> _NonFinite:
        constants.append(_NonFinite(token))
        return constants[-1]

    try:
        data = json.loads(text, object_pairs_hook=_unique, parse_constant=constant)
    except json.JSONDecodeError as err:
        raise InputError(path, f"invalid JSON: {err.msg}", line=err.lineno, column=err.colno) from None
    except _DuplicateKey as err:
        raise InputError(path, f"duplicate key {printable(json.dumps(err.key))} (which one counts is ambiguous)") from None
    except RecursionError:
        raise InputError(path, f"JSON nests too deeply (more than {MAX_DEPTH} levels)") from None
    except ValueError as err:  # a number Python will not read: more than 4,300 digits
        raise InputError(path, f"invalid JSON: {_unreadable(err)}") from None
    if constants:
        where = locate(data, lambda value: isinstance(value, _NonFinite))
        raise InputError(path, f"{constants[0].token} is not a number JSON allows", field=where)
    check_depth(data, path, text)
    return data


def check_depth(data: Any, path: Path, text: str | None = None) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH``, one level at a time (no recursion, so it cannot overflow itself).

    ``text``, the document's source, lets a document with few brackets skip the walk.
    """
    if text is not None and _few_brackets(text):
        return
    # Parsed JSON and YAML hold exact dicts and lists: an exact-type lookup and one comprehension per level keep a
    # 13 MB document to ~20 ms (C-level map/compress passes measured slower).
    level: list[Any] = [data] if type(data) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_DEPTH:
            raise InputError(path, f"nests too deeply (more than {MAX_DEPTH} levels)")
        level = [v for value in level for v in (value.values() if type(value) is dict else value) if type(v) in _CONTAINERS]


_CONTAINERS = frozenset((dict, list))
"""The types ``check_depth`` descends into: exactly dict and list (a type hashes and compares by identity)."""


def _few_brackets(text: str) -> bool:
    """Whether ``text`` holds at most ``MAX_DEPTH`` of ``{`` and ``[`` together, so it cannot nest deeper.

    ``str.find`` stops at the ``MAX_DEPTH + 1``-th: a 13 MB document full of brackets answers in microseconds,
    where counting them all took ~8 ms; one without brackets is two C scans.
    """
    found = 0
    for bracket in "{[":
        at = text.find(bracket)
        while at >= 0:
            found += 1
            if found > MAX_DEPTH:
                return False
            at = text.find(bracket, at + 1)
    return True


def locate(data: Any, found: Any) -> str | None:
    """The dotted path (``a.b[2].c``) of the first value for which ``found(value)`` is true, or None."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        where, value = stack.pop()
        if found(value):
            return where or "$"
        if isinstance(value, dict):
            stack += [(f"{where}.{k}" if where else str(k), v) for k, v in reversed(value.items())]
        elif isinstance(value, list):
            stack += [(f"{where}[{i}]", v) for i, v in reversed(list(enumerate(value)))]
    return None


def parse_yaml(text: str, path: Path, *, yaml12_bools: bool = False) -> Any:
    """Parse one YAML document: no alias expansion past ``MAX_EXPANDED_NODES``, no duplicate keys, no deep nesting."""
    loader = (_Yaml12BoolLoader if yaml12_bools else _StrictLoader)(text)
    tree = _plain_tree(text)
    if tree:
        loader.keys_of = path
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if not tree:
            _check_nodes(node, path)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        problem = err.problem or err.context or "invalid YAML"
        raise InputError(path, f"invalid YAML: {problem}", line=line, column=column) from None
    except yaml.YAMLError as err:
        raise InputError(path, f"invalid YAML: {err}") from None
    except RecursionError:
        raise InputError(path, "YAML nests too deeply") from None
    except ValueError as err:  # a value its type cannot hold: an integer of more than 4,300 digits, a date 2024-13-45
        raise InputError(path, f"invalid YAML: {_unreadable(err)}") from None
    finally:
        loader.dispose()
    check_depth(data, path)
    return data


def _unreadable(err: ValueError) -> str:
    """Python's reason, without its advice to raise the interpreter's limit (not the reader's to take)."""
    return printable(str(err).split("; use sys.set_int_max_str_digits")[0])


def _plain_tree(text: str) -> bool:
    """The document is a tree that cannot expand: no alias (``*``), no merge key (``<<``, or a tag: ``!``), and too
    short to hold ``MAX_EXPANDED_NODES`` nodes (each node takes a character, or is one of the two empty scalars an
    indicator makes). Every mapping is then built once, as written: its keys are checked as it is built, and the
    walk over the whole node graph that aliases need (``_check_nodes``) is not (a message: ~15 µs less)."""
    return len(text) < MAX_EXPANDED_NODES // 4 and "*" not in text and "<<" not in text and "!" not in text


def _check_nodes(root: yaml.Node, path: Path) -> None:
    """Count the nodes the document would expand to (sharing work across aliases) and refuse duplicate keys."""
    if _size(root, path, {}, set()) > MAX_EXPANDED_NODES:
        raise InputError(path, f"YAML aliases expand past {MAX_EXPANDED_NODES:,} nodes (alias bomb?); refused")


def _size(node: yaml.Node, path: Path, sizes: dict[int, int], on_stack: set[int]) -> int:
    # A module function, not a closure over itself: that would be a reference cycle per document, which the
    # commands that run with the cycle collector off (agent/collector.py) would keep until they exit.
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in on_stack:
        raise InputError(path, "YAML alias refers to itself (recursive document)")
    on_stack.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_size(child, path, sizes, on_stack) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        _unique_yaml_keys(node, path)
        total += sum(_size(k, path, sizes, on_stack) + _size(v, path, sizes, on_stack) for k, v in node.value)
    on_stack.discard(key)
    total = min(total, MAX_EXPANDED_NODES + 1)
    sizes[key] = total
    return total


def _unique_yaml_keys(node: yaml.MappingNode, path: Path) -> None:
    seen: set[tuple[str, str]] = set()
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
            continue
        if (key.tag, key.value) in seen:
            mark = key.start_mark
            raise InputError(path, f"duplicate key {printable(json.dumps(key.value))}", line=mark.line + 1, column=mark.column + 1)
        seen.add((key.tag, key.value))


def load_json_file(path: Path, *, max_bytes: int | None = None) -> Any:
    return parse_json(read_text(path, max_bytes=max_bytes), path)


def load_yaml_file(path: Path, *, max_bytes: int | None = None) -> Any:
    return parse_yaml(read_text(path, max_bytes=max_bytes), path)
