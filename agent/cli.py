"""Command line: parse flags into options, run, print, return the exit code. Nothing else.

Every line printed passes ``scrub_secrets`` (the last filter before a key could reach a terminal or a
log); with ``--json`` exactly one JSON object reaches stdout, whatever happens, signals included.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from agent import collector
from agent.errors import EXIT_APPROVED, EXIT_ERROR, EXIT_FAILED, Interrupted, decision_for, exit_code_for, printable, scrub_secrets
from agent.options import COMMANDS, UsageProblem, parser, run_options

if TYPE_CHECKING:
    from agent.journal import FaultHook
    from agent.runner import RunResult
    from agent.signals import SignalGuard


def say(line: str, stream: TextIO | None = None, *, lines: bool = False) -> None:
    """Print one line (stderr by default) with every credential redacted and nothing a terminal would act on: a control
    character that reached the text (from a log line, a name another agent wrote, the model's reason) is escaped, a line
    break too, so no text can print a line of its own; ``lines``: text of ours made of lines (a traceback, usage)."""
    text = scrub_secrets(line)
    print("\n".join(printable(part) for part in text.split("\n")) if lines else printable(text), file=stream or sys.stderr)


def _err(line: str) -> None:
    say(f"devops-agent: {line}")


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_secrets(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def emit(obj: dict[str, Any]) -> None:
    """The one JSON object of ``--json`` on stdout."""
    print(json.dumps(_scrubbed(obj)), flush=True)


def _traceback() -> str:
    import traceback  # only for --traceback: not paid by every start

    return traceback.format_exc().rstrip()


def entry() -> NoReturn:
    """The process's entry point (``agent/__main__.py``, which starts with the collector off): ``main``, then exit."""
    collector.end_process(main())


def main(argv: list[str] | None = None, *, fault: FaultHook | None = None) -> int:
    """``fault`` is for tests: it is called at each point of the commit (see ``agent.journal``)."""
    started = time.perf_counter()
    words = sys.argv[1:] if argv is None else argv
    try:
        args = parser(words[0] if words and words[0] in COMMANDS else None).parse_args(argv)
    except UsageProblem as err:
        return _usage_error(str(err), words, started)
    from agent.signals import SignalGuard

    guard = SignalGuard()
    # A bounded command (validate, render, an offline run) makes no cyclic garbage worth collecting before it exits;
    # the model's conversation, with an HTTP client and retries, runs with the collector on.
    bounded = args.command != "run" or args.backend == "offline"
    with guard.installed(), collector.paused() if bounded else collector.running():
        try:
            if args.command == "run":
                return _run(args, started, guard, fault)
            return _validate(args) if args.command == "validate" else _render(args)
        except UsageProblem as err:
            return _usage_error(str(err), words, started)
        except (Exception, Interrupted) as err:
            return _failed(args, err, started)


def _failed(args: argparse.Namespace, err: BaseException, started: float) -> int:
    code = exit_code_for(err)
    if args.traceback:
        say(_traceback(), lines=True)
    _err(f"error: {err}" if code == EXIT_ERROR else f"failed: {err}")
    if args.json:
        emit(_error_object(args.command, decision_for(err), code, str(err), started))
    return code


def _usage_error(message: str, words: list[str], started: float) -> int:
    """Bad flags: argparse's usage line on stderr, and with --json one JSON object on stdout too."""
    say(message, lines=True)
    if "--json" in words:
        command = next((w for w in words if not w.startswith("-")), "run")
        emit(_error_object(command, "error", EXIT_ERROR, message, started))
    return EXIT_ERROR


def _error_object(command: str, decision: str, code: int, message: str, started: float) -> dict[str, Any]:
    """Each command's own ``--json`` shape, for an error."""
    if command == "validate":
        return {"valid": False, "exit_code": code, "error": message, "checked": [], "violations": [], "warnings": []}
    if command == "render":
        return {"rendered": [], "exit_code": code, "error": message}
    return _error_json(decision, code, message, started)


def _error_json(decision: str, code: int, message: str, started: float) -> dict[str, Any]:
    """The shape of every ``run --json`` (nothing ran), plus ``error``."""
    from agent.runner import RunResult

    return RunResult(decision, code, reason=message).to_json(time.perf_counter() - started) | {"error": message}


def _run(args: argparse.Namespace, started: float, guard: SignalGuard, fault: FaultHook | None) -> int:
    from agent.runner import Runner

    opts = run_options(args)
    runner = Runner(opts, log=say, fault=fault, guard=guard)
    try:
        result = runner.run()
    except Interrupted as err:
        result = _interrupted(runner.result, err)
    except Exception as err:
        result = runner.result
        result.decision, result.exit_code, result.reason = decision_for(err), exit_code_for(err), str(err)
        if args.traceback:
            say(_traceback(), lines=True)
        _err(f"error: {err}" if result.exit_code == EXIT_ERROR else f"failed: {err}")
    _report(result, args.json, time.perf_counter() - started)
    return result.exit_code


def _interrupted(result: RunResult, err: Interrupted) -> RunResult:
    """A signal: before the commit point nothing was written; after it the commit was finished first."""
    result.exit_code = exit_code_for(err)
    if err.committed:
        result.reason = f"{err} after the commit point; the {result.decision} was committed in full first"
    else:
        result.decision, result.written, result.unchanged = "failed", [], []
        result.reason = f"{err}; stopped before the commit point, nothing was written"
    _err(result.reason)
    return result


def _report(result: RunResult, as_json: bool, duration: float) -> None:
    if as_json:
        emit(result.to_json(duration))
        return
    if result.exit_code in (EXIT_ERROR, EXIT_FAILED):
        return
    where = f"{result.epic_id} iteration {result.iteration}"
    say(f"{result.decision} ({where})" + (f": {result.reason}" if result.reason else ""), sys.stdout)
    kept = set(result.unchanged)
    changed = [p for p in result.written if p not in kept]
    rendered = [p for p in changed if "/artifacts/k8s/" in p or "/artifacts/prometheus/" in p]
    for path in changed:
        if path not in rendered:
            say(f"wrote {path}", sys.stdout)
    if rendered:  # --json lists each; a person wants the folders
        folders = sorted({p.split("/artifacts/")[0] + "/artifacts/" + p.split("/artifacts/")[1].split("/")[0] + "/" for p in rendered})
        say(f"wrote {len(rendered)} rendered files under {' and '.join(folders)}", sys.stdout)
    if result.unchanged:
        say(f"kept {len(kept)} files as they were: they already held exactly what this decision writes", sys.stdout)


def _validate(args: argparse.Namespace) -> int:
    from agent.validation.command import inspect
    from agent.workspace import Workspace

    report = inspect(Workspace.locate(args.workspace))
    blocking = [v for v in report.violations if v.severity == "error"]
    code = EXIT_FAILED if blocking else EXIT_APPROVED
    if args.json:
        emit(
            {
                "valid": not blocking,
                "checked": report.checked,
                "exit_code": code,
                "violations": [v.to_dict() for v in report.violations],
                "warnings": report.warnings,
            }
        )
    else:
        for v in report.violations:
            say(f"{v.severity}: {v}", sys.stdout)
        summary = f"{len(blocking)} error(s), {len(report.violations) - len(blocking)} warning(s) in {', '.join(report.checked)}"
        say(("invalid: " if blocking else "valid: ") + summary, sys.stdout)
    return code


def _render(args: argparse.Namespace) -> int:
    from agent.rendering.command import render_workspace
    from agent.workspace import Workspace

    changed = render_workspace(Workspace.locate(args.workspace), args.lock_timeout)
    if args.json:
        emit({"rendered": [str(p) for p in changed], "exit_code": EXIT_APPROVED})
        return EXIT_APPROVED
    for path in changed:
        say(f"{'wrote' if path.exists() else 'removed'} {path}", sys.stdout)
    if not changed:
        say("every derived file is up to date", sys.stdout)
    return EXIT_APPROVED
