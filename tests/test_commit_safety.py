"""Concurrency of the commit with real processes, and veto names that never overwrite (the kill tests are in test_commit_protocol)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent import decision_log, runner
from agent.cli import main
from agent.workspace import Workspace
from tests.conftest import ROOT, edit_json
from tests.test_commit_protocol import failed_scan


def devops_lines(project: Path) -> list[dict[str, Any]]:
    return decision_log.devops_entries(project / "consensus/current/decision_log.jsonl")


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
    for line in (project / "consensus/current/decision_log.jsonl").read_bytes().split(b"\n"):
        assert not line or json.loads(line)  # no torn lines


def test_veto_files_never_overwrite(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Same second, twice, with another agent's veto already holding the name: three files, none replaced."""
    edit_json(project / "consensus/artifacts/review.json", failed_scan)
    moment = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)
    monkeypatch.setattr(runner, "now", lambda: moment)
    quality = project / "consensus/messages/inbox/quality"
    quality.mkdir(parents=True)
    foreign = quality / "veto_2026_11_25_09_00_00.yaml"
    foreign.write_bytes(b"from: architect\nnote: not ours\n")
    for _ in range(2):
        assert main(["run", "--force", "--json", "--workspace", str(project)]) == 3
    capsys.readouterr()
    assert foreign.read_bytes() == b"from: architect\nnote: not ours\n"
    ours = sorted(p.name for p in quality.iterdir() if p != foreign)
    assert ours == ["veto_2026_11_25_09_00_00_2.yaml", "veto_2026_11_25_09_00_00_3.yaml"]
    lines = devops_lines(project)
    assert [list(e["details"]["files"]) for e in lines] == [[f"messages/inbox/quality/{name}"] for name in ours]
    for name in ours:
        assert yaml.safe_load((quality / name).read_text())["subject"] == "security_vulnerability"
    assert decision_log.committed_mismatch(Workspace.locate(project)) == []
