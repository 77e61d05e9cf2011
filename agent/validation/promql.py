"""PromQL syntax through promql-parser (Prometheus's grammar, compiled), when it is installed."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache, lru_cache
from types import ModuleType
from typing import Any

TOOL = "promql-parser"
INSTALL = "pip install promql-parser"
# A rule's expression must give an instant vector (or a scalar); these kinds of expression never do.
_NOT_INSTANT = {"MatrixSelector": "a range vector", "SubqueryExpr": "a range vector", "StringLiteral": "a string"}


@cache
def _parser() -> ModuleType | None:
    try:
        import promql_parser
    except ImportError:
        return None
    return promql_parser


def available() -> bool:
    return _parser() is not None


@lru_cache(maxsize=256)
def _parsed(expr: str) -> tuple[Any, str | None]:
    """(syntax tree, None) or (None, why not): each expression is parsed once, though every rendered file repeats it."""
    parser = _parser()
    assert parser is not None, "promql-parser is not installed"
    try:
        return parser.parse(expr), None
    except ValueError as err:
        return None, f"not valid PromQL: {err}"


def problem(expr: str) -> str | None:
    """Why ``expr`` is not a valid alerting expression, or ``None``; call only when ``available()``."""
    tree, error = _parsed(expr)
    if error:
        return error
    while type(tree).__name__ == "ParenExpr":
        tree = tree.expr
    kind = _NOT_INSTANT.get(type(tree).__name__)
    return f"gives {kind}; an alert needs an instant vector (wrap it in rate(), sum(), ...)" if kind else None


_SET_OPERATORS = {"and", "unless"}
"""What a side that selects nothing silences (``or vector(0)``, the idiom for "none yet", only adds a series)."""


def inert(expr: str, job: str) -> list[str]:
    """How ``expr`` could watch something other than ``job`` or nothing at all, as an alert that never fires would:
    a selector without the matcher ``job="<job>"``, no selector at all, or an ``and`` or ``unless`` with a side that
    selects nothing (``up{job="api"} == 0 and on() vector(0) > 1`` never fires).
    Call only when ``available()``, on an expression ``problem`` accepts."""
    tree = _parsed(expr)[0]
    selectors = list(_selectors(tree))
    found = [f"{_shown(s)} does not select job=\"{job}\"" for s in selectors if not _selects(s, job)]
    found += [f"`{op}` with a side that selects nothing ({side})" for op, side in _constant_sides(tree)]
    return found + ([] if selectors else ["it selects no series"])


def _children(node: Any) -> list[Any]:
    kind = type(node).__name__
    if kind == "MatrixSelector":
        return [node.vector_selector]
    if kind == "Call":
        return list(node.args)
    if kind == "BinaryExpr":
        return [node.lhs, node.rhs]
    return [child for name in ("expr", "param") if (child := getattr(node, name, None)) is not None and kind != "VectorSelector"]


def _selectors(node: Any) -> Iterator[Any]:
    if type(node).__name__ == "VectorSelector":
        yield node
    for child in _children(node):
        yield from _selectors(child)


def _selects(selector: Any, job: str) -> bool:
    alternatives = selector.matchers.or_matchers or [selector.matchers.matchers]
    return all(any(m.name == "job" and str(m.op) == "MatchOp.Equal" and m.value == job for m in group) for group in alternatives)


def _constant_sides(node: Any) -> Iterator[tuple[str, str]]:
    if type(node).__name__ == "BinaryExpr" and str(node.op) in _SET_OPERATORS:
        for side in (node.lhs, node.rhs):
            if not any(True for _ in _selectors(side)):
                yield str(node.op), side.prettify()
    for child in _children(node):
        yield from _constant_sides(child)


def _shown(selector: Any) -> str:
    return str(selector.prettify())
