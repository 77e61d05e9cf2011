"""Concurrency and crash safety of the commit, with real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

CRASH = """
import os, signal, sys
from pathlib import Path
from agent.options import RunOptions
from agent.runner import Runner
point = sys.argv[2]
def fault(at):
    if at == point:
        os.kill(os.getpid(), signal.SIGKILL)
Runner(RunOptions(workspace=Path(sys.argv[1]), backend="offline"), log=lambda s: None, fault=fault).run()
"""


def devops_lines(project: Path) -> list[dict[str, object]]:
    log = project / "consensus/current/decision_log.jsonl"
    return [e for e in map(json.loads, filter(str.strip, log.read_text().splitlines())) if e["agent"] == "devops"]


@pytest.mark.slow
def test_six_concurrent_runs_make_one_decision(project: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--backend", "offline", "--json", "--workspace", str(project)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6
    assert sum(not o["previous_decision"] for o in outs) == 1
    assert len(devops_lines(project)) == 1
    for line in (project / "consensus/current/decision_log.jsonl").read_text().splitlines():
        json.loads(line)  # no torn lines


@pytest.mark.slow
@pytest.mark.parametrize("point", ["staged", "replaced:deployment.json", "replaced:cicd.yaml", "before_log", "logged"])
def test_killed_commit_leaves_no_partial_state(project: Path, point: str) -> None:
    consensus = project / "consensus"
    before = {p.name: p.read_bytes() for p in (consensus / "artifacts").iterdir()}
    proc = subprocess.run([sys.executable, "-c", CRASH, str(project), point], cwd=ROOT, capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    lines = devops_lines(project)
    artifacts = consensus / "artifacts"
    if lines:  # decided: every artifact complete and valid
        assert point == "logged"
        assert subprocess.run([sys.executable, "-m", "agent", "validate", "--workspace", str(project)], cwd=ROOT).returncode == 0
    else:  # not decided: the inbox is intact and upstream files untouched
        assert (consensus / "messages/inbox/devops/approved_2026_11_24_14_00_10.yaml").is_file()
        for name, data in before.items():
            assert (artifacts / name).read_bytes() == data
    for path in artifacts.iterdir():  # never half a file
        if path.name == "deployment.json":
            json.loads(path.read_text())
    # The next run sweeps temp files and completes (or reports the earlier decision).
    rerun = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--backend", "offline", "--workspace", str(project)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert len(devops_lines(project)) == 1
    assert not [p for p in artifacts.iterdir() if p.name.startswith(".devops-agent-tmp-")]


def test_veto_files_never_overwrite(project: Path) -> None:
    review = project / "consensus/artifacts/review.json"
    data = json.loads(review.read_text())
    data["security_scan"] = {"vulnerabilities_found": 2, "passed": False}
    review.write_text(json.dumps(data))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-m", "agent", "run", "--force", "--workspace", str(project)],
            cwd=ROOT,
            env=env,
            check=False,
        )
    vetoes = sorted((project / "consensus/messages/inbox/quality").glob("veto_*.yaml"))
    assert len(vetoes) == 2 and len(devops_lines(project)) == 2
