"""The one seam to a model: send a Messages API request body, get a parsed response.

Backends (``anthropic``, ``replay``, ``offline``) sit side by side behind ``Model``.
Only ``agent.models.anthropic`` imports the ``anthropic`` SDK, and only when chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from agent.errors import ModelError

if TYPE_CHECKING:
    import httpx2

    from agent.inputs import Inputs
    from agent.options import RunOptions

Log = Callable[[str], None]
Progress = Callable[[str, int], None]
"""Called while a reply streams: what is being written (``thinking``, ``text`` or a tool name) and output characters so far."""

class Usage(NamedTuple):
    """Tokens of one or more requests; ``a + b`` adds them, field by field."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    thinking_tokens: int = 0
    """Part of ``output_tokens`` (the API's ``output_tokens_details.thinking_tokens``)."""

    def __add__(self, other: tuple[int, ...]) -> Usage:  # type: ignore[override]  # adds, where a tuple's + concatenates
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(*(mine + theirs for mine, theirs in zip(self, other, strict=True)))

    def to_dict(self) -> dict[str, int]:
        return self._asdict()

    @classmethod
    def from_wire(cls, raw: Any) -> Usage:
        raw = raw if isinstance(raw, dict) else {}
        details = raw.get("output_tokens_details")
        raw = {**raw, "thinking_tokens": details.get("thinking_tokens") if isinstance(details, dict) else None}
        return cls(*(v if isinstance(v := raw.get(f), int) else 0 for f in cls._fields))


class ToolCall(NamedTuple):
    id: str
    name: str
    input: Any


class ModelResponse(NamedTuple):
    """A Messages API response. ``content`` keeps the blocks exactly as received,
    so thinking blocks (and their signatures) go back to the API unchanged."""

    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: Usage = Usage()
    requests: int = 1
    stop_details: dict[str, Any] | None = None

    @classmethod
    def from_wire(cls, body: Any, *, requests: int = 1) -> ModelResponse:
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            raise ModelError("the model's response has no content list (not a Messages API response)")
        blocks = [b for b in body["content"] if isinstance(b, dict) and isinstance(b.get("type"), str)]
        stop, details = body.get("stop_reason"), body.get("stop_details")
        return cls(
            blocks,
            stop if isinstance(stop, str) else None,
            Usage.from_wire(body.get("usage")),
            requests,
            details if isinstance(details, dict) else None,
        )

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(str(b.get("id", "")), str(b.get("name", "")), b.get("input")) for b in self.content if b["type"] == "tool_use"]

    @property
    def text(self) -> str:
        return "\n".join(str(b.get("text", "")) for b in self.content if b["type"] == "text").strip()


class Model(Protocol):
    """Anything that answers a Messages API request body."""

    name: str
    reads_prompt: bool
    """False for a backend that never looks at the documents (the offline planner): the prompt is not assembled."""

    def send(self, request: dict[str, Any], progress: Progress | None = None) -> ModelResponse: ...

    def count_tokens(self, model: str, text: str) -> int | None:
        """Input tokens of ``text`` as one user message, or None where no counter is available."""
        ...


def build_model(opts: RunOptions, inputs: Inputs, log: Log, *, transport: httpx2.BaseTransport | None = None) -> Model:
    """The backend ``opts.backend`` names; only anthropic and replay import the SDK.

    ``transport`` replaces the network under ``--record`` (tests pass a fake upstream).
    """
    if opts.backend == "offline":
        from agent.models.offline import OfflineModel

        return OfflineModel(inputs)
    from agent.models.anthropic import AnthropicModel
    from agent.models.retry import RetryPolicy

    retry = RetryPolicy(max_attempts=opts.max_attempts, max_total_wait=opts.max_retry_wait, log=log)
    if opts.backend == "replay":
        from agent.models.recording import ReplayTransport

        assert opts.replay is not None  # options.run_options guarantees it
        retry.sleep = lambda seconds: None  # a recording's retry-after was already waited out
        model = AnthropicModel(
            retry=retry,
            timeout=opts.request_timeout,
            api_key="replay-no-key",
            transport=ReplayTransport(opts.replay),
            base_url="http://replay.invalid",
        )
        model.name = "replay"
        return model
    if opts.record is None:
        return AnthropicModel(retry=retry, timeout=opts.request_timeout, transport=transport)
    import httpx2

    from agent.models.recording import RecordingTransport

    upstream = transport or httpx2.HTTPTransport()
    return AnthropicModel(retry=retry, timeout=opts.request_timeout, transport=RecordingTransport(upstream))
