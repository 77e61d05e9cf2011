"""What the edit tools do: JSON Patch (add, remove, replace) on the plan, exact-text replacement on the files.

Both work on a copy and apply all operations or none, so a failed edit never leaves half a change.
"""

from __future__ import annotations

from typing import Any


class EditError(ValueError):
    """An operation that cannot be applied; ``where`` names it (``$.operations[2]``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


def _tokens(pointer: str) -> list[str]:
    # RFC 6901: "~1" is "/", "~0" is "~" (in that order).
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def _index(container: list[Any], token: str, *, appending: bool) -> int:
    if appending and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise KeyError(f"{token!r} is not a list index")
    index, bound = int(token), len(container) + (1 if appending else 0)
    if index >= bound:
        raise KeyError(f"index {index} is past the end of a list of {len(container)}")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, appending=False)]
        else:
            raise KeyError(f"{token!r} does not exist")
    return node


def _apply_one(doc: Any, op: str, pointer: str, value: Any) -> None:
    tokens = _tokens(pointer)
    if not tokens:
        raise KeyError("the whole plan cannot be replaced here (use write_deployment)")
    parent, last = _parent(doc, tokens), tokens[-1]
    if isinstance(parent, dict):
        if op != "add" and last not in parent:
            raise KeyError(f"{last!r} does not exist")
        if op == "remove":
            del parent[last]
        else:
            parent[last] = value
    elif isinstance(parent, list):
        index = _index(parent, last, appending=op == "add")
        if op == "add":
            parent.insert(index, value)
        elif op == "remove":
            del parent[index]
        else:
            parent[index] = value
    else:
        raise KeyError(f"the parent of {last!r} is a {type(parent).__name__}, not an object or list")


def patch(doc: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """``doc`` with the JSON Patch ``operations`` applied, or EditError naming the first that cannot be."""
    import copy  # only a model's edit needs it: a run that makes none does not import it (with weakref)

    result = copy.deepcopy(doc)
    for i, operation in enumerate(operations):
        op, pointer = operation["op"], operation["path"]
        if op != "remove" and "value" not in operation:
            raise EditError(f"$.operations[{i}]", f"{op} {pointer} needs a value")
        try:
            _apply_one(result, op, pointer, copy.deepcopy(operation.get("value")))
        except KeyError as err:
            raise EditError(f"$.operations[{i}]", f"{op} {pointer}: {err.args[0]}") from None
    return result


def replace(text: str, edits: list[dict[str, str]]) -> str:
    """``text`` with each ``old`` (which must occur exactly once at its turn) replaced by ``new``."""
    for i, edit in enumerate(edits):
        found = text.count(edit["old"])
        if found != 1:
            problem = "not found" if found == 0 else f"found {found} times; include more surrounding text so it is unique"
            raise EditError(f"$.edits[{i}]", f"`old` {problem}: {_preview(edit['old'])}")
        text = text.replace(edit["old"], edit["new"], 1)
    return text


def _preview(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else text
    return repr(first if len(first) <= 60 else first[:57] + "...")
