"""The command-line contract: one JSON object for every outcome, signals, the bounded lock, no secret in any output."""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main, say
from agent.errors import scrub_secrets
from agent.lock import locked
from agent.workspace import Workspace
from tests.conftest import EXAMPLE, ROOT, snapshot
from tests.test_commit_protocol import VIA_CLI, leftovers, visible

KEY = "sk-ant-api03-Zq8Xw2Lm9Pv4Tn6Rs1Yk3Hj7Gf5Dc0Ba"


def one_json_object(stdout: str) -> dict[str, Any]:
    """Exactly one line of stdout, and it is a JSON object."""
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--backend", "bogus"],
        ["run", "--max-turns", "0"],
        ["run", "--lock-timeout", "nan"],
        ["run", "--request-timeout", "-1"],
        ["run", "--replay", "x.json"],
        ["run", "--no-such-flag"],
    ],
)
def test_usage_errors_print_one_json_object(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*args, "--json"]) == 2
    captured = capsys.readouterr()
    out = one_json_object(captured.out)
    assert out["decision"] == "error" and out["exit_code"] == 2 and out["error"] == out["reason"] != ""
    assert {"epic_id", "iteration", "written", "warnings", "requests", "usage", "duration_s"} <= out.keys()
    assert captured.err.strip()


@pytest.mark.parametrize("args", [["validate", "--workspace", "/nonexistent/ws"], ["validate", "--bogus"]])
def test_validate_json_has_its_own_shape_on_errors(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*args, "--json"]) == 2
    out = one_json_object(capsys.readouterr().out)
    assert out["valid"] is False and out["exit_code"] == 2 and out["error"]
    assert out["checked"] == [] and out["violations"] == []


def test_render_json_has_its_own_shape(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--json", "--workspace", str(project)]) == 2  # no deployment.json yet
    out = one_json_object(capsys.readouterr().out)
    assert out["rendered"] == [] and out["exit_code"] == 2 and "deployment.json" in out["error"]
    assert main(["render", "--json", "--lock-timeout", "-1"]) == 2
    assert one_json_object(capsys.readouterr().out)["rendered"] == []


def test_errors_print_one_json_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--json", "--workspace", str(tmp_path / "nowhere")]) == 2
    out = one_json_object(capsys.readouterr().out)
    assert out["decision"] == "error" and out["exit_code"] == 2 and "no consensus folder" in out["reason"]


# --- signals ---------------------------------------------------------------------------------------------------------


def fault_run(project: Path, mode: str, point: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", VIA_CLI, str(project), mode, point], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name,point", [("SIGTERM", "staged:artifacts/cicd.yaml"), ("SIGINT", "staged"), ("SIGTERM", "recover:")])
def test_signal_before_the_commit_point_rolls_back(project: Path, name: str, point: str) -> None:
    consensus = project / "consensus"
    if point == "recover:":  # leave a committed journal behind, so the next run has something to recover
        assert fault_run(project, "kill", "journal").returncode == -signal.SIGKILL
        point = "recover:renamed:artifacts/cicd.yaml"
    before = visible(consensus)
    proc = fault_run(project, name, point)
    signum = getattr(signal, name)
    assert proc.returncode == 128 + signum, proc.stderr
    out = one_json_object(proc.stdout)
    assert out["exit_code"] == 128 + signum and out["decision"] == "failed" and out["written"] == []
    assert f"interrupted by {name}" in out["reason"] and "nothing was written" in out["reason"]
    if point.startswith("recover:"):  # an earlier commit is finished even when interrupted: never half of it
        assert leftovers(consensus, outside_staging_only=False) == []
        assert not list((consensus / "messages/inbox/devops").iterdir())
    else:
        assert visible(consensus) == before and leftovers(consensus, outside_staging_only=False) == []


@pytest.mark.parametrize(
    "name,point", [("SIGINT", "journal"), ("SIGTERM", "logged"), ("SIGTERM", "linked:approved_2026_11_24_14_00_10.yaml")]
)
def test_signal_after_the_commit_point_finishes_first(project: Path, name: str, point: str) -> None:
    consensus = project / "consensus"
    proc = fault_run(project, name, point)
    signum = getattr(signal, name)
    assert proc.returncode == 128 + signum, proc.stderr
    out = one_json_object(proc.stdout)
    artifacts = [w for w in out["written"] if "/k8s/" not in w and "/prometheus/" not in w]
    assert out["exit_code"] == 128 + signum and out["decision"] == "approve" and len(artifacts) == 3
    assert "committed in full" in out["reason"]
    assert not list((consensus / "messages/inbox/devops").iterdir())
    assert leftovers(consensus, outside_staging_only=False) == []
    again = one_json_object(cli("run", "--backend", "offline", "--json", "--workspace", str(project)).stdout)
    assert again["previous_decision"] is True and again["exit_code"] == 0


def _wait_for(stream: Any, text: str, timeout: float = 30) -> str:
    seen, deadline = "", time.monotonic() + timeout
    while text not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.1)
        if ready:
            seen += os.read(stream.fileno(), 4096).decode()
    return seen


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_signal_while_waiting_for_the_lock(project: Path, name: str) -> None:
    before = snapshot(project)
    with locked(Workspace.locate(project)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--backend", "offline", "--json", "--workspace", str(project)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert f"pid {os.getpid()}" in _wait_for(proc.stderr, "waiting up to 300 s")
        proc.send_signal(getattr(signal, name))
        stdout, _ = proc.communicate(timeout=30)
    assert proc.returncode == 128 + getattr(signal, name)
    assert one_json_object(stdout.decode())["exit_code"] == proc.returncode
    assert snapshot(project) == before


def test_lock_wait_is_bounded_and_names_the_holder(project: Path) -> None:
    with locked(Workspace.locate(project)):
        started = time.monotonic()
        proc = cli("run", "--backend", "offline", "--json", "--lock-timeout", "0.5", "--workspace", str(project))
        waited = time.monotonic() - started
    assert proc.returncode == 1 and waited < 30
    out = one_json_object(proc.stdout)
    assert out["exit_code"] == 1 and f"pid {os.getpid()}" in out["reason"] and "--lock-timeout" in out["reason"]
    assert f"pid {os.getpid()}" in proc.stderr


# --- secrets ---------------------------------------------------------------------------------------------------------


def test_the_key_never_reaches_any_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A key with a trailing newline, inside paths we print, in a traceback: every copy is redacted."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY + "\n")
    project = tmp_path / KEY / "project"
    shutil.copytree(EXAMPLE, project)
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 0
    first = capsys.readouterr()
    assert main(["run", "--json", "--traceback", "--workspace", str(tmp_path / KEY / "missing")]) == 2
    second = capsys.readouterr()
    assert main(["validate", "--workspace", str(project)]) == 0
    third = capsys.readouterr()
    everything = first.out + first.err + second.out + second.err + third.out + third.err
    assert KEY not in everything and KEY[:-4] not in everything
    assert "[redacted]" in one_json_object(first.out)["written"][0]
    assert "[redacted]" in second.err and "Traceback" in second.err


def test_the_key_never_reaches_a_transcript_or_stderr_of_a_failed_api_run(project: Path) -> None:
    env = {"ANTHROPIC_API_KEY": KEY + "\n", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}  # nothing listens: no network
    proc = cli("run", "--json", "--max-attempts", "1", "--traceback", "--workspace", str(project), env=env)
    assert proc.returncode == 1
    out = one_json_object(proc.stdout)
    assert KEY not in proc.stdout + proc.stderr
    assert out["transcript"] and KEY not in Path(out["transcript"]).read_text()


def test_scrub_secrets_covers_header_values_and_key_shapes() -> None:
    env = {"ANTHROPIC_API_KEY": " secret-value-123\n", "ANTHROPIC_AUTH_TOKEN": "tok-abcdefgh"}
    text = "a secret-value-123 b | x-api-key: other-key c | {'authorization': 'Bearer tok-abcdefgh'} | sk-ant-admin01-abcdef1234"
    scrubbed = scrub_secrets(text, env)
    for secret in ("secret-value-123", "other-key", "tok-abcdefgh", "sk-ant-admin01-abcdef1234"):
        assert secret not in scrubbed
    assert scrub_secrets("plain words", {"ANTHROPIC_API_KEY": "a"}) == "plain words"  # a trivial 'key' blanks nothing


PARSED = [
    ["validate", "--workspace", "w", "--json"],
    ["validate", "--bogus"],
    ["validate", "--help"],
    ["render", "--lock-timeout", "5"],
    ["render", "--lock-timeout", "nan"],
    ["run", "--backend", "offline", "--max-turns", "3", "--no-draft"],
    ["run", "--backend", "nope"],
    ["run", "--help"],
    ["run", "validate"],
]


@pytest.mark.parametrize("argv", PARSED, ids=" ".join)
def test_a_command_parsed_alone_parses_helps_and_fails_as_with_every_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from agent.options import UsageProblem, parser

    def outcome(only: str | None) -> tuple[str, str]:
        try:
            return "parsed", repr(sorted(vars(parser(only).parse_args(argv)).items()))
        except UsageProblem as err:
            return "usage", str(err)
        except SystemExit:
            return "help", capsys.readouterr().out

    assert outcome(argv[0]) == outcome(None)


@pytest.mark.parametrize("columns", [None, "60", "200", "0", "-3", "wide"])
def test_help_is_as_wide_as_argparse_would_make_it(columns: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The formatter finds the width without importing shutil; it must find what argparse's own would (shutil's)."""
    from agent import options

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    options._width.cache_clear()
    try:
        assert options._width() == shutil.get_terminal_size().columns - 2
        mine = options.parser().format_help()
        stock = options.parser()
        stock.formatter_class = argparse.RawDescriptionHelpFormatter
        assert mine == stock.format_help()
    finally:
        options._width.cache_clear()


def test_no_text_prints_a_line_of_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    """A model's reason with a newline in it printed `wrote /etc/passwd` as a line of the agent's own."""
    say("approve (offline): ok\nwrote /etc/passwd\r\u202e", sys.stdout)
    say("Traceback (most recent call last):\n  File x", sys.stdout, lines=True)  # ours, made of lines
    assert capsys.readouterr().out.splitlines() == [
        "approve (offline): ok\\x0awrote /etc/passwd\\x0d\\u202e",
        "Traceback (most recent call last):",
        "  File x",
    ]
