"""Every error the agent raises on purpose, and the exit code each one maps to.

    DevopsAgentError                 base; ``exit_code`` 1 unless a subclass says otherwise
    ├── UsageError                   bad flags or environment (exit 2)
    │   └── MissingAPIKeyError       no ANTHROPIC_API_KEY for the anthropic backend
    ├── InputError                   a workspace file cannot be read or parsed (exit 2)
    │   ├── WorkspaceNotFoundError   no consensus folder where --workspace points
    │   └── UnsafePathError          a file or folder we would write through is a link (exit 2)
    ├── ModelError                   the model could not be reached or answered badly (exit 1)
    │   ├── APIStatusError           the API answered with an error status
    │   ├── APIConnectionError       the request never got an answer (includes timeouts)
    │   ├── ReplayMismatchError      a replayed request differs from the recording
    │   └── ModelStopError           refusal, context window exceeded, ...
    ├── OutputInvalidError           output still invalid after --max-turns (exit 1)
    ├── CommitError                  the workspace could not be written (exit 1)
    └── WorkspaceBusyError           another run held the lock past --lock-timeout (exit 1)

    Interrupted (a BaseException, like KeyboardInterrupt)   SIGINT/SIGTERM (exit 128 + signal number)

``exit_code_for`` is the one place that turns an exception into an exit code;
``scrub_secrets`` is the last filter on every line shown to a user.
"""

from __future__ import annotations

import errno
import os
import re
import signal
from collections.abc import Mapping, Sequence
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


class UnsafePathError(InputError):
    """A file or folder the run writes into is a symbolic link, or not what it should be."""


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

    @classmethod
    def from_os_error(cls, err: OSError, fallback: Path, state: str) -> CommitError:
        """``state`` says what the workspace holds now, e.g. "nothing was written"."""
        path = Path(os.fsdecode(err.filename)) if err.filename else fallback
        reason = err.strerror or str(err)
        return cls(path, f"cannot write ({reason}); {state}. {_ADVICE.get(err.errno or 0, 'Fix the cause and run again.')}")


_ADVICE = {
    errno.ENOSPC: "Free disk space and run again.",
    errno.EDQUOT: "Free space within your disk quota and run again.",
    errno.EACCES: "Give this user write permission on that folder and run again.",
    errno.EPERM: "Give this user write permission on that folder and run again.",
    errno.EROFS: "The file system is read-only: remount it read-write, or run on a writable copy of the workspace.",
    errno.ENAMETOOLONG: "The path is too long for the file system: use a shorter workspace path or file name.",
    errno.EXDEV: "Keep consensus/ on one file system (no mount points inside it).",
}


class WorkspaceBusyError(DevopsAgentError):
    def __init__(self, lock_file: Path, holder: str, timeout: float) -> None:
        self.path = lock_file
        super().__init__(
            f"{lock_file}: another run ({holder}) still holds the workspace lock after {timeout:g} s; "
            "wait for it to finish, or raise --lock-timeout"
        )


class Interrupted(BaseException):
    """SIGINT or SIGTERM during a run; ``committed`` tells whether the decision was committed first."""

    def __init__(self, signum: int, *, committed: bool = False) -> None:
        self.signum = signum
        self.committed = committed
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


def exit_code_for(err: BaseException) -> int:
    """Map an exception to the process exit code (the only place that does)."""
    if isinstance(err, DevopsAgentError):
        return err.exit_code
    if isinstance(err, Interrupted):
        return 128 + err.signum
    if isinstance(err, KeyboardInterrupt):
        return 130
    return EXIT_FAILED


def decision_for(err: BaseException) -> str:
    return err.decision if isinstance(err, DevopsAgentError) else "failed"


SECRET_VARIABLES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
_MIN_SECRET = 6  # shorter values would blank out ordinary words; real keys are far longer
_CREDENTIAL = re.compile(r"(?i)((?:authorization|x-api-key)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)[^\s\"',}\]\\]+")
_KEY_SHAPE = re.compile(r"sk-ant-[A-Za-z0-9_\-]{6,}")


def hidden(ch: str) -> bool:
    """A character a reader does not see as itself (controls, zero-width, bidi and tag characters, private use, spaces
    other than the space): what ``printable`` escapes, the tab aside."""
    return not ch.isprintable() and ch != "\t"


def printable(text: str) -> str:
    """``text`` safe for one terminal line: control, format, separator and undecodable characters escaped.

    A byte kept by ``surrogateescape`` (an undecodable file name) shows as ``\\xNN``, the byte it stands for.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def scrub_secrets(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every credential value replaced by ``[redacted]``: the key as set (raw and stripped),
    anything shaped like an Anthropic key, and the value after ``Authorization``/``x-api-key``."""
    env = os.environ if environ is None else environ
    for name in SECRET_VARIABLES:
        raw = env.get(name) or ""
        for value in sorted({raw, raw.strip(), raw.rstrip("\r\n")}, key=len, reverse=True):
            if len(value.strip()) >= _MIN_SECRET:
                text = text.replace(value, "[redacted]")
    text = _KEY_SHAPE.sub("[redacted]", text)
    return _CREDENTIAL.sub(r"\1[redacted]", text)
