"""Command line: parse flags into options, run, print, return the exit code. Nothing else."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import __version__
from agent.errors import EXIT_APPROVED, EXIT_ERROR, EXIT_FAILED, decision_for, exit_code_for

if TYPE_CHECKING:
    from agent.runner import RunResult

DEFAULT_MODEL = "claude-sonnet-5-5"  # equal to prompting.DEFAULT_MODEL (tested); importing prompting here would slow validate
DEFAULT_MAX_TOKENS = 16_000

EPILOG = """exit codes of run: 0 approved · 3 vetoed · 4 quality has not approved (nothing written)
  · 1 the run failed (nothing written) · 2 bad usage or unreadable input (nothing written)
exit codes of validate: 0 valid · 1 violations found · 2 unreadable
environment: ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, DEVOPS_AGENT_MODEL"""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="devops-agent",
        description="The DevOps/SRE stage of the consensus pipeline.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"devops-agent {__version__}")
    sub = top.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--workspace",
        type=Path,
        default=Path(),
        help="project root, docs/specs/epic_NN/, or the consensus folder (default: .)",
    )
    common.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    common.add_argument("--traceback", action="store_true", help="show the traceback of an error")
    run = sub.add_parser(
        "run",
        parents=[common],
        help="decide: write the deployment artifacts or a veto",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--backend",
        choices=["anthropic", "offline", "replay"],
        default="anthropic",
        help="who plans: Claude (default), the deterministic offline planner, or a recording",
    )
    run.add_argument("--force", action="store_true", help="decide again even if this iteration already has a devops decision")
    run.add_argument(
        "--model",
        default=os.environ.get("DEVOPS_AGENT_MODEL", DEFAULT_MODEL),
        help=f"model name (default: $DEVOPS_AGENT_MODEL or {DEFAULT_MODEL})",
    )
    run.add_argument("--max-turns", type=_positive_int, default=4, help="model replies allowed (default 4)")
    run.add_argument(
        "--max-input-tokens",
        type=_positive_int,
        default=60_000,
        help="token budget for upstream content in the prompt (default 60000)",
    )
    run.add_argument(
        "--max-tokens",
        type=_positive_int,
        default=DEFAULT_MAX_TOKENS,
        help=f"max_tokens of each model reply (default {DEFAULT_MAX_TOKENS})",
    )
    run.add_argument(
        "--request-timeout",
        type=_positive_float,
        default=300.0,
        metavar="SECONDS",
        help="timeout of each API request (default 300)",
    )
    run.add_argument("--max-attempts", type=_positive_int, default=5, help="attempts per request, retries included (default 5)")
    run.add_argument(
        "--max-retry-wait",
        type=_positive_float,
        default=120.0,
        metavar="SECONDS",
        help="total time to wait between retries of one request (default 120)",
    )
    run.add_argument("--record", type=Path, metavar="FILE", help="save every API exchange to FILE (no credentials)")
    run.add_argument("--replay", type=Path, metavar="FILE", help="recording to serve with --backend replay")
    sub.add_parser(
        "validate",
        parents=[common],
        help="check the devops outputs in a workspace",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return top


def _err(line: str) -> None:
    print(f"devops-agent: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    started = time.perf_counter()
    try:
        return _run(args, started) if args.command == "run" else _validate(args)
    except Exception as err:
        if args.traceback:
            traceback.print_exc()
        _err(f"error: {err}" if exit_code_for(err) == EXIT_ERROR else f"failed: {err}")
        if args.json:
            print(
                json.dumps(
                    {
                        "decision": decision_for(err),
                        "exit_code": exit_code_for(err),
                        "error": str(err),
                        "epic_id": None,
                        "iteration": None,
                        "written": [],
                        "warnings": [],
                        "requests": 0,
                        "usage": {},
                        "duration_s": round(time.perf_counter() - started, 3),
                    }
                )
            )
        return exit_code_for(err)


def _run(args: argparse.Namespace, started: float) -> int:
    if args.replay and args.backend != "replay":
        parser().error("--replay goes with --backend replay")
    if args.record and args.backend != "anthropic":
        parser().error("--record goes with --backend anthropic")
    from agent.runner import Runner, RunOptions

    opts = RunOptions(
        workspace=args.workspace,
        backend=args.backend,
        force=args.force,
        model=args.model,
        max_turns=args.max_turns,
        max_input_tokens=args.max_input_tokens,
        max_tokens=args.max_tokens,
        request_timeout=args.request_timeout,
        max_attempts=args.max_attempts,
        max_retry_wait=args.max_retry_wait,
        record=args.record,
        replay=args.replay,
    )
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
    from agent.inspection import inspect
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
