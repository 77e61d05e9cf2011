"""PromQL syntax through promql-parser (Prometheus's grammar, compiled), when it is installed."""

from __future__ import annotations

from functools import cache
from types import ModuleType

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


def problem(expr: str) -> str | None:
    """Why ``expr`` is not a valid alerting expression, or ``None``; call only when ``available()``."""
    parser = _parser()
    assert parser is not None, "promql-parser is not installed"
    try:
        tree = parser.parse(expr)
    except ValueError as err:
        return f"not valid PromQL: {err}"
    while type(tree).__name__ == "ParenExpr":
        tree = tree.expr
    kind = _NOT_INSTANT.get(type(tree).__name__)
    return f"gives {kind}; an alert needs an instant vector (wrap it in rate(), sum(), ...)" if kind else None
