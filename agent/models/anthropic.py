"""The Anthropic backend: the real SDK, streamed, our retry policy, and the one place SDK errors become ours.

Replies are streamed (``messages.stream``; the SDK assembles the final message) under an idle
timeout: ``--request-timeout`` is the longest silence allowed between two bytes, so a reply may
take as long as it keeps streaming, and a stalled one fails and is retried.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import anthropic
import httpx2

from agent import errors
from agent.models import ModelResponse, Progress
from agent.models.retry import RetryPolicy

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
SPEND_LIMITS = {"contract_spend_limit_reached", "enforced_spend_limit_reached"}
RETRYABLE_STREAM_ERRORS = {"overloaded_error", "api_error", "timeout_error", "rate_limit_error"}
_BEARER = re.compile(r"(?i)(bearer\s+|x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s'\"]+")


class AnthropicModel:
    name = "anthropic"
    reads_prompt = True

    def __init__(
        self,
        *,
        retry: RetryPolicy,
        timeout: float,
        api_key: str | None = None,
        transport: httpx2.BaseTransport | None = None,
        base_url: str | None = None,
    ) -> None:
        # A key pasted with a trailing newline is the common case; the HTTP library would
        # otherwise reject the header and print the whole value in its error.
        key = (api_key or os.environ.get("ANTHROPIC_API_KEY") or "").strip()
        if not key:
            raise errors.MissingAPIKeyError()
        self.key, self.idle = key, timeout
        self.timeout = httpx2.Timeout(timeout, connect=min(timeout, 10.0))
        http_client = httpx2.Client(transport=transport, timeout=self.timeout) if transport else None
        # max_retries=0: RetryPolicy is the only retry loop. base_url None lets the SDK
        # honour ANTHROPIC_BASE_URL (gateways and proxies rely on it).
        self.client = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0, timeout=self.timeout, http_client=http_client)
        self.retry = retry
        self.transport = transport

    def send(self, request: dict[str, Any], progress: Progress | None = None) -> ModelResponse:
        attempts = 0

        def attempt() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            try:
                return self._stream(request, progress)
            except (anthropic.AnthropicError, httpx2.HTTPError, ValueError) as err:
                raise self._translate(err, request) from None

        try:
            body = self.retry.call(attempt)
        except errors.ModelError as err:
            err.requests = attempts
            raise
        return ModelResponse.from_wire(body, requests=attempts)

    def _stream(self, request: dict[str, Any], progress: Progress | None) -> dict[str, Any]:
        watch = _Watch(progress)
        with self.client.messages.stream(**request, timeout=self.timeout) as stream:
            for event in stream:
                watch.see(event)
            if not watch.stopped:
                raise errors.APIConnectionError("the API's stream ended before message_stop (an incomplete reply)")
            body: dict[str, Any] = stream.get_final_message().to_dict(mode="json")
        return body

    def close(self) -> None:
        """Release the connections (and the transport under --record or replay)."""
        self.client.close()

    def count_tokens(self, model: str, text: str) -> int | None:
        """The free ``count_tokens`` endpoint; None (and a log line) when it is not available."""
        try:
            counted = self.client.messages.count_tokens(
                model=model, messages=[{"role": "user", "content": [{"type": "text", "text": text}]}], timeout=self.timeout
            )
        except (anthropic.AnthropicError, httpx2.HTTPError) as err:
            if isinstance(err.__cause__, errors.DevopsAgentError):
                raise err.__cause__ from None
            self.retry.log(f"count_tokens unavailable ({self._translate(err, {'model': model})}); using the estimate")
            return None
        return int(counted.input_tokens)

    def _translate(self, err: BaseException, request: dict[str, Any]) -> errors.DevopsAgentError:
        """Map an SDK or HTTP error to ours (the only place that knows their classes), credentials scrubbed."""
        if isinstance(err.__cause__, errors.DevopsAgentError):
            return err.__cause__
        translated = _translate(err, request, self.idle)
        translated.args = tuple(self.scrub(str(a)) for a in translated.args)
        return translated

    def scrub(self, text: str) -> str:
        """``text`` with the API key and any Authorization/x-api-key value replaced."""
        for secret in {self.key, repr(self.key)[1:-1]}:
            text = text.replace(secret, "[redacted]")
        return _BEARER.sub(r"\1[redacted]", text)


class _Watch:
    """Follows a stream's events: progress for the user, and whether ``message_stop`` arrived."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress, self.stopped, self.chars, self.writing = progress, False, 0, "thinking"

    def see(self, event: Any) -> None:
        kind = getattr(event, "type", "")
        if kind == "message_stop":
            self.stopped = True
        elif kind == "content_block_start":
            block = event.content_block
            self.writing = str(getattr(block, "name", None) or block.type)
            self._tell()
        elif kind == "content_block_delta":
            delta = event.delta
            self.chars += len(getattr(delta, "text", "") or getattr(delta, "partial_json", "") or getattr(delta, "thinking", "") or "")
            self._tell()

    def _tell(self) -> None:
        if self.progress is not None:
            self.progress(self.writing, self.chars)


def _translate(err: BaseException, request: dict[str, Any], idle: float) -> errors.DevopsAgentError:
    if isinstance(err, anthropic.APITimeoutError):
        return errors.APIConnectionError(f"no answer from the Anthropic API within {idle:g} s (see --request-timeout)", timeout=True)
    if isinstance(err, httpx2.TimeoutException):
        return errors.APIConnectionError(f"the API's stream stalled: no bytes for {idle:g} s (see --request-timeout)", timeout=True)
    if isinstance(err, anthropic.APIConnectionError):
        return errors.APIConnectionError(f"could not reach the Anthropic API: {err.__cause__ or err}")
    if isinstance(err, httpx2.TransportError):
        return errors.APIConnectionError(f"the connection to the Anthropic API broke mid-reply: {err}")
    if isinstance(err, anthropic.APIStatusError):
        return _stream_error(err) if err.status_code == 200 else _status_error(err, request)
    if isinstance(err, ValueError):
        return errors.ModelError(f"the model's streamed reply could not be parsed: {err}")
    return errors.ModelError(f"Anthropic SDK error: {err}")


def _stream_error(err: anthropic.APIStatusError) -> errors.APIStatusError:
    """An ``event: error`` inside a 200 stream (the SDK raises it with status 200): judged by its type."""
    kind = err.type or "error"
    return errors.APIStatusError(
        f"the API reported {kind} mid-reply: {err.api_message or err}",
        status=200,
        error_type=kind,
        retryable=kind in RETRYABLE_STREAM_ERRORS,
    )


def _status_error(err: anthropic.APIStatusError, request: dict[str, Any]) -> errors.APIStatusError:
    status, kind = err.status_code, err.type or "error"
    detail = err.api_message or str(err)
    code = err.error_code or ""
    spend_limit = code in SPEND_LIMITS or any(limit in str(err.body) for limit in SPEND_LIMITS)
    messages: dict[int, Callable[[], str]] = {
        400: lambda: f"the API rejected the request (400 {kind}): {detail}",
        401: lambda: "authentication failed (401): check ANTHROPIC_API_KEY, or use --backend offline",
        403: lambda: f"permission denied (403): {detail}",
        404: lambda: f"not found (404): check the model name {request.get('model')!r} (--model, DEVOPS_AGENT_MODEL)",
        413: lambda: "request too large (413): lower --max-input-tokens",
        429: lambda: f"rate limited (429): {detail}" + (f" — spend limit reached ({code or 'spend'}); not retried" if spend_limit else ""),
        529: lambda: f"the API is overloaded (529): {detail}",
    }
    message = messages.get(status, lambda: f"the API answered {status} {kind}: {detail}")()
    return errors.APIStatusError(
        message,
        status=status,
        error_type=kind,
        retryable=_should_retry(status, err.response.headers) and not spend_limit,
        retry_after=_retry_after(err.response.headers),
    )


def _should_retry(status: int, headers: httpx2.Headers) -> bool:
    """The SDK's rule: the server's ``x-should-retry`` wins; otherwise 408/409/429 and every 5xx."""
    hint = headers.get("x-should-retry")
    if hint in {"true", "false"}:
        return hint == "true"
    return status in RETRYABLE_STATUS or status >= 500


def _retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds the server asks us to wait; 0 for ``0`` or a past date (the policy then backs off)."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value) * scale, 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(value).timestamp() - time(), 0.0)
            except (TypeError, ValueError):
                continue
    return None
