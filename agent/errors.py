"""Every error the agent raises on purpose, and the exit code each one maps to.

    DevopsAgentError                 base; ``exit_code`` 1 unless a subclass says otherwise
    ├── UsageError                   bad flags or environment (exit 2)
    │   └── MissingAPIKeyError       no ANTHROPIC_API_KEY for the anthropic backend
    ├── InputError                   a workspace file cannot be read or parsed (exit 2)
    │   └── WorkspaceNotFoundError   no consensus folder where --workspace points
    ├── ModelError                   the model could not be reached or answered badly (exit 1)
    │   ├── APIStatusError           the API answered with an error status
    │   ├── APIConnectionError       the request never got an answer (includes timeouts)
    │   ├── ReplayMismatchError      a replayed request differs from the recording
    │   └── ModelStopError           refusal, context window exceeded, ...
    ├── OutputInvalidError           output still invalid after --max-turns (exit 1)
    └── CommitError                  the workspace could not be written (exit 1)

``exit_code_for`` is the one place that turns an exception into an exit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

EXIT_APPROVED = 0
EXIT_FAILED = 1
EXIT_ERROR = 2
EXIT_VETOED = 3
EXIT_NOT_READY = 4


class DevopsAgentError(Exception):
    """Base class: one clear, user-facing line in ``str(err)``."""

    exit_code: ClassVar[int] = EXIT_FAILED
    decision: ClassVar[str] = "failed"


class UsageError(DevopsAgentError):
    exit_code = EXIT_ERROR
    decision = "error"


class MissingAPIKeyError(UsageError):
    def __init__(self) -> None:
        super().__init__(
            "ANTHROPIC_API_KEY is not set: export ANTHROPIC_API_KEY=<your key>, or run without a model using --backend offline"
        )


class InputError(DevopsAgentError):
    """A workspace file that the stage needs is missing or malformed."""

    exit_code = EXIT_ERROR
    decision = "error"

    def __init__(
        self,
        path: Path,
        problem: str,
        *,
        field: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.path = path
        self.problem = problem
        self.field = field
        self.line = line
        self.column = column
        where = str(path)
        if line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        if field:
            where += f" (field {field})"
        super().__init__(f"{where}: {problem}")


class WorkspaceNotFoundError(InputError):
    pass


class ModelError(DevopsAgentError):
    """The model backend failed; ``requests`` counts the attempts made."""

    def __init__(self, message: str, *, requests: int = 0) -> None:
        super().__init__(message)
        self.requests = requests


class APIStatusError(ModelError):
    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        requests: int = 0,
    ) -> None:
        super().__init__(message, requests=requests)
        self.status = status
        self.error_type = error_type
        self.retryable = retryable
        self.retry_after = retry_after


class APIConnectionError(ModelError):
    def __init__(self, message: str, *, timeout: bool = False, requests: int = 0) -> None:
        super().__init__(message, requests=requests)
        self.timeout = timeout
        self.retryable = True
        self.retry_after: float | None = None


class ReplayMismatchError(ModelError):
    """The request the agent built differs from the one in the recording."""

    def __init__(self, recording: Path, index: int, path: str, detail: str) -> None:
        self.recording = recording
        self.index = index
        self.json_path = path
        super().__init__(
            f"{recording}: request {index + 1} no longer matches the recording at {path}: "
            f"{detail} (the prompt, tools or workspace changed; re-record it)"
        )


class ModelStopError(ModelError):
    def __init__(self, message: str, *, stop_reason: str) -> None:
        super().__init__(message)
        self.stop_reason = stop_reason


class OutputInvalidError(DevopsAgentError):
    """The model never produced a complete, valid decision within the allowed turns."""

    def __init__(self, turns: int, problems: Sequence[str]) -> None:
        self.turns = turns
        self.problems = list(problems)
        listed = "; ".join(self.problems[:8]) or "no decision was submitted"
        more = f" (+{len(self.problems) - 8} more)" if len(self.problems) > 8 else ""
        super().__init__(f"no valid decision after {turns} turn(s), nothing written: {listed}{more}")


class CommitError(DevopsAgentError):
    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


def exit_code_for(err: BaseException) -> int:
    """Map an exception to the process exit code (the only place that does)."""
    if isinstance(err, DevopsAgentError):
        return err.exit_code
    if isinstance(err, KeyboardInterrupt):
        return 130
    return EXIT_FAILED


def decision_for(err: BaseException) -> str:
    return err.decision if isinstance(err, DevopsAgentError) else "failed"
