"""Identifiers that become names: the epic id pattern we accept, and DNS-1123 labels for Kubernetes and services."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from typing import TypeGuard

from agent.errors import hidden
from agent.files import sha256

EPIC_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""An epic id we accept from upstream files (matched whole): it reaches comments, file names and logs."""

DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
"""RFC 1123 label as Kubernetes checks it (matched whole): ≤ 63 chars, no leading or trailing '-'."""

_MAX_LABEL = 63
_NOT_LABEL = re.compile(r"[^a-z0-9]+")


def word(value: object) -> str | None:
    """A word as the gates compare it, whatever its case and surrounding spaces; anything but a string reads as None."""
    return value.strip().lower() if isinstance(value, str) else None


def folded(text: str) -> str:
    """``text`` as a person reads it: NFKC-folded (full-width forms, the Kelvin sign), what is hidden dropped, stripped
    and case-folded."""
    if text.isascii() and text.isprintable():  # the common case: nothing to fold but the case
        return text.strip().lower()
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not hidden(ch)).strip().casefold()


def looks_like(text: str, names: Collection[str]) -> bool:
    """``text`` reads to a person as one of ``names`` (lower-case ASCII): in any case or spacing, once :func:`folded`
    (full-width letters, a zero-width space), or letter for letter but where its letter is not ASCII (a Cyrillic U+0435)."""
    seen = folded(text)
    if seen.isascii() and text.isascii():
        return seen in names
    same = (len(seen) == len(n) and all(a == b or not a.isascii() for a, b in zip(seen, n, strict=True)) for n in names)
    return word(text) in names or seen in names or (not seen.isascii() and any(same))


def is_epic_id(text: str) -> bool:
    return EPIC_ID.fullmatch(text) is not None


_PLAIN_PATH = re.compile(r"(?:/[A-Za-z0-9._~-]*)+")


def is_plain_path(text: object) -> TypeGuard[str]:
    """A URL path of unreserved characters only (RFC 3986): the only kind made a probe, or put in a workflow's command."""
    return isinstance(text, str) and _PLAIN_PATH.fullmatch(text) is not None


def is_dns_label(text: str) -> bool:
    return DNS_LABEL.fullmatch(text) is not None


def dns_label(text: str | None, fallback: str) -> str:
    """``text`` as a DNS-1123 label (lowercase, '-' for anything else); ``fallback``'s label when nothing is left.

    A name longer than 63 characters keeps its first 54 and gains 8 hex digits of its hash, so two long
    names that share a prefix still get two labels.
    """
    label = _slug(text or "")
    if not label:
        label = _slug(fallback)
    if not label:
        raise ValueError(f"fallback {fallback!r} has no character a DNS label can use")
    if len(label) > _MAX_LABEL:
        digest = sha256(label.encode()).hexdigest()[:8]
        label = f"{label[: _MAX_LABEL - 9].rstrip('-')}-{digest}"
    return label


RESERVED_NAMESPACE_PREFIX = "kube-"
"""Kubernetes reserves namespaces starting ``kube-`` (kube-system, kube-public, kube-node-lease) for the cluster."""


def namespace_for(app: str) -> str:
    """The namespace a plan names for ``app``: the app's own, unless Kubernetes reserves it (``kube-proxy`` → ``app-kube-proxy``)."""
    return dns_label(f"app-{app}", app) if app.startswith(RESERVED_NAMESPACE_PREFIX) else app


def planned_namespace(infrastructure: object, app: str | None) -> str | None:
    """Where a plan deploys: its ``infrastructure.namespace``, else the app's own (``namespace_for``); None for neither."""
    given = infrastructure.get("namespace") if isinstance(infrastructure, dict) else None
    return given if isinstance(given, str) and given else namespace_for(app) if app else None


def _slug(text: str) -> str:
    # NFKD splits accented letters so "Café" keeps its "e"; what is not ASCII afterwards is dropped.
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_LABEL.sub("-", ascii_text.lower()).strip("-")
