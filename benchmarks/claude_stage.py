"""Figures of the Claude stage for `make bench`: input tokens per request, tool-input bytes to approve, requests per run.

No model is called: the figures come from the agent's own requests (captured in fixtures/recordings/,
whose responses are hand-written) and from the offline planner's artifacts for the example workspace.
``rows(tmp)`` gives the table rows ``benchmarks/run.py`` prints.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "fixtures" / "workspaces" / "health-check"
RECORDINGS = ROOT / "fixtures" / "recordings"
ONE_REPLY = ("approve_draft", "amend_draft", "approve_one_reply", "model_veto")
"""Recordings whose model answers in one reply: each run should cost exactly one request."""


def _compact(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def approval_bytes(workspace: Path = EXAMPLE) -> dict[str, int]:
    """Bytes of tool input the model emits to approve: everything in full, the draft accepted, a typical amendment."""
    from tests.scenarios import _approval as approval
    from tests.scenarios import _unstamped as unstamped
    from tests.scenarios import amendment, submit

    assert workspace == EXAMPLE, "the scenarios' amendment is written for the example workspace"
    plan = approval()
    decision = submit(9)["input"]
    full = [unstamped(plan.deployment), {"content": plan.cicd}, {"content": plan.runbook}, decision]
    return {
        "full": sum(_compact(data) for data in full),
        "accept": _compact(decision),
        "amendment": sum(_compact(call["input"]) for call in amendment(1)) + _compact(decision),
    }


def input_tokens(name: str) -> list[int]:
    """Input tokens of each Messages request in a recording, by the calibrated estimate (count_tokens where recorded)."""
    from agent.prompting.budget import tokens

    exchanges = json.loads((RECORDINGS / f"{name}.json").read_text())["exchanges"]
    bodies = [e["request"]["body"] for e in exchanges if e["request"]["path"] == "/v1/messages"]
    return [tokens(_compact({k: b.get(k) for k in ("system", "tools", "messages")})) for b in bodies]


def requests_per_run(name: str, tmp: Path) -> int:
    """Replay a recording on a fresh copy of the example; the Messages requests the run made."""
    from agent.cli import main

    path = RECORDINGS / f"{name}.json"
    flags = json.loads(path.read_text()).get("flags", [])
    workspace = tmp / f"requests-{name}"
    shutil.copytree(EXAMPLE, workspace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        main(["run", "--backend", "replay", "--replay", str(path), "--json", "--workspace", str(workspace), *flags])
    requests: int = json.loads(out.getvalue())["requests"]
    return requests


def rows(tmp: Path) -> list[tuple[str, str, str]]:
    """(figure, goal, value) rows, as ``benchmarks/run.py`` prints them."""
    sizes = approval_bytes()
    full, accept, amended = sizes["full"], sizes["accept"], sizes["amendment"]
    turns = " / ".join(f"{n:,}" for n in input_tokens("correction_with_thinking"))
    table = [
        ("Claude stage: input tokens per request, draft on (calibrated estimate)", "", f"{input_tokens('approve_draft')[0]:,}"),
        ("Claude stage: input tokens per request, --no-draft", "", f"{input_tokens('approve_one_reply')[0]:,}"),
        ("Claude stage: input tokens, correction turn 1 / turn 2", "", turns),
        ("tool input to approve: everything written in full", "", f"{full:,} B"),
        ("tool input to approve: draft accepted (submit_decision)", "≤ 5 % of full", f"{accept:,} B ({accept / full:.1%})"),
        ("tool input to approve: typical amendment", "≤ 25 % of full", f"{amended:,} B ({amended / full:.1%})"),
    ]
    per_run = {name: requests_per_run(name, tmp) for name in ONE_REPLY}
    table.append(("requests per run, one-reply recordings", "exactly 1", ", ".join(f"{n}: {r}" for n, r in per_run.items())))
    return table


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for label, goal, value in rows(Path(folder)):
            print(f"  {label:<72}  {goal:<15}  {value}")
