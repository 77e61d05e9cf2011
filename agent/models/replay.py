"""The replay backend: the real Anthropic client served from a recording, with no network and no key."""

from __future__ import annotations

from pathlib import Path

from agent.models.anthropic import AnthropicModel
from agent.models.recording import ReplayTransport
from agent.retry import RetryPolicy


def replay_model(path: Path, retry: RetryPolicy, timeout: float) -> AnthropicModel:
    model = AnthropicModel(
        retry=retry,
        timeout=timeout,
        api_key="replay-no-key",
        transport=ReplayTransport(path),
        base_url="http://replay.invalid",
    )
    model.name = "replay"
    return model
