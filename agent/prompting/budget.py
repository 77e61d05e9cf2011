"""Fit upstream documents into a token budget, deterministically, saying what was left out.

Documents are sent as compact JSON, each in its labelled block. When that is over budget:
inbox messages beyond a quarter of the budget are left out (oldest first); then the bulkiest
list (or string) anywhere is cut down to its first items, repeatedly; then, if it still does
not fit, more messages are left out. Every cut is reported so the prompt can tell the model
what it is not seeing.
"""

from __future__ import annotations

import json
import math
from collections import deque
from typing import Any, NamedTuple

CHARS_PER_TOKEN = 2.6
"""Calibrated for compact JSON on the Sonnet 5.x tokenizer: 3.5 undercounted by ~30 % (a 60k budget
was 75-90k real tokens). The API's free count_tokens endpoint replaces this estimate when available."""
MESSAGE_SHARE = 0.25
"""Inbox messages may take this much of the budget before the oldest are left out."""
FRAME = 40
"""Characters of the ``<document source="...">`` framing around each block, besides its label."""
MAX_CUTS = 50

Path = tuple[str | int, ...]


def tokens(chars: int, chars_per_token: float = CHARS_PER_TOKEN) -> int:
    return math.ceil(chars / chars_per_token)


def _size(value: Any) -> int:
    return len(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str))


class _Bulk(NamedTuple):
    size: int
    label: str
    path: Path
    item_sizes: tuple[int, ...] | None  # None for a string


def fit(
    docs: dict[str, Any],
    max_tokens: int,
    *,
    droppable: list[str] | None = None,
    chars_per_token: float = CHARS_PER_TOKEN,
) -> tuple[dict[str, Any], list[str]]:
    """``docs`` cut to ``max_tokens``; ``droppable`` labels (oldest first) may be left out whole."""
    limit = int(max_tokens * chars_per_token)
    state = _Fit(docs, droppable or [])
    if state.total <= limit:
        return docs, []
    state.drop(allowance=limit * MESSAGE_SHARE)
    state.cut(limit)
    if state.total > limit:
        state.drop(allowance=state.queued - (state.total - limit))
    notes = ([_dropped_note(state.dropped, state.messages)] if state.dropped else []) + state.notes
    if state.total > limit:
        notes.append(f"still about {tokens(state.total, chars_per_token):,} tokens after trimming (budget {max_tokens:,})")
    return state.docs, notes


class _Fit:
    """The documents being fitted, their framed sizes, and the messages that may still be left out."""

    def __init__(self, docs: dict[str, Any], droppable: list[str]) -> None:
        self.docs = dict(docs)
        self.sizes = {label: _size(doc) + len(label) + FRAME for label, doc in docs.items()}
        self.queue = deque(d for d in droppable if d in docs)
        self.messages = len(self.queue)
        self.queued = sum(self.sizes[d] for d in self.queue)
        self.total = sum(self.sizes.values())
        self.dropped: list[str] = []
        self.notes: list[str] = []

    def drop(self, allowance: float) -> None:
        """Leave out the oldest messages until the rest take at most ``allowance`` characters."""
        while self.queue and self.queued > allowance:
            label = self.queue.popleft()
            size = self.sizes.pop(label)
            self.queued -= size
            self.total -= size
            del self.docs[label]
            self.dropped.append(label)

    def cut(self, limit: int) -> None:
        for _ in range(MAX_CUTS):
            if self.total <= limit:
                return
            bulk = _bulkiest(self.docs, limit)
            if bulk is None:
                return
            removed, note = _cut(self.docs, bulk, self.total - limit)
            self.sizes[bulk.label] -= removed
            self.queued -= removed if bulk.label in self.queue else 0
            self.total -= removed
            self.notes.append(note)


def _dropped_note(dropped: list[str], messages: int) -> str:
    names = dropped[0] if len(dropped) == 1 else f"{dropped[0]} … {dropped[-1]}"
    return f"left out {len(dropped):,} of {messages:,} inbox messages, the oldest ({names}), to fit the input budget"
def _bulkiest(docs: dict[str, Any], limit: int) -> _Bulk | None:
    found: list[_Bulk] = []
    floor = max(limit // 16, 64)

    def walk(label: str, node: Any, path: Path, size: int) -> None:
        if isinstance(node, str) and size > floor:
            found.append(_Bulk(size, label, path, None))
        elif isinstance(node, list) and node:
            items = tuple(_size(item) for item in node)
            if len(node) > 1:
                found.append(_Bulk(size, label, path, items))
            for i, (item, item_size) in enumerate(zip(node, items, strict=True)):
                if item_size > floor:
                    walk(label, item, (*path, i), item_size)
        elif isinstance(node, dict):
            for key in sorted(node):
                child = node[key]
                child_size = _size(child) if isinstance(child, list | dict | str) else 0
                if child_size > floor:
                    walk(label, child, (*path, key), child_size)

    for label in sorted(docs):
        walk(label, docs[label], (), _size(docs[label]))
    return max(found, key=lambda b: (b.size, b.label, str(b.path)), default=None)


def _cut(docs: dict[str, Any], bulk: _Bulk, excess: int) -> tuple[int, str]:
    node = _get(docs[bulk.label], bulk.path)
    where = f"{bulk.label} {_json_path(bulk.path)}"
    if bulk.item_sizes is None:
        keep = max(bulk.size - excess - 80, 200)
        marker = f"... [{len(node) - keep:,} characters omitted to fit the input budget]"
        docs[bulk.label] = _set(docs[bulk.label], bulk.path, node[:keep] + marker)
        return len(node) - keep - len(marker), f"{where}: kept the first {keep:,} of {len(node):,} characters"
    target, used, keep = bulk.size - excess - 120, 2, 0
    for item_size in bulk.item_sizes:
        if used + item_size + 1 > target:
            break
        used, keep = used + item_size + 1, keep + 1
    keep = min(max(keep, 1), len(node) - 1)
    left = len(node) - keep
    marker = f"[{left:,} more items omitted to fit the input budget]"
    docs[bulk.label] = _set(docs[bulk.label], bulk.path, [*node[:keep], marker])
    removed = sum(bulk.item_sizes[keep:]) + left - len(marker) - 3
    return removed, f"{where}: kept the first {keep:,} of {len(node):,} items"


def _get(node: Any, path: Path) -> Any:
    for key in path:
        node = node[key]
    return node


def _set(node: Any, path: Path, value: Any) -> Any:
    """A copy of ``node`` with ``value`` at ``path``; only the containers on the path are copied."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy: Any = list(node) if isinstance(node, list) else dict(node)
    copy[head] = _set(node[head], rest, value)
    return copy


def _json_path(path: Path) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
