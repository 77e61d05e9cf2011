"""`make bench`: every speed figure of the project, each from fresh processes, medians, side by side in one run.

Nothing here asserts a time; the README records the figures with the date. ``--root PATH`` runs the
same command-line figures against another checkout (an older commit, for before/after).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "fixtures" / "workspaces" / "health-check"
PY = sys.executable
Row = tuple[str, str, str]


PAUSE = 0.0
"""Seconds idle before each repetition (``--pause``); 0: back to back."""


def median_of(runs: int, action: Callable[[], object], prepare: Callable[[], object] | None = None) -> float:
    """Median wall time of ``action``; ``prepare`` runs before each repetition, untimed.

    Each repetition starts with the disk's write-back done (``os.sync``, untimed): the files an earlier figure or
    repetition wrote would otherwise be flushed during this one and slow its fsyncs (runs commit with fsync).
    """
    times = []
    for _ in range(runs):
        if prepare:
            prepare()
        os.sync()
        time.sleep(PAUSE)
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class Bench:
    def __init__(self, root: Path, tmp: Path, runs: int, env: dict[str, str] | None = None) -> None:
        self.root, self.tmp, self.runs = root, tmp, runs
        # Bytecode caching on, as on a user's machine (some shells here set PYTHONDONTWRITEBYTECODE, which makes
        # every process compile the package from source and adds ~50 ms to each figure).
        self.env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def agent(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """``python -m agent`` as a fresh process, from the checkout under test."""
        return subprocess.run([PY, "-m", "agent", *args], cwd=self.root, env=self.env, capture_output=True, check=False)

    def time_agent(self, *args: str, prepare: Callable[[], object] | None = None, runs: int | None = None) -> float:
        if prepare is None:
            self.agent(*args)  # warm: bytecode written, page cache filled
        return median_of(runs or self.runs, lambda: self.agent(*args), prepare)

    def workspace(self, name: str) -> Path:
        ws = self.tmp / name
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(EXAMPLE, ws)
        return ws


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def cli_rows(bench: Bench) -> list[Row]:
    ws = bench.workspace("example")
    bench.agent("run", "--backend", "offline", "--workspace", str(ws))
    deployment = ws / "consensus" / "artifacts" / "deployment.json"
    validate = bench.time_agent("validate", "--workspace", str(ws))
    no_tools = Bench(bench.root, bench.tmp, bench.runs, {"DEVOPS_AGENT_EXTERNAL_TOOLS": "off"})
    validate_bare = no_tools.time_agent("validate", "--workspace", str(ws))
    peer_bin = str(Path(PY).with_name("check-jsonschema"))
    schema = ROOT / "schemas" / "deployment.schema.json"
    peer = median_of(bench.runs, lambda: subprocess.run([peer_bin, "--schemafile", str(schema), str(deployment)], capture_output=True))
    offline = bench.time_agent("run", "--backend", "offline", "--force", "--workspace", str(ws))
    first = bench.tmp / "example-first"
    offline_first = bench.time_agent("run", "--backend", "offline", "--workspace", str(first), prepare=lambda: bench.workspace(first.name))
    # The slow path: a document jsonschema-rs rejects makes validate import python-jsonschema to list the errors.
    broken = bench.workspace("example-invalid")
    bench.agent("run", "--backend", "offline", "--workspace", str(broken))
    plan_path = broken / "consensus" / "artifacts" / "deployment.json"
    plan = json.loads(plan_path.read_text())
    plan["infrastructure"]["resources_required"]["replicas"] = 1
    plan_path.write_text(json.dumps(plan, indent=2))
    invalid = no_tools.time_agent("validate", "--workspace", str(broken))
    return [
        ("validate CLI, example artifacts, external tools as installed", "", ms(validate)),
        ("validate CLI, example artifacts, external tools off", "≤ 0.5 × check-jsonschema", ms(validate_bare)),
        ("validate CLI, the example with one schema error (replicas: 1), external tools off", "", ms(invalid)),
        ("check-jsonschema CLI, deployment.json, schema only", "", ms(peer)),
        ("ratio validate (tools off) / check-jsonschema", "≤ 0.5", f"{validate_bare / peer:.2f}"),
        ("offline run CLI, example, deciding again (--force: the rendered files are kept unchanged)", "≤ 120 ms", ms(offline)),
        ("offline run CLI, example, first decision (a fresh copy: all files written, message archived)", "≤ 120 ms", ms(offline_first)),
        # The machine's speed drifts by a third over a day; check-jsonschema in the same sitting is the yardstick.
        ("ratio offline run (again / first) / check-jsonschema", "", f"{offline / peer:.2f} / {offline_first / peer:.2f}"),
    ]


def floor_rows(bench: Bench) -> list[Row]:
    """What the dependencies cost before any of our work: the least a `validate` or a `run` can take here."""

    def imports(code: str) -> float:
        return median_of(bench.runs, lambda: subprocess.run([PY, "-c", code], cwd=bench.root, env=bench.env, check=True))

    # jsonschema-rs as the agent loads it (agent/engines.py); a checkout from before that module imports it plainly.
    engines = (
        "import yaml\ntry:\n from agent.engines import jsonschema_rs_engine\n"
        "except ImportError:\n import jsonschema_rs\nelse:\n jsonschema_rs_engine()\n"
    )
    return [
        ("floor: the interpreter (python -c pass)", "", ms(imports("pass"))),
        ("floor: import yaml, jsonschema_rs as the agent loads it (every validate checks schemas)", "", ms(imports(engines))),
        (
            "floor: the above + the upstream views on pydantic-core (every run)",
            "",
            ms(imports(engines + "import agent.upstream")),
        ),
        ("for comparison: import python-jsonschema (now only when a document is invalid)", "", ms(imports("import jsonschema"))),
    ]


def big_log_rows(bench: Bench) -> list[Row]:
    rows: list[Row] = []
    # Another agent's writer with json.dumps's defaults escapes every non-ASCII character: an em dash cannot spell an
    # epic id (the search stays a search), a Latin-1 letter can (every such line is read: the worst case, not a goal).
    variants = (
        ("", None, None),
        (", an escaped em dash on every line", "ok \u2014 ship it", 5),
        (", an escaped \u00e9 on every line", "caf\u00e9", 3),
    )
    for label, reason, runs in variants:
        ws = bench.workspace("big-log")
        log = ws / "consensus" / "current" / "decision_log.jsonl"
        with log.open("a", encoding="utf-8") as handle:
            for i in range(200_000):
                agent = "devops" if i % 7 == 0 else "quality"
                entry = {"timestamp": "2026-11-01T00:00:00Z", "agent": agent, "decision": "approve", "epic_id": f"EP-{9000 + i}"}
                handle.write(json.dumps(entry | ({"reason": reason} if reason else {})) + "\n")
        run = bench.time_agent("run", "--backend", "offline", "--force", "--workspace", str(ws), runs=runs)
        rows.append((f"200,000-line decision log (1 in 7 devops{label}): offline run", "" if label else "≤ 0.6 s", ms(run)))
        if not label:
            no_tools = Bench(bench.root, bench.tmp, bench.runs, {"DEVOPS_AGENT_EXTERNAL_TOOLS": "off"})
            validate = no_tools.time_agent("validate", "--workspace", str(ws))
            rows.append(("200,000-line decision log (1 in 7 devops): validate, tools off", "≤ 0.6 s", ms(validate)))
    return rows


def inbox_rows(bench: Bench) -> list[Row]:
    template = bench.workspace("inbox-template")
    consensus = template / "consensus"
    inbox, processed = consensus / "messages" / "inbox" / "devops", consensus / "messages" / "processed"
    processed.mkdir(parents=True, exist_ok=True)
    for i in range(10_000):
        name = f"note_{i:05d}.yaml"
        text = f"from: quality\nto: devops\ntype: info\nsubject: note {i}\ncontent: {{text: fyi}}\n"
        (inbox / name).write_text(text)
        (processed / name).write_text(text)
    ws = bench.tmp / "inbox"

    def fresh() -> None:
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(template, ws)

    run = bench.time_agent("run", "--backend", "offline", "--workspace", str(ws), prepare=fresh, runs=3)
    return [("10,000 inbox messages whose names exist in processed/: offline run", "≤ 2 s", ms(run))]


def bulk_rows(bench: Bench) -> list[Row]:
    from tests.bulk import write_bulk_implementation

    rows: list[Row] = []
    # The figure is for 13 MB; the budget test's file (200-character notes) is 18.7 MB. Both, labelled by size.
    for note_chars in (55, 200):
        ws = bench.workspace(f"bulk-{note_chars}")
        path = ws / "consensus" / "artifacts" / "implementation.json"
        write_bulk_implementation(path, note_chars=note_chars)
        run = bench.time_agent("run", "--backend", "offline", "--force", "--workspace", str(ws), runs=5)
        size = path.stat().st_size / 1_000_000
        rows.append((f"{size:.1f} MB implementation.json (40,000 tasks): offline run", "≤ 0.4 s (13 MB)", ms(run)))
    return rows


def model_rows(bench: Bench) -> list[Row]:
    """Figures of the Claude stage, from this checkout only (they need its recordings)."""
    try:
        from benchmarks import claude_stage
    except ImportError:
        return [("Claude stage figures", "", "n/a in this checkout")]
    return claude_stage.rows(bench.tmp)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose `python -m agent` is measured")
    parser.add_argument("--runs", type=int, default=9, help="repetitions per figure (median)")
    parser.add_argument("--only", choices=["floor", "cli", "log", "inbox", "bulk", "model"], action="append")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds idle before each repetition (a stage started after a pause)")
    args = parser.parse_args(argv)
    global PAUSE
    PAUSE = args.pause
    tmp = Path(tempfile.mkdtemp(prefix="devops-bench-"))
    bench = Bench(args.root.resolve(), tmp, args.runs)
    groups = {"floor": floor_rows, "cli": cli_rows, "log": big_log_rows, "inbox": inbox_rows, "bulk": bulk_rows, "model": model_rows}
    rows: list[Row] = []
    try:
        for name in args.only or list(groups):
            if name == "model" and bench.root != ROOT:
                continue
            rows += groups[name](bench)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"devops-agent benchmarks ({time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, {os.cpu_count()} cores)")
    print(f"  measured: {bench.root}" + (f", {args.pause:g} s idle before each repetition" if args.pause else ""))
    width = max(len(r[0]) for r in rows)
    goal_width = max(len(r[1]) for r in rows)
    for name, goal, value in rows:
        print(f"  {name:<{width}}  {goal:<{goal_width}}  {value}")


if __name__ == "__main__":
    main()
