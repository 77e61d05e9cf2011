"""Streaming against a loopback fake of the Messages API (127.0.0.1 only; every wait bounded, time compressed).

The real anthropic client and the real httpx2 network transport talk to a local HTTP server that
streams hand-written SSE replies (``tests.scenarios``) slowly, or stalls, so the idle timeout is real.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest

from agent import errors
from agent.models.anthropic import AnthropicModel
from agent.models.progress import CLEAR, LiveLine
from agent.models.recording import RecordingTransport, ReplayTransport
from agent.models.retry import RetryPolicy
from agent.options import RunOptions
from agent.runner import Runner
from tests.conftest import RECORDINGS
from tests.scenarios import Reply, Upstream, sse, submit, thinking, tool

REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 32_000,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Decide."}]}],
}
USAGE = {"input_tokens": 3, "cache_creation_input_tokens": 900, "cache_read_input_tokens": 0}
Serve = Callable[[BaseHTTPRequestHandler], None]


class Server:
    """Answers each POST with the next scripted behaviour; records the request bodies."""

    def __init__(self) -> None:
        self.script: list[Serve] = []
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                outer.bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                outer.script.pop(0)(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def streaming(events: list[bytes], *, gap: float = 0.0, stall_after: int | None = None, stall: float = 0.0) -> Serve:
    """Send the events chunked, ``gap`` seconds apart; after ``stall_after`` events go silent for ``stall`` s."""

    def serve(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("transfer-encoding", "chunked")
        handler.end_headers()
        for i, event in enumerate(events):
            if i == stall_after:
                time.sleep(stall)
                return
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            handler.wfile.flush()
            time.sleep(gap)
        handler.wfile.write(b"0\r\n\r\n")

    return serve


def approval_events() -> list[bytes]:
    plan = {"content": "# Runbook\n" + "line of the runbook\n" * 60}
    blocks = [thinking("Looks safe. " * 20), tool(1, "write_runbook", plan), submit(2)]
    return sse(Reply(blocks), 1, USAGE)


def model(server: Server, idle: float, *, transport: httpx2.BaseTransport | None = None, **policy: Any) -> AnthropicModel:
    retry = RetryPolicy(sleep=lambda s: None, **policy)
    return AnthropicModel(retry=retry, timeout=idle, api_key="sk-loopback", base_url=server.url, transport=transport)


def test_a_slow_stream_longer_than_the_old_whole_request_timeout_completes(server: Server) -> None:
    events = approval_events()
    gap = 1.2 / len(events)  # about 1.2 s in all, never more than a fraction of the 0.5 s idle limit between bytes
    server.script.append(streaming(events, gap=gap))
    seen: list[tuple[str, int]] = []
    started = time.monotonic()
    response = model(server, idle=0.5).send(REQUEST, lambda writing, chars: seen.append((writing, chars)))
    elapsed = time.monotonic() - started
    assert elapsed > 1.0  # longer than a 0.5 s whole-request timeout would have allowed
    assert response.stop_reason == "tool_use" and [c.name for c in response.tool_calls] == ["write_runbook", "submit_decision"]
    assert response.tool_calls[0].input["content"].count("line of the runbook") == 60
    assert [w for w, _ in seen][:1] == ["thinking"] and "write_runbook" in {w for w, _ in seen}
    assert seen[-1][1] > 1000  # output characters so far, growing as it streams
    assert response.usage.thinking_tokens > 0 and response.usage.cache_creation_input_tokens == 900


def test_a_stalled_stream_fails_on_the_idle_timeout_and_is_retried(server: Server) -> None:
    events = approval_events()
    server.script += [streaming(events, stall_after=4, stall=2.0), streaming(events)]
    logged: list[str] = []
    started = time.monotonic()
    response = model(server, idle=0.3, log=logged.append).send(REQUEST)
    assert time.monotonic() - started < 1.5  # did not wait out the 2 s stall
    assert response.requests == 2 and len(server.bodies) == 2 and server.bodies[0] == server.bodies[1]
    assert "stream stalled: no bytes for 0.3 s" in logged[0]


def test_a_stall_every_time_gives_up_after_the_attempts(server: Server) -> None:
    server.script += [streaming(approval_events(), stall_after=2, stall=1.0) for _ in range(2)]
    with pytest.raises(errors.APIConnectionError, match="stalled") as caught:
        model(server, idle=0.2, max_attempts=2).send(REQUEST)
    assert caught.value.timeout and caught.value.requests == 2


def test_recording_a_real_stream_keeps_the_break_and_replays_it(server: Server, tmp_path: Path) -> None:
    events = approval_events()
    server.script += [streaming(events, stall_after=5, stall=1.0), streaming(events)]
    recorder = RecordingTransport(httpx2.HTTPTransport())
    recording = model(server, idle=0.2, transport=recorder)
    first = recording.send(REQUEST)
    recording.close()
    path = tmp_path / "rec.json"
    recorder.save(path)
    exchanges = json.loads(path.read_text())["exchanges"]
    assert exchanges[0]["error"] == "timeout" and exchanges[0]["response"]["sse"][0] == "event: message_start"
    assert exchanges[1]["response"]["headers"]["content-type"] == "text/event-stream" and "error" not in exchanges[1]
    assert "sk-loopback" not in path.read_text()
    replayed = model(server, idle=0.2, transport=ReplayTransport(path)).send(REQUEST)
    assert replayed.content == first.content and replayed.requests == 2


def test_a_key_with_an_inner_newline_is_refused_without_being_printed(server: Server) -> None:
    key = "sk-ant-api03-Secret\nTail"
    retry = RetryPolicy(max_attempts=1, sleep=lambda s: None)
    broken = AnthropicModel(retry=retry, timeout=1, api_key=key, base_url=server.url)
    with pytest.raises(errors.APIConnectionError) as caught:
        broken.send(REQUEST)
    assert "Secret" not in str(caught.value) and "Tail" not in str(caught.value)


def test_the_fake_upstream_and_the_loopback_server_speak_the_same_stream(server: Server) -> None:
    """The scenario transport used by the recordings produces what a socket delivers, byte for byte."""
    reply = Reply([thinking("Same."), submit(1)])
    server.script.append(streaming(sse(reply, 1, USAGE)))
    over_socket = model(server, idle=1).send(REQUEST)
    upstream = Upstream([reply])
    upstream.cached = 0
    in_process = AnthropicModel(retry=RetryPolicy(), timeout=1, api_key="k", transport=upstream).send(REQUEST)
    assert over_socket.content == in_process.content and over_socket.stop_reason == in_process.stop_reason


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_shows_a_live_line_that_log_lines_never_land_in(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    opts = RunOptions(workspace=project, backend="replay", replay=RECORDINGS / "amend_draft.json")
    result = Runner(opts, log=lambda line: print(line, file=terminal)).run()
    assert result.exit_code == 0
    shown = terminal.getvalue()
    assert f"{CLEAR}turn 1 · ~" in shown and "thinking" in shown and "writing edit_runbook" in shown
    assert f"{CLEAR}turn 1: edit_deployment accepted" in shown  # the live line is erased before a log line
    assert shown.endswith("\n") and "transcript: " in shown.splitlines()[-1]  # and gone at the end


def test_the_live_line_is_throttled_and_cleared() -> None:
    out, now = io.StringIO(), [0.0]
    live = LiveLine(out, lambda: 2, interval=0.1, clock=lambda: now[0])
    live("write_cicd", 2_600)
    live("write_cicd", 2_700)  # same tool within the interval: not redrawn
    now[0] = 0.2
    live("write_cicd", 5_200)
    live("submit_decision", 5_300)  # a new tool is shown at once
    live.clear()
    assert out.getvalue() == (
        f"{CLEAR}turn 2 · ~1,000 tokens so far · writing write_cicd"
        f"{CLEAR}turn 2 · ~2,000 tokens so far · writing write_cicd"
        f"{CLEAR}turn 2 · ~2,039 tokens so far · writing submit_decision{CLEAR}"
    )


def test_without_a_terminal_there_is_one_line_per_tool_call_and_no_live_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main

    code = main(["run", "--workspace", str(project), "--backend", "replay", "--replay", str(RECORDINGS / "amend_draft.json")])
    err = capsys.readouterr().err
    assert code == 0 and CLEAR not in err
    assert [line for line in err.splitlines() if line.startswith("turn 1:")] == [
        "turn 1: edit_deployment accepted", "turn 1: edit_runbook accepted", "turn 1: submit_decision accepted"]
