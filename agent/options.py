"""Every option of the command line, its default and its help, in one table; the parser is built from it."""

import argparse
import math
import os
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, NamedTuple, Self

from agent import __version__

DEFAULT_MODEL = "claude-sonnet-5-5"

EPILOG = """exit codes of run: 0 approved · 3 vetoed · 4 quality has not approved (nothing written)
  · 1 the run failed (nothing written) · 2 bad usage or unreadable input (nothing written)
  · 130/143 interrupted by SIGINT/SIGTERM (rolled back, or the commit finished)
exit codes of validate: 0 valid · 1 violations found · 2 unreadable
exit codes of render: 0 rendered (or already up to date) · 2 deployment.json invalid or unreadable
environment: ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, DEVOPS_AGENT_MODEL,
  DEVOPS_AGENT_EXTERNAL_TOOLS=off (validate without actionlint, shellcheck, zizmor, promtool, kubernetes-validate)"""


class UsageProblem(Exception):
    """A flag's value is not acceptable; raised instead of argparse's exit so ``--json`` can report it."""


def _number(kind: type[int] | type[float], minimum: float, inclusive: bool = True) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole ' if kind is int else ''}number") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if value < minimum or (not inclusive and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {'at least' if inclusive else 'more than'} {minimum:g}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


class Flag(NamedTuple):
    """A run option's flag: its help, its name when not ``--`` + the option's, and what else argparse is told."""

    help: str
    flag: str | None
    argparse: Mapping[str, Any]

    @classmethod
    def of(cls, help: str, *, flag: str | None = None, **argparse_kwargs: Any) -> Self:
        return cls(help, flag, argparse_kwargs)


class RunOptions(NamedTuple):
    """Options of ``run``; each field's annotation carries its command-line help and argparse settings (``Flag``)."""

    workspace: Annotated[Path, Flag.of("project root, docs/specs/epic_NN/, or the consensus folder (default: .)")] = Path()
    backend: Annotated[
        str,
        Flag.of(
            "who plans: Claude, the deterministic offline planner, or a recording (default %(default)s)",
            choices=["anthropic", "offline", "replay"],
        ),
    ] = "anthropic"
    force: Annotated[bool, Flag.of("decide again even if this iteration already has a devops decision")] = False
    model: Annotated[str, Flag.of("model name (default: $DEVOPS_AGENT_MODEL or %(default)s)")] = DEFAULT_MODEL
    effort: Annotated[
        str,
        Flag.of("the model's effort (default %(default)s)", choices=["low", "medium", "high", "xhigh", "max"]),
    ] = "medium"
    draft: Annotated[
        bool,
        Flag.of("give the model the offline planner's artifacts as a draft to accept or amend (--no-draft: write from scratch)"),
    ] = True
    max_turns: Annotated[int, Flag.of("model replies allowed (default %(default)s)", type=_number(int, 1))] = 4
    max_input_tokens: Annotated[
        int,
        Flag.of("token budget of upstream content in the prompt (default %(default)s)", type=_number(int, 1)),
    ] = 60_000
    max_tokens: Annotated[
        int,
        Flag.of(
            "max_tokens of each reply, thinking included; doubled (up to 64,000) to re-ask after a cut-off (default %(default)s)",
            type=_number(int, 1),
        ),
    ] = 32_000
    request_timeout: Annotated[
        float,
        Flag.of(
            "longest silence allowed while a reply streams: seconds without a byte before the attempt is abandoned and retried"
            " (default %(default)s)",
            type=_number(float, 0, inclusive=False),
            metavar="SECONDS",
        ),
    ] = 120.0
    max_attempts: Annotated[int, Flag.of("attempts per request, retries included (default %(default)s)", type=_number(int, 1))] = 5
    max_retry_wait: Annotated[
        float,
        Flag.of(
            "seconds one request may take in all, attempts and the waits between them included (default %(default)s)",
            type=_number(float, 0, inclusive=False),
            metavar="SECONDS",
        ),
    ] = 600.0
    lock_timeout: Annotated[
        float,
        Flag.of(
            "seconds to wait for another run holding the workspace lock (default %(default)s)",
            type=_number(float, 0),
            metavar="SECONDS",
        ),
    ] = 300.0
    record: Annotated[Path | None, Flag.of("save every API exchange to FILE (no credentials)", metavar="FILE")] = None
    replay: Annotated[Path | None, Flag.of("recording to serve with --backend replay", metavar="FILE")] = None


DEFAULTS = RunOptions()
"""Every option at its default (``DEFAULTS.lock_timeout``): a NamedTuple's class attributes are its field accessors."""
COMMON = ("workspace",)


def options() -> list[tuple[str, Any, Flag]]:
    """(name, default, flag) of every run option, in the table's order."""
    return [(name, getattr(DEFAULTS, name), RunOptions.__annotations__[name].__metadata__[0]) for name in RunOptions._fields]


def _add(parser: argparse.ArgumentParser, name: str, default: Any, meta: Flag) -> None:
    flag = meta.flag or "--" + name.replace("_", "-")
    kwargs = dict(meta.argparse)
    if isinstance(default, bool):
        parser.add_argument(flag, action=argparse.BooleanOptionalAction if default else "store_true", default=default, help=meta.help)
        return
    if name in {"workspace", "record", "replay"}:
        kwargs.setdefault("type", Path)
    parser.add_argument(flag, default=default, help=meta.help, **kwargs)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageProblem(f"{self.prog}: {message}")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, told the terminal's width: left to find it, argparse imports ``shutil`` (and with it the
    bz2 and lzma modules, ~2 ms of every command) each time it checks an argument, for help that is rarely printed."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_width())


@cache
def _width() -> int:
    """What argparse would use: ``shutil.get_terminal_size``'s columns (``COLUMNS``, else the terminal's, else 80) less 2."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


COMMANDS = ("run", "validate", "render")


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; ``only`` (a command name) leaves the other commands' parsers out: `main` parses with it when
    the first word names the command, which then parses, helps and fails exactly as with the whole parser, ~3 ms sooner
    (the run command alone has some twenty flags)."""
    top = _Parser(prog="devops-agent", description="The DevOps/SRE stage of the consensus pipeline.", epilog=EPILOG,
                  formatter_class=_Formatter)
    top.add_argument("--version", action="version", version=f"devops-agent {__version__}")
    sub = top.add_subparsers(dest="command", required=True, parser_class=_Parser)
    common = _Parser(add_help=False, formatter_class=_Formatter)
    flags = {name: meta for name, _, meta in options()}
    _add(common, "workspace", DEFAULTS.workspace, flags["workspace"])
    common.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    common.add_argument("--traceback", action="store_true", help="show the traceback of an error")
    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common], epilog=EPILOG, formatter_class=_Formatter)

    if only in (None, "run"):
        run = command("run", "decide: write the deployment artifacts or a veto")
        for name, default, meta in options():
            if name in COMMON:
                continue
            _add(run, name, os.environ.get("DEVOPS_AGENT_MODEL", default) if name == "model" else default, meta)
    if only in (None, "validate"):
        command("validate", "check the devops outputs in a workspace")
    if only in (None, "render"):
        render = command("render", "re-render the manifests and alert rules from deployment.json")
        _add(render, "lock_timeout", DEFAULTS.lock_timeout, flags["lock_timeout"])
    return top


def run_options(args: argparse.Namespace) -> RunOptions:
    """The typed options of ``run``; flags that only make sense together are checked here."""
    if args.replay and args.backend != "replay":
        raise UsageProblem("--replay goes with --backend replay")
    if args.backend == "replay" and not args.replay:
        raise UsageProblem("--backend replay needs --replay FILE")
    if args.record and args.backend != "anthropic":
        raise UsageProblem("--record goes with --backend anthropic")
    return RunOptions(**{name: getattr(args, name) for name in RunOptions._fields})


def flags_markdown() -> str:
    """The README's table of ``run`` flags, from the same table the parser is built from."""
    rows = ["| flag | meaning | default |", "|---|---|---|"]
    for name, value, meta in options():
        if name == "workspace":
            continue
        flag = "--" + name.replace("_", "-")
        shown = f"`{flag}`, `--no-{flag[2:]}`" if value is True else f"`{flag}`"
        text = meta.help
        meaning = text[: text.rfind(" (default")] if " (default" in text else text
        choices = meta.argparse.get("choices")
        meaning += f": {', '.join(f'`{c}`' for c in choices)}" if choices else ""
        default = "—" if value is None else ("on" if value is True else "off" if value is False else f"`{value}`")
        default += " or `$DEVOPS_AGENT_MODEL`" if "$DEVOPS_AGENT_MODEL" in text else ""
        rows.append(f"| {shown} | {meaning} | {default} |")
    return "\n".join(rows)
