"""The Anthropic backend: the real SDK, our retry policy, and the one place SDK errors become ours."""

from __future__ import annotations

import os
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from time import time
from typing import Any

import anthropic
import httpx2

from agent import errors
from agent.models import ModelResponse
from agent.models.retry import RetryPolicy

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
SPEND_LIMIT = "enforced_spend_limit_reached"


class AnthropicModel:
    name = "anthropic"

    def __init__(
        self,
        *,
        retry: RetryPolicy,
        timeout: float,
        api_key: str | None = None,
        transport: httpx2.BaseTransport | None = None,
        base_url: str | None = None,
    ) -> None:
        key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise errors.MissingAPIKeyError()
        http_client = httpx2.Client(transport=transport, timeout=timeout) if transport else None
        # max_retries=0: RetryPolicy is the only retry loop. base_url None lets the SDK
        # honour ANTHROPIC_BASE_URL (gateways and proxies rely on it).
        self.client = anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0, timeout=timeout, http_client=http_client)
        self.retry = retry
        self.transport = transport

    def send(self, request: dict[str, Any]) -> ModelResponse:
        attempts = 0

        def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            try:
                return self.client.messages.with_raw_response.create(**request).http_response.json()
            except anthropic.AnthropicError as err:
                raise _translate(err, request) from None

        try:
            body = self.retry.call(attempt)
        except errors.ModelError as err:
            err.requests = attempts
            raise
        return ModelResponse.from_wire(body, requests=attempts)


def _translate(err: anthropic.AnthropicError, request: dict[str, Any]) -> errors.DevopsAgentError:
    """Map an SDK error to ours (the only place that knows SDK exception classes)."""
    if isinstance(err.__cause__, errors.DevopsAgentError):
        return err.__cause__
    if isinstance(err, anthropic.APITimeoutError):
        return errors.APIConnectionError("the request to the Anthropic API timed out (see --request-timeout)", timeout=True)
    if isinstance(err, anthropic.APIConnectionError):
        return errors.APIConnectionError(f"could not reach the Anthropic API: {err.__cause__ or err}")
    if isinstance(err, anthropic.APIStatusError):
        return _status_error(err, request)
    return errors.ModelError(f"Anthropic SDK error: {err}")


def _status_error(err: anthropic.APIStatusError, request: dict[str, Any]) -> errors.APIStatusError:
    status, kind = err.status_code, err.type or "error"
    detail = err.api_message or str(err)
    spend_limit = SPEND_LIMIT in {err.error_code, kind} or SPEND_LIMIT in str(err.body)
    messages: dict[int, Callable[[], str]] = {
        400: lambda: f"the API rejected the request (400 {kind}): {detail}",
        401: lambda: "authentication failed (401): check ANTHROPIC_API_KEY, or use --backend offline",
        403: lambda: f"permission denied (403): {detail}",
        404: lambda: f"not found (404): check the model name {request.get('model')!r} (--model, DEVOPS_AGENT_MODEL)",
        413: lambda: "request too large (413): lower --max-input-tokens",
        429: lambda: f"rate limited (429): {detail}" + (" — spend limit reached; not retried" if spend_limit else ""),
        529: lambda: f"the API is overloaded (529): {detail}",
    }
    message = messages.get(status, lambda: f"the API answered {status} {kind}: {detail}")()
    retryable = (status in RETRYABLE_STATUS or status >= 500) and not spend_limit
    return errors.APIStatusError(
        message, status=status, error_type=kind, retryable=retryable, retry_after=_retry_after(err.response.headers)
    )


def _retry_after(headers: httpx2.Headers) -> float | None:
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
