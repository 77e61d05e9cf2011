"""The process's end (agent/collector.py): the interpreter's teardown is skipped only where no other exit handler needs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

# The interpreter's teardown empties sys.modules after every exit handler has run: this value's __del__ says so.
TEARDOWN = """
import os, sys
class Probe:
    def __del__(self):
        os.write(2, b"teardown ran\\n")
sys.modules["teardown-probe"] = Probe()
"""


def _entry(project: Path, *, before: str = "", after: str = "", args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The console script's path (``agent.__main__:entry``) in a fresh interpreter, with code run around its import."""
    argv = ["devops-agent", "run", "--backend", "offline", "--json", "--workspace", str(project), *args]
    code = f"{TEARDOWN}\n{before}\nimport agent.__main__ as script\n{after}\nsys.argv = {argv!r}\nscript.entry()\n"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_the_teardown_is_skipped_with_the_output_and_the_exit_code_kept(project: Path) -> None:
    done = _entry(project)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["decision"] == "approve"
    assert "teardown ran" not in done.stderr
    usage = _entry(project, args=("--no-such-flag",))
    assert usage.returncode == 2 and "unrecognized arguments: --no-such-flag" in usage.stderr
    assert "teardown ran" not in usage.stderr


def test_a_handler_registered_during_the_run_still_runs(project: Path) -> None:
    late = "import atexit\natexit.register(lambda: print('late handler ran', file=sys.stderr))"
    done = _entry(project, after=late)
    assert done.returncode == 0 and json.loads(done.stdout)["decision"] == "approve"
    assert "late handler ran" in done.stderr and "teardown ran" not in done.stderr


def test_a_handler_registered_before_the_agent_keeps_the_usual_exit(project: Path) -> None:
    early = "import atexit\natexit.register(lambda: print('early handler ran', file=sys.stderr))"
    done = _entry(project, before=early)
    assert done.returncode == 0 and json.loads(done.stdout)["decision"] == "approve"
    assert "early handler ran" in done.stderr and "teardown ran" in done.stderr
