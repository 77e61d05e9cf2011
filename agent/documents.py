"""Parse JSON and YAML text safely: bounded size, no alias bombs, errors with line:column."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from agent.errors import InputError

MAX_EXPANDED_NODES = 100_000
"""A YAML document whose aliases would expand past this many nodes is refused."""

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Yaml12BoolLoader(_Loader):  # type: ignore[valid-type,misc]
    """SafeLoader that reads only true/false as booleans (YAML 1.2), so the key `on` stays `on`."""


_Yaml12BoolLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
}
_Yaml12BoolLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def read_text(path: Path, *, max_bytes: int | None = None) -> str:
    """Read a UTF-8 text file; binary content, a size over ``max_bytes`` or I/O errors raise."""
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise InputError(path, f"file is larger than the {max_bytes:,}-byte limit")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a file") from None
    except OSError as err:
        raise InputError(path, f"cannot read: {err.strerror}") from None
    if b"\x00" in raw:
        raise InputError(path, "binary content (NUL byte), expected UTF-8 text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start})") from None


def parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(path, f"invalid JSON: {err.msg}", line=err.lineno, column=err.colno) from None


def parse_yaml(text: str, path: Path, *, yaml12_bools: bool = False) -> Any:
    """Parse one YAML document without ever expanding aliases past ``MAX_EXPANDED_NODES``."""
    loader = (_Yaml12BoolLoader if yaml12_bools else _Loader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, path)
        return loader.construct_document(node)
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
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, path: Path) -> None:
    """Count the nodes the document would expand to, sharing work across aliases."""
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in on_stack:
            raise InputError(path, "YAML alias refers to itself (recursive document)")
        on_stack.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        on_stack.discard(key)
        total = min(total, MAX_EXPANDED_NODES + 1)
        sizes[key] = total
        return total

    if size(root) > MAX_EXPANDED_NODES:
        raise InputError(path, f"YAML aliases expand past {MAX_EXPANDED_NODES:,} nodes (alias bomb?); refused")


def load_json_file(path: Path, *, max_bytes: int | None = None) -> Any:
    return parse_json(read_text(path, max_bytes=max_bytes), path)


def load_yaml_file(path: Path, *, max_bytes: int | None = None) -> Any:
    return parse_yaml(read_text(path, max_bytes=max_bytes), path)
