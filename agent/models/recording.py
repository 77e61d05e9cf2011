"""Record and replay Messages API exchanges in the wire format, as httpx2 transports.

A recording is JSON: ``{"format": ..., "exchanges": [{"request": {...}, "response": {...}}]}``.
Request and response bodies are kept as sent and received; of the headers only
``retry-after``, ``retry-after-ms`` and ``content-type`` are kept, so no
``authorization`` or ``x-api-key`` ever reaches a recording.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx2

from agent.documents import load_json_file
from agent.errors import InputError, ReplayMismatchError

FORMAT = "devops-agent-recording/1"
KEPT_HEADERS = ("retry-after", "retry-after-ms", "content-type")


def _body(request: httpx2.Request) -> Any:
    raw = request.read()
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return raw.decode("utf-8", "replace")


class RecordingTransport(httpx2.BaseTransport):
    """Passes every request to ``inner`` and keeps the exchange."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[dict[str, Any]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        entry: dict[str, Any] = {"request": {"method": request.method, "path": request.url.path, "body": _body(request)}}
        self.exchanges.append(entry)
        try:
            response = self.inner.handle_request(request)
        except httpx2.TimeoutException:
            entry["error"] = "timeout"
            raise
        except httpx2.TransportError:
            entry["error"] = "connection"
            raise
        content = response.read()
        try:
            body: Any = json.loads(content) if content else None
        except json.JSONDecodeError:
            body = content.decode("utf-8", "replace")
        headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
        entry["response"] = {"status": response.status_code, "headers": headers, "body": body}
        return httpx2.Response(response.status_code, headers=response.headers, content=content, request=request)

    def save(self, path: Path) -> None:
        data = {"format": FORMAT, "exchanges": self.exchanges}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def load(path: Path) -> list[dict[str, Any]]:
    data = load_json_file(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("exchanges"), list):
        raise InputError(path, f"not a recording (expected format {FORMAT!r} with an exchanges list)")
    exchanges: list[dict[str, Any]] = data["exchanges"]
    return exchanges


def first_difference(expected: Any, actual: Any, path: str = "$") -> tuple[str, str] | None:
    """The JSON path of the first difference between two documents, and what differs there."""
    if type(expected) is not type(actual):
        return path, f"recorded {type(expected).__name__}, now {type(actual).__name__}"
    if isinstance(expected, dict):
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                return f"{path}.{key}", "recorded but no longer sent"
            if key not in expected:
                return f"{path}.{key}", "sent now but not recorded"
            if found := first_difference(expected[key], actual[key], f"{path}.{key}"):
                return found
        return None
    if isinstance(expected, list):
        for i, (e, a) in enumerate(zip(expected, actual, strict=False)):
            if found := first_difference(e, a, f"{path}[{i}]"):
                return found
        if len(expected) != len(actual):
            return path, f"recorded {len(expected)} items, now {len(actual)}"
        return None
    if expected != actual:
        return path, f"recorded {_short(expected)}, now {_short(actual)}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class ReplayTransport(httpx2.BaseTransport):
    """Serves a recording in order; any request that differs from the recorded one fails closed."""

    def __init__(self, path: Path, exchanges: list[dict[str, Any]] | None = None) -> None:
        self.path = path
        self.exchanges = exchanges if exchanges is not None else load(path)
        self.position = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        index = self.position
        if index >= len(self.exchanges):
            raise ReplayMismatchError(self.path, index, "$", f"the recording has only {len(self.exchanges)} request(s)")
        self.position += 1
        exchange = self.exchanges[index]
        recorded = exchange.get("request", {})
        if diff := first_difference(recorded.get("body"), _body(request)):
            raise ReplayMismatchError(self.path, index, *diff)
        if exchange.get("error") == "timeout":
            raise httpx2.ReadTimeout("recorded timeout", request=request)
        if exchange.get("error"):
            raise httpx2.RemoteProtocolError("recorded dropped connection", request=request)
        response = exchange["response"]
        headers = {"content-type": "application/json", **response.get("headers", {})}
        return httpx2.Response(response["status"], headers=headers, json=response.get("body"), request=request)
