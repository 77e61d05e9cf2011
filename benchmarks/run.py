"""`make bench`: speed figures of validate, offline run, prompt assembly and the model loop's overhead.

Every figure is a median over repeated runs on this machine, printed as a table.
Nothing here asserts a time; the README records the figures with the date.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "fixtures" / "workspaces" / "health-check"
RECORDING = ROOT / "fixtures" / "recordings" / "approve_one_reply.json"
PY = sys.executable


def median_of(runs: int, action: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def sh(*args: str) -> None:
    subprocess.run(args, cwd=ROOT, check=False, capture_output=True)


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    ws = tmp / "ws"
    shutil.copytree(EXAMPLE, ws)
    sh(PY, "-m", "agent", "run", "--backend", "offline", "--workspace", str(ws))
    deployment = ws / "consensus" / "artifacts" / "deployment.json"
    rows: list[tuple[str, str]] = []

    validate = median_of(9, lambda: sh(PY, "-m", "agent", "validate", "--workspace", str(ws)))
    cjs_bin = str(Path(PY).with_name("check-jsonschema"))
    peer = median_of(9, lambda: sh(cjs_bin, "--schemafile", str(ROOT / "schemas" / "deployment.schema.json"), str(deployment)))
    rows += [
        ("validate (CLI, 3 artifacts, schema + all policy rules)", f"{validate * 1000:.0f} ms"),
        ("check-jsonschema (CLI, deployment.json, schema only)", f"{peer * 1000:.0f} ms"),
        ("ratio validate / check-jsonschema", f"{validate / peer:.2f}"),
    ]

    offline = median_of(9, lambda: sh(PY, "-m", "agent", "run", "--backend", "offline", "--force", "--workspace", str(ws)))
    rows.append(("offline run (CLI, whole process, --force)", f"{offline * 1000:.0f} ms"))

    from agent.cli import main as cli

    def replay_once() -> dict[str, Any]:
        fresh = tmp / f"replay-{time.perf_counter_ns()}"
        shutil.copytree(EXAMPLE, fresh)
        out: dict[str, Any] = {}
        import contextlib
        import io

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
            cli(["run", "--backend", "replay", "--replay", str(RECORDING), "--json", "--workspace", str(fresh)])
        out = json.loads(buffer.getvalue())
        return out

    rows.append(("requests per run, one-reply recording", str(replay_once()["requests"])))
    request = json.loads(RECORDING.read_text())["exchanges"][0]["request"]["body"]
    rows.append(("request bytes, example workspace (compact JSON)", f"{len(json.dumps(request, separators=(',', ':'))):,}"))

    rows.append(("13 MB implementation.json: prompt assembly", f"{assembly_13mb(tmp) * 1000:.0f} ms"))
    rows.append(("agent overhead per run vs instant fake model", f"{overhead(tmp) * 1000:.1f} ms"))

    width = max(len(r[0]) for r in rows)
    print(f"devops-agent benchmarks ({time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    shutil.rmtree(tmp, ignore_errors=True)


def assembly_13mb(tmp: Path) -> float:
    from agent import prompting
    from agent.workspace import Workspace, load
    from tests.bulk import write_bulk_implementation

    ws = tmp / "big"
    shutil.copytree(EXAMPLE, ws)
    path = ws / "consensus" / "artifacts" / "implementation.json"
    write_bulk_implementation(path)
    inputs = load(Workspace.locate(ws))
    return median_of(5, lambda: prompting.assemble(inputs, [], model="m", max_input_tokens=60_000, max_tokens=16_000))


def overhead(tmp: Path) -> float:
    """A whole run (load, gate, assemble, loop, validate, commit) against a model that answers at once."""
    import anthropic  # noqa: F401 - imported up front: its import time is excluded
    import httpx2

    from agent.models.anthropic import AnthropicModel
    from agent.models.retry import RetryPolicy
    from agent.options import RunOptions
    from agent.runner import Runner

    reply = json.loads(RECORDING.read_text())["exchanges"][0]["response"]["body"]
    ws = tmp / "overhead"
    shutil.copytree(EXAMPLE, ws)

    def factory(*_: Any) -> AnthropicModel:
        transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=reply))
        return AnthropicModel(retry=RetryPolicy(), timeout=5, api_key="bench", transport=transport)

    def once() -> None:
        Runner(RunOptions(workspace=ws, force=True), log=lambda s: None, model_factory=factory).run()

    once()  # warm caches (schemas, validators)
    return median_of(15, once)


if __name__ == "__main__":
    main()
