"""Command line: parse flags into options, run, print, return the exit code. Nothing else."""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

from agent.errors import EXIT_APPROVED, EXIT_ERROR, EXIT_FAILED, decision_for, exit_code_for
from agent.options import UsageProblem, parser, run_options

if TYPE_CHECKING:
    from agent.runner import RunResult


def _err(line: str) -> None:
    print(f"devops-agent: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    try:
        args = parser().parse_args(argv)
    except UsageProblem as err:
        return _usage_error(str(err), argv, started)
    try:
        if args.command == "run":
            return _run(args, started)
        return _validate(args) if args.command == "validate" else _render(args)
    except UsageProblem as err:
        return _usage_error(str(err), argv, started)
    except Exception as err:
        if args.traceback:
            traceback.print_exc()
        _err(f"error: {err}" if exit_code_for(err) == EXIT_ERROR else f"failed: {err}")
        if args.json:
            print(json.dumps(_error_json(decision_for(err), exit_code_for(err), str(err), started)))
        return exit_code_for(err)


def _usage_error(message: str, argv: list[str] | None, started: float) -> int:
    """Bad flags: argparse's usage line on stderr, and with --json one JSON object on stdout too."""
    print(message, file=sys.stderr)
    if "--json" in (sys.argv[1:] if argv is None else argv):
        print(json.dumps(_error_json("error", EXIT_ERROR, message, started)))
    return EXIT_ERROR


def _error_json(decision: str, code: int, message: str, started: float) -> dict[str, Any]:
    return {
        "decision": decision,
        "exit_code": code,
        "error": message,
        "epic_id": None,
        "iteration": None,
        "written": [],
        "warnings": [],
        "requests": 0,
        "usage": {},
        "duration_s": round(time.perf_counter() - started, 3),
    }


def _run(args: argparse.Namespace, started: float) -> int:
    from agent.runner import Runner

    opts = run_options(args)
    runner = Runner(opts, log=lambda line: print(line, file=sys.stderr))
    try:
        result = runner.run()
    except Exception as err:
        result = runner.result
        result.decision, result.exit_code, result.reason = decision_for(err), exit_code_for(err), str(err)
        if args.traceback:
            traceback.print_exc()
        _err(f"error: {err}" if result.exit_code == EXIT_ERROR else f"failed: {err}")
    _report(result, args.json, time.perf_counter() - started)
    return result.exit_code


def _report(result: RunResult, as_json: bool, duration: float) -> None:
    if as_json:
        print(json.dumps(result.to_json(duration)))
        return
    if result.exit_code in (EXIT_ERROR, EXIT_FAILED):
        return
    where = f"{result.epic_id} iteration {result.iteration}"
    print(f"{result.decision} ({where})" + (f": {result.reason}" if result.reason else ""))
    for path in result.written:
        print(f"wrote {path}")


def _validate(args: argparse.Namespace) -> int:
    from agent.validation.command import inspect
    from agent.workspace import Workspace

    report = inspect(Workspace.locate(args.workspace))
    blocking = [v for v in report.violations if v.severity == "error"]
    code = EXIT_FAILED if blocking else EXIT_APPROVED
    if args.json:
        out: dict[str, Any] = {
            "valid": not blocking,
            "checked": report.checked,
            "exit_code": code,
            "violations": [v.to_dict() for v in report.violations],
            "warnings": report.warnings,
        }
        print(json.dumps(out))
    else:
        for v in report.violations:
            print(f"{v.severity}: {v}")
        summary = f"{len(blocking)} error(s), {len(report.violations) - len(blocking)} warning(s) in {', '.join(report.checked)}"
        print(("invalid: " if blocking else "valid: ") + summary)
    return code


def _render(args: argparse.Namespace) -> int:
    from agent.errors import UsageError

    raise UsageError("render: not implemented yet")
