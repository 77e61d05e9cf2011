"""Fit upstream documents into a token budget, deterministically, saying what was left out.

Documents are sent as compact JSON. When that is still over budget, the bulkiest
list (or string) is cut down to its first items, repeatedly, until it fits; each
cut is reported so the prompt can tell the model what it is not seeing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 3.5
"""Conservative for JSON (Claude tokenizers average nearer 4 characters a token)."""
MAX_CUTS = 50

Path = tuple[str | int, ...]


def tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def _size(value: Any) -> int:
    return len(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str))


@dataclass(frozen=True)
class _Bulk:
    size: int
    label: str
    path: Path
    item_sizes: tuple[int, ...] | None  # None for a string


def fit(docs: dict[str, Any], max_tokens: int) -> tuple[dict[str, Any], list[str]]:
    limit = int(max_tokens * CHARS_PER_TOKEN)
    sizes = {label: _size(doc) for label, doc in docs.items()}
    total = sum(sizes.values())
    if total <= limit:
        return docs, []
    docs, notes = dict(docs), []
    for _ in range(MAX_CUTS):
        if total <= limit:
            break
        bulk = _bulkiest(docs, limit)
        if bulk is None:
            break
        removed, note = _cut(docs, bulk, total - limit)
        total -= removed
        notes.append(note)
    if total > limit:
        notes.append(f"still about {tokens(total):,} tokens after trimming (budget {max_tokens:,})")
    return docs, notes


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
