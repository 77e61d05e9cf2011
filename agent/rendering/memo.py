"""What this process rendered: the documents behind each of the last texts, so checking a rendered file need not parse it."""

from __future__ import annotations

from typing import Any


class Renderings:
    """The documents each of the last ``kept`` texts was dumped from, newest last (a long-lived process does not grow).

    A renderer remembers a text with the documents it dumped; a check that is given exactly that text takes the
    documents instead of parsing it. Reading the text back gives the same documents (each renderer's tests parse every
    file it renders and compare), and the checks only read what they are given (tested the same way).
    """

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._docs: dict[str, tuple[Any, ...]] = {}

    def remember(self, text: str, *docs: Any) -> str:
        self._docs.pop(text, None)
        self._docs[text] = docs
        while len(self._docs) > self.kept:
            del self._docs[next(iter(self._docs))]
        return text

    def of(self, text: str) -> tuple[Any, ...] | None:
        """The documents ``text`` was rendered from, or None when it is not (or no longer) one of the kept texts."""
        return self._docs.get(text)

    def __len__(self) -> int:
        return len(self._docs)


MANIFESTS = Renderings(kept=256)
"""Kubernetes manifests and alert rules (the files of the last ten renderings or so), read back by `validation.k8s`."""
WORKFLOWS = Renderings(kept=16)
"""GitHub Actions workflows, read back by `validation.cicd`."""
