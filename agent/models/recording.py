"""Record and replay Messages API exchanges in the wire format, as httpx2 transports.

A recording is JSON: ``{"format": ..., "exchanges": [{"request": {...}, "response": {...}}]}``.
Request bodies are kept as sent; a JSON response keeps its ``body``, a streamed one its
``text/event-stream`` body as ``sse`` lines (joined with ``\\n`` they are the bytes received).
Of the request headers only ``anthropic-version`` is kept, of the response headers only those in
``KEPT_HEADERS``: no ``authorization`` or ``x-api-key`` ever reaches a recording. A stream that
broke is kept up to the break, with ``error`` saying how it broke.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2

from agent.documents import load_json_file
from agent.errors import InputError, ReplayMismatchError
from agent.files import atomic_write

FORMAT = "devops-agent-recording/2"
KEPT_HEADERS = ("content-type", "retry-after", "retry-after-ms", "x-should-retry", "request-id")
REQUEST_HEADERS = ("anthropic-version",)
# The body is handed on decoded, so these describe bytes that no longer exist.
_TRANSFER_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}


def _body(request: httpx2.Request) -> Any:
    raw = request.read()
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def _request_entry(request: httpx2.Request) -> dict[str, Any]:
    headers = {h: request.headers[h] for h in REQUEST_HEADERS if h in request.headers}
    return {"method": request.method, "path": request.url.path, "headers": headers, "body": _body(request)}


def _is_sse(headers: httpx2.Headers | dict[str, str]) -> bool:
    return str(headers.get("content-type", "")).startswith("text/event-stream")


def _failure(err: httpx2.TransportError) -> str:
    return "timeout" if isinstance(err, httpx2.TimeoutException) else "connection"


class _Tee(httpx2.SyncByteStream):
    """Hands a streamed body on chunk by chunk (so idle timeouts and progress still work) while keeping it."""

    def __init__(self, response: httpx2.Response, entry: dict[str, Any], exchange: dict[str, Any]) -> None:
        self.response, self.entry, self.exchange, self.kept = response, entry, exchange, bytearray()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.response.iter_bytes():
                self.kept += chunk
                yield chunk
        except httpx2.TransportError as err:
            self.exchange["error"] = _failure(err)
            raise
        finally:
            self.entry["sse"] = self.kept.decode("utf-8", "replace").split("\n")

    def close(self) -> None:
        self.response.close()


class RecordingTransport(httpx2.BaseTransport):
    """Passes every request to ``inner`` (the network, or a fake upstream in tests) and keeps the exchange."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[dict[str, Any]] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        exchange: dict[str, Any] = {"request": _request_entry(request)}
        self.exchanges.append(exchange)
        try:
            response = self.inner.handle_request(request)
        except httpx2.TransportError as err:
            exchange["error"] = _failure(err)
            raise
        kept = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _TRANSFER_HEADERS]
        entry: dict[str, Any] = {"status": response.status_code, "headers": kept}
        exchange["response"] = entry
        if _is_sse(response.headers):
            entry["sse"] = []
            return httpx2.Response(response.status_code, headers=headers, stream=_Tee(response, entry, exchange), request=request)
        content = response.read()
        try:
            entry["body"] = json.loads(content) if content else None
        except json.JSONDecodeError:
            entry["body"] = content.decode("utf-8", "replace")
        return httpx2.Response(response.status_code, headers=headers, content=content, request=request)

    def close(self) -> None:
        self.inner.close()

    def save(self, path: Path) -> None:
        data = {"format": FORMAT, "exchanges": self.exchanges}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")


def load(path: Path) -> list[dict[str, Any]]:
    data = load_json_file(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("exchanges"), list):
        raise InputError(path, f"not a recording (expected format {FORMAT!r} with an exchanges list; re-record older ones)")
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
    if isinstance(expected, str) and expected != actual and max(len(expected), len(actual)) > 60:
        at = next((i for i, (e, a) in enumerate(zip(expected, actual, strict=False)) if e != a), min(len(expected), len(actual)))
        start = max(at - 20, 0)
        return path, f"at character {at}: recorded {_short(expected[start:])}, now {_short(actual[start:])}"
    if expected != actual:
        return path, f"recorded {_short(expected)}, now {_short(actual)}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Replayed(httpx2.SyncByteStream):
    """A recorded event stream, served one event at a time, breaking where the recording broke."""

    def __init__(self, lines: list[str], error: str | None, request: httpx2.Request) -> None:
        self.events = [e for e in re.split(rb"(?<=\n\n)", "\n".join(lines).encode("utf-8")) if e]
        self.error, self.request = error, request

    def __iter__(self) -> Iterator[bytes]:
        yield from self.events
        if self.error == "timeout":
            raise httpx2.ReadTimeout("recorded stall", request=self.request)
        if self.error:
            raise httpx2.RemoteProtocolError("recorded dropped connection", request=self.request)


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
        recorded = {k: exchange.get("request", {}).get(k) for k in ("path", "headers", "body")}
        if diff := first_difference(recorded, {k: v for k, v in _request_entry(request).items() if k in recorded}):
            raise ReplayMismatchError(self.path, index, *_under_request(diff))
        response = exchange.get("response")
        if response is None:
            raise (httpx2.ReadTimeout if exchange.get("error") == "timeout" else httpx2.ConnectError)("recorded failure", request=request)
        headers = {"content-type": "application/json", **response.get("headers", {})}
        if "sse" in response:
            stream = _Replayed(response["sse"], exchange.get("error"), request)
            return httpx2.Response(response["status"], headers=headers, stream=stream, request=request)
        return httpx2.Response(response["status"], headers=headers, json=response.get("body"), request=request)


def _under_request(diff: tuple[str, str]) -> tuple[str, str]:
    """Body paths read as before (``$.messages[0]``); header and path differences say so."""
    path, detail = diff
    if path.startswith("$.body"):
        return "$" + path[len("$.body") :], detail
    return path.replace("$.", "request ", 1), detail
