"""Retries, errors and credentials through the real anthropic client over httpx2 mock transports (no network).

The replies are SSE streams from ``tests.scenarios.Upstream`` (hand-written, in the API's wire format).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from agent import errors
from agent.models.anthropic import AnthropicModel
from agent.models.retry import RetryPolicy
from tests.scenarios import OVERLOADED, Reply, Upstream, submit, thinking

REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 32_000,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Decide."}]}],
}
Handler = Callable[[httpx2.Request], httpx2.Response]


def streamed(reply: Reply | None = None) -> Handler:
    """A handler answering with one SSE reply (a thinking block and submit_decision unless told)."""
    return Upstream([reply or Reply([thinking("Fine."), submit(1)])]).handle_request


def error(status: int, kind: str, headers: dict[str, str] | None = None, **details: str) -> Handler:
    body = {"type": "error", "error": {"type": kind, "message": f"{kind} here", **({"details": details} if details else {})}}
    return lambda request: httpx2.Response(status, headers=headers or {}, json=body)


class Clock:
    """A fake monotonic clock that sleeping advances, so wall-time limits can be tested instantly."""

    def __init__(self) -> None:
        self.now, self.slept = 0.0, list[float]()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def model(
    handlers: list[Handler], clock: Clock, seen: list[httpx2.Request], *, key: str = "sk-secret-key", **policy: Any
) -> AnthropicModel:
    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return handlers.pop(0)(request)

    retry = RetryPolicy(sleep=clock.sleep, clock=clock, **policy)
    return AnthropicModel(retry=retry, timeout=5, api_key=key, transport=httpx2.MockTransport(handle))


def test_streamed_reply_is_assembled_with_usage_thinking_tokens_and_stop_details() -> None:
    seen: list[httpx2.Request] = []
    response = model([streamed()], Clock(), seen).send(REQUEST)
    assert [b["type"] for b in response.content] == ["thinking", "tool_use"]
    assert response.content[0]["signature"].startswith("EuYB") and response.content[0]["thinking"] == "Fine."
    assert response.content[1]["input"] == {"decision": "approve", "reason": "Health endpoint, rollback and monitoring in place."}
    assert response.stop_reason == "tool_use" and response.stop_details is None
    assert response.usage.thinking_tokens > 0 and response.usage.output_tokens > response.usage.thinking_tokens
    assert response.usage.cache_creation_input_tokens > 0
    assert json.loads(seen[0].content)["stream"] is True


def test_429_retry_after_is_honoured_and_logged() -> None:
    clock, seen, logged = Clock(), list[httpx2.Request](), list[str]()
    response = model([error(429, "rate_limit_error", {"retry-after": "7"}), streamed()], clock, seen, log=logged.append).send(REQUEST)
    assert clock.slept == [7.0] and response.requests == 2 and len(seen) == 2
    assert "retrying in 7.0 s" in logged[0]


def test_retry_after_ms_wins() -> None:
    clock = Clock()
    model([error(529, "overloaded_error", {"retry-after-ms": "250", "retry-after": "9"}), streamed()], clock, []).send(REQUEST)
    assert clock.slept == [0.25]


@pytest.mark.parametrize("hint", ["0", "Wed, 21 Oct 2015 07:28:00 GMT", "-3"])
def test_retry_after_zero_or_past_backs_off_instead_of_retrying_at_once(hint: str) -> None:
    clock = Clock()
    model([error(429, "rate_limit_error", {"retry-after": hint}), streamed()], clock, [], initial=1.0).send(REQUEST)
    assert len(clock.slept) == 1 and 0.75 <= clock.slept[0] <= 1.0


def test_529_three_times_then_success_backs_off_exponentially() -> None:
    clock, seen = Clock(), list[httpx2.Request]()
    response = model([*(error(529, "overloaded_error") for _ in range(3)), streamed()], clock, seen, initial=0.5, max_wait=4).send(REQUEST)
    assert response.requests == 4 and len(clock.slept) == 3
    for n, slept in enumerate(clock.slept):
        assert 0.75 * 0.5 * 2**n <= slept <= 0.5 * 2**n


def test_x_should_retry_false_wins_over_a_retryable_status() -> None:
    seen: list[httpx2.Request] = []
    with pytest.raises(errors.APIStatusError, match="529"):
        model([error(529, "overloaded_error", {"x-should-retry": "false"})], Clock(), seen).send(REQUEST)
    assert len(seen) == 1


def test_x_should_retry_true_retries_a_status_that_is_otherwise_final() -> None:
    seen: list[httpx2.Request] = []
    model([error(400, "invalid_request_error", {"x-should-retry": "true"}), streamed()], Clock(), seen).send(REQUEST)
    assert len(seen) == 2


@pytest.mark.parametrize("code", ["contract_spend_limit_reached", "enforced_spend_limit_reached"])
def test_spend_limits_are_never_retried_even_when_the_server_says_retry(code: str) -> None:
    seen: list[httpx2.Request] = []
    with pytest.raises(errors.APIStatusError, match=f"spend limit reached \\({code}\\); not retried"):
        limited = error(429, "rate_limit_error", {"retry-after": "1", "x-should-retry": "true"}, error_code=code)
        model([limited], Clock(), seen).send(REQUEST)
    assert len(seen) == 1


def test_max_retry_wait_counts_the_attempts_wall_time_not_only_sleeps() -> None:
    clock = Clock()

    def slow_failure(request: httpx2.Request) -> httpx2.Response:
        clock.now += 40  # each attempt streams for 40 s before failing
        return error(529, "overloaded_error", {"retry-after": "1"})(request)

    seen: list[httpx2.Request] = []
    with pytest.raises(errors.APIStatusError):
        model([slow_failure] * 5, clock, seen, max_total_wait=100).send(REQUEST)
    # Sleeps alone (1 s each) would have allowed all 5 attempts; 40 + 1 + 40 + 1 + 40 > 100 stops at 3.
    assert len(seen) == 3 and clock.slept == [1.0, 1.0]


def test_total_wait_cap_stops_a_long_retry_after() -> None:
    clock = Clock()
    with pytest.raises(errors.APIStatusError):
        model([error(429, "rate_limit_error", {"retry-after": "50"}) for _ in range(5)], clock, [], max_total_wait=60).send(REQUEST)
    assert clock.slept == [50.0]


def test_dropped_connection_is_retried() -> None:
    def drop(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.RemoteProtocolError("peer closed connection", request=request)

    clock = Clock()
    response = model([drop, streamed()], clock, []).send(REQUEST)
    assert response.requests == 2 and len(clock.slept) == 1


def test_timeout_before_the_first_byte_is_retried_then_reported() -> None:
    def timeout(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("slow", request=request)

    with pytest.raises(errors.APIConnectionError, match="within 5 s") as caught:
        model([timeout, timeout], Clock(), [], max_attempts=2).send(REQUEST)
    assert caught.value.timeout and caught.value.requests == 2


def test_error_event_inside_a_stream_is_judged_by_its_type() -> None:
    seen: list[httpx2.Request] = []
    response = model([streamed(Reply([thinking("Hm.")], error=OVERLOADED)), streamed()], Clock(), seen).send(REQUEST)
    assert response.requests == 2 and response.stop_reason == "tool_use"
    invalid = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    with pytest.raises(errors.APIStatusError, match="invalid_request_error mid-reply") as caught:
        model([streamed(Reply([thinking("Hm.")], error=invalid))], Clock(), seen).send(REQUEST)
    assert caught.value.requests == 1


def test_stream_that_ends_without_message_stop_is_an_incomplete_reply_and_retried() -> None:
    def cut(request: httpx2.Request) -> httpx2.Response:
        full = streamed()(request).read().decode()
        body = full[: full.index("event: message_delta")]
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    seen: list[httpx2.Request] = []
    with pytest.raises(errors.APIConnectionError, match="before message_stop"):
        model([cut, cut], Clock(), seen, max_attempts=2).send(REQUEST)
    assert len(seen) == 2


@pytest.mark.parametrize(
    "status,kind,needle",
    [
        (400, "invalid_request_error", "rejected the request (400"),
        (401, "authentication_error", "ANTHROPIC_API_KEY"),
        (403, "permission_error", "permission denied"),
        (404, "not_found_error", "check the model name"),
        (413, "request_too_large", "--max-input-tokens"),
    ],
)
def test_client_errors_are_not_retried(status: int, kind: str, needle: str) -> None:
    clock, seen = Clock(), list[httpx2.Request]()
    with pytest.raises(errors.APIStatusError) as caught:
        model([error(status, kind)], clock, seen).send(REQUEST)
    assert caught.value.status == status and needle in str(caught.value)
    assert len(seen) == 1 and clock.slept == []
    assert "sk-secret-key" not in str(caught.value)


def test_the_key_is_stripped_of_surrounding_whitespace() -> None:
    seen: list[httpx2.Request] = []
    model([streamed()], Clock(), seen, key="  sk-ant-api03-padded\n").send(REQUEST)
    sent = seen[0].headers.get("authorization") or seen[0].headers.get("x-api-key")
    assert sent in {"Bearer sk-ant-api03-padded", "sk-ant-api03-padded"}


def test_a_key_echoed_by_the_http_layer_never_reaches_the_message() -> None:
    key = "sk-ant-api03-Inner\nLine"  # an inner newline survives strip(); the HTTP layer refuses it and quotes it

    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.LocalProtocolError(f"Illegal header value {request.headers['authorization'].encode()!r}")

    with pytest.raises(errors.APIConnectionError) as caught:
        model([refuse], Clock(), [], key=key, max_attempts=1).send(REQUEST)
    message = str(caught.value)
    assert "Inner" not in message and "Line" not in message and "[redacted]" in message


def test_count_tokens_uses_the_free_endpoint_and_falls_back_when_missing() -> None:
    seen: list[httpx2.Request] = []
    logged: list[str] = []
    counter = model([streamed()], Clock(), seen, log=logged.append)
    assert counter.count_tokens("claude-sonnet-5-5", "x" * 100) == 50
    assert seen[0].url.path == "/v1/messages/count_tokens"
    assert json.loads(seen[0].content)["messages"][0]["content"][0]["text"] == "x" * 100
    missing = model([error(404, "not_found_error")], Clock(), [], log=logged.append)
    assert missing.count_tokens("claude-sonnet-5-5", "text") is None
    assert "count_tokens unavailable" in logged[-1] and "using the estimate" in logged[-1]


def test_base_url_from_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://gateway.local:8080")
    seen: list[httpx2.Request] = []
    model([streamed()], Clock(), seen).send(REQUEST)
    assert str(seen[0].url) == "http://gateway.local:8080/v1/messages"


@pytest.mark.parametrize("key", [None, "", "  \n"])
def test_missing_key_says_what_to_do(key: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if key is not None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    with pytest.raises(errors.MissingAPIKeyError, match="--backend offline"):
        AnthropicModel(retry=RetryPolicy(), timeout=5)
