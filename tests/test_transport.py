"""Transport faults through the real anthropic client and a local httpx2 MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from agent import errors
from agent.models.anthropic import AnthropicModel
from agent.models.retry import RetryPolicy
from tests.conftest import RECORDINGS

REQUEST = json.loads((RECORDINGS / "approve_one_reply.json").read_text())["exchanges"][0]["request"]["body"]
REPLY = json.loads((RECORDINGS / "approve_one_reply.json").read_text())["exchanges"][0]["response"]["body"]


def error(status: int, kind: str, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(status, headers=headers or {}, json={"type": "error", "error": {"type": kind, "message": f"{kind} here"}})


def model(
    responses: list[Callable[[httpx2.Request], httpx2.Response]],
    slept: list[float],
    seen: list[httpx2.Request],
    **policy: Any,
) -> AnthropicModel:
    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return responses.pop(0)(request)

    retry = RetryPolicy(sleep=slept.append, **policy)
    return AnthropicModel(retry=retry, timeout=5, api_key="sk-secret-key", transport=httpx2.MockTransport(handle))


def test_429_retry_after_is_honoured(capsys: pytest.CaptureFixture[str]) -> None:
    slept: list[float] = []
    seen: list[httpx2.Request] = []
    logged: list[str] = []
    m = model(
        [lambda r: error(429, "rate_limit_error", {"retry-after": "7"}), lambda r: httpx2.Response(200, json=REPLY)],
        slept,
        seen,
        log=logged.append,
    )
    response = m.send(REQUEST)
    assert slept == [7.0] and response.requests == 2 and len(seen) == 2
    assert "retrying in 7.0 s" in logged[0]
    assert seen[0].headers["authorization"] == "Bearer sk-secret-key" or seen[0].headers.get("x-api-key") == "sk-secret-key"
    assert json.loads(seen[0].content) == REQUEST


def test_retry_after_ms_wins() -> None:
    slept: list[float] = []
    m = model(
        [
            lambda r: error(529, "overloaded_error", {"retry-after-ms": "250", "retry-after": "9"}),
            lambda r: httpx2.Response(200, json=REPLY),
        ],
        slept,
        [],
    )
    m.send(REQUEST)
    assert slept == [0.25]


def test_529_three_times_then_success() -> None:
    slept: list[float] = []
    seen: list[httpx2.Request] = []
    m = model(
        [*(lambda r: error(529, "overloaded_error") for _ in range(3)), lambda r: httpx2.Response(200, json=REPLY)],
        slept,
        seen,
        initial=0.5,
        max_wait=4,
    )
    response = m.send(REQUEST)
    assert response.requests == 4 and len(slept) == 3
    assert all(0 < s <= 4.5 for s in slept)


def test_dropped_connection_is_retried() -> None:
    def drop(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.RemoteProtocolError("peer closed connection", request=request)

    slept: list[float] = []
    response = model([drop, lambda r: httpx2.Response(200, json=REPLY)], slept, []).send(REQUEST)
    assert response.requests == 2 and len(slept) == 1


def test_timeout_is_retried_then_reported() -> None:
    def timeout(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("slow", request=request)

    with pytest.raises(errors.APIConnectionError, match="timed out") as caught:
        model([timeout, timeout], [], [], max_attempts=2).send(REQUEST)
    assert caught.value.timeout and caught.value.requests == 2


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
    slept: list[float] = []
    seen: list[httpx2.Request] = []
    with pytest.raises(errors.APIStatusError) as caught:
        model([lambda r: error(status, kind)], slept, seen).send(REQUEST)
    assert caught.value.status == status and needle in str(caught.value)
    assert len(seen) == 1 and slept == []
    assert "sk-secret-key" not in str(caught.value)


def test_spend_limit_429_is_not_retried() -> None:
    seen: list[httpx2.Request] = []
    body = {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "spend limit",
            "details": {"error_code": "enforced_spend_limit_reached"},
        },
    }
    with pytest.raises(errors.APIStatusError, match="spend limit"):
        model([lambda r: httpx2.Response(429, headers={"retry-after": "1"}, json=body)], [], seen).send(REQUEST)
    assert len(seen) == 1


def test_total_wait_cap_stops_retries() -> None:
    slept: list[float] = []
    with pytest.raises(errors.APIStatusError):
        model(
            [lambda r: error(429, "rate_limit_error", {"retry-after": "50"}) for _ in range(5)],
            slept,
            [],
            max_total_wait=60,
        ).send(REQUEST)
    assert slept == [50.0]


def test_base_url_from_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://gateway.local:8080")
    seen: list[httpx2.Request] = []
    model([lambda r: httpx2.Response(200, json=REPLY)], [], seen).send(REQUEST)
    assert str(seen[0].url) == "http://gateway.local:8080/v1/messages"


def test_missing_key_says_what_to_do() -> None:
    with pytest.raises(errors.MissingAPIKeyError, match="--backend offline"):
        AnthropicModel(retry=RetryPolicy(), timeout=5)
