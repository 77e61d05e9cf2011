"""The commit protocol (agent.writer + agent.journal): killed at every point, failing at every step, never through a link.

Each kill test first runs the commit once recording every fault point it reaches, then, for each point,
kills a fresh copy of the workspace there with SIGKILL, checks what is on disk, runs the agent again
normally and checks that the decision was completed (or swept and made afresh) exactly once.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agent import decision_log
from agent import journal as journal_steps
from agent.cli import main
from agent.files import TMP_PREFIX
from agent.journal import STAGING
from agent.workspace import Workspace
from tests.conftest import EXAMPLE, ROOT, edit_json, snapshot

FAULT = """
import os, re, signal, sys
mode, arg = sys.argv[2], sys.argv[3]
def same(at):  # digits differ from run to run (the veto's time stamp); a trailing ':' matches any suffix
    at, want = re.sub(r"\\d", "#", at), re.sub(r"\\d", "#", arg)
    return at == want or (want.endswith(":") and at.startswith(want))
def fault(at):
    if mode == "record":
        with open(arg, "a", encoding="utf-8", errors="surrogateescape") as out:
            out.write(at + "\\n")
    elif mode == "kill" and same(at):
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode in ("SIGTERM", "SIGINT") and same(at):
        os.kill(os.getpid(), getattr(signal, mode))
    elif mode.startswith("errno:") and same(at):
        code = int(mode.split(":")[1])
        raise OSError(code, os.strerror(code), "injected-at-" + at)
"""
VIA_CLI = FAULT + """
from agent.cli import main
sys.exit(main(["run", "--backend", "offline", "--json", "--workspace", sys.argv[1]], fault=fault))
"""
# Files rendered from the plan (Approve.derived) are committed like the other artifacts. This runs the
# real runner with the offline planner's decision plus rendered files, so the test does not depend on
# which renderer the run path uses.
DERIVED = FAULT + """
import json
from pathlib import Path
from agent.artifacts import stamp_deployment
from agent.models.offline import planner
from agent.options import RunOptions
from agent.runner import Runner
RENDERED = {"k8s/production/kustomization.yaml": "resources: [rollout.yaml]\\n", "k8s/production/rollout.yaml": "kind: Rollout\\n",
            "prometheus/rules.yml": "groups: []\\n"}
class WithRenderedFiles(Runner):
    def _converse(self, inputs, findings, moment):  # stamped as the conversation stamps what it accepts
        draft = planner.plan(inputs)
        return draft._replace(deployment=stamp_deployment(draft.deployment, inputs, moment), derived=RENDERED)
result = WithRenderedFiles(RunOptions(workspace=Path(sys.argv[1]), backend="offline"), log=lambda line: None, fault=fault).run()
print(json.dumps(result.to_json(0.0)))
sys.exit(result.exit_code)
"""
EXTRA_MESSAGE = "msg_2026_11_24_15_00_00.yaml"
MESSAGE = b"from: architect\nto: devops\nepic_id: EP-001\niteration: 1\ntype: request\nsubject: ports\ncontent: {port: 8080}\n"
OLD_PROCESSED = b"from: analyst\nnote: archived earlier under the same name; must survive\n"
STALE = "artifacts/k8s/production/deployment.yaml"


def consensus_of(project: Path) -> Path:
    return project / "consensus"


def failed_scan(review: dict[str, Any]) -> None:
    review["security_scan"] = {"vulnerabilities_found": 1, "passed": False}


def prepare(project: Path, kind: str) -> Path:
    """The example workspace plus a second message whose name already exists in processed/."""
    shutil.copytree(EXAMPLE, project)
    consensus = consensus_of(project)
    (consensus / "messages/inbox/devops" / EXTRA_MESSAGE).write_bytes(MESSAGE)
    (consensus / "messages/processed").mkdir(parents=True)
    (consensus / "messages/processed" / EXTRA_MESSAGE).write_bytes(OLD_PROCESSED)
    if kind == "veto":
        edit_json(consensus / "artifacts/review.json", failed_scan)
    if kind == "derived":  # the previous plan's workload, which this plan (a Rollout) no longer renders
        (consensus / "artifacts/k8s/production").mkdir(parents=True)
        (consensus / STALE).write_text("kind: Deployment\n")
    return project


def script(kind: str) -> str:
    return DERIVED if kind == "derived" else VIA_CLI


def run_script(project: Path, kind: str, mode: str, arg: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script(kind), str(project), mode, arg], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def rerun(project: Path, kind: str = "approve") -> subprocess.CompletedProcess[str]:
    if kind == "derived":
        return run_script(project, kind, "none", "")
    return subprocess.run(
        [sys.executable, "-m", "agent", "run", "--backend", "offline", "--json", "--workspace", str(project)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def points_reached(tmp: Path, kind: str, *, first_kill: str | None = None) -> list[str]:
    """Every fault point of one commit (or, after ``first_kill``, of the recovery that follows it)."""
    project = prepare(tmp / f"record-{kind}-{first_kill is not None}", kind)
    if first_kill:
        assert run_script(project, kind, "kill", first_kill).returncode == -signal.SIGKILL
    record = tmp / f"points-{kind}-{first_kill is not None}.txt"
    proc = run_script(project, kind, "record", str(record))
    assert proc.returncode in (0, 3), proc.stderr
    points = record.read_text(encoding="utf-8", errors="surrogateescape").split()
    return [p for p in points if p.startswith("recover:")] if first_kill else points


def visible(consensus: Path) -> dict[str, bytes]:
    """What readers see: every file but the lock and the staging folder."""
    return {k: v for k, v in snapshot(consensus).items() if not k.startswith(STAGING)}


def leftovers(consensus: Path, *, outside_staging_only: bool) -> list[str]:
    found = [str(p.relative_to(consensus)) for p in consensus.rglob("*") if p.name.startswith(TMP_PREFIX) or p.name == STAGING]
    return [f for f in found if not f.startswith(STAGING)] if outside_staging_only else found


def devops_lines(consensus: Path) -> list[dict[str, Any]]:
    return decision_log.devops_entries(consensus / "current/decision_log.jsonl")


def check_after_kill(consensus: Path, before: dict[str, bytes], point: str, kind: str) -> bool:
    """Either nothing visible changed (not committed) or a journal holds the commit; returns 'committed'."""
    journals = list((consensus / STAGING).glob("*.journal"))
    lines = devops_lines(consensus)
    assert len(lines) <= 1, point
    committed = bool(journals) or bool(lines)
    if not committed:
        assert visible(consensus) == before, f"{point}: a run killed before its commit point changed the workspace"
    assert leftovers(consensus, outside_staging_only=True) == [], point
    if lines and not journals:
        assert decision_log.verify(Workspace.locate(consensus), lines[0]) == [], point
    return committed


def check_after_rerun(consensus: Path, before: dict[str, bytes], point: str, kind: str, proc: subprocess.CompletedProcess[str]) -> None:
    out = json.loads(proc.stdout)
    assert proc.returncode == (3 if kind == "veto" else 0), (point, proc.stderr)
    lines = devops_lines(consensus)
    assert len(lines) == 1, f"{point}: {len(lines)} devops decisions"
    assert decision_log.verify(Workspace.locate(consensus), lines[0]) == [], point
    if not out["previous_decision"]:
        written = {str(Path(w).relative_to(consensus)) for w in out["written"]}
        assert written == set(lines[0]["details"]["artifacts"]), point
        assert set(lines[0]["details"]["files"]) == {w for w in written if not w.startswith(("artifacts/k8s/", "artifacts/prometheus/"))}
    inbox = consensus / "messages/inbox/devops"
    assert not list(inbox.iterdir()), f"{point}: inbox not archived"
    processed = {p.name: p.read_bytes() for p in (consensus / "messages/processed").iterdir()}
    assert processed[EXTRA_MESSAGE] == OLD_PROCESSED, point
    assert sorted(processed.values()) == sorted([OLD_PROCESSED, MESSAGE, before["messages/inbox/devops/approved_2026_11_24_14_00_10.yaml"]])
    vetoes = list((consensus / "messages/inbox/quality").glob("veto_*.yaml")) if kind == "veto" else []
    assert len(vetoes) == (1 if kind == "veto" else 0), point
    assert leftovers(consensus, outside_staging_only=False) == [], point
    assert decision_log.committed_mismatch(Workspace.locate(consensus)) == [], point
    for name in ("review.json", "implementation.json", "plan.json"):
        assert (consensus / "artifacts" / name).read_bytes() == before[f"artifacts/{name}"], point
    assert not (consensus / STALE).exists(), point


def kill_and_rerun(tmp: Path, kind: str, point: str, n: int, first_kill: str | None = None) -> str:
    project = prepare(tmp / f"{kind}-{n}", kind)
    consensus = consensus_of(project)
    before = visible(consensus)
    if first_kill:
        assert run_script(project, kind, "kill", first_kill).returncode == -signal.SIGKILL
    proc = run_script(project, kind, "kill", point)
    assert proc.returncode == -signal.SIGKILL, (point, proc.stderr)
    committed = check_after_kill(consensus, before, point, kind)
    again = rerun(project, kind)
    check_after_rerun(consensus, before, point, kind, again)
    assert json.loads(again.stdout)["previous_decision"] is (committed or bool(first_kill)), point
    return point


def every_point(tmp: Path, kind: str, points: list[str], first_kill: str | None = None) -> list[str]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(lambda item: kill_and_rerun(tmp, kind, item[1], item[0], first_kill), enumerate(points)))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["approve", "veto", "derived"])
def test_killed_at_every_point_the_next_run_completes_or_sweeps(tmp_path: Path, kind: str) -> None:
    points = points_reached(tmp_path, kind)
    expected = {"staged", "journal", "logged", "unjournaled", f"archived:{EXTRA_MESSAGE}", f"linked:{EXTRA_MESSAGE}"}
    assert expected <= set(points), points
    if kind == "veto":
        assert any(p.startswith("placed:messages/inbox/quality/veto_") for p in points)
    else:
        assert {"renamed:artifacts/deployment.json", "renamed:artifacts/cicd.yaml", "renamed:artifacts/runbook.md"} <= set(points)
    if kind == "derived":
        rendered = {"renamed:artifacts/k8s/production/rollout.yaml", "renamed:artifacts/prometheus/rules.yml", f"removed:{STALE}"}
        assert rendered <= set(points)
    assert every_point(tmp_path, kind, points) == points


@pytest.mark.slow
def test_killed_again_while_recovering_the_third_run_completes(tmp_path: Path) -> None:
    points = points_reached(tmp_path, "approve", first_kill="logged")
    assert {"recover:journal", "recover:logged", "recover:renamed:artifacts/cicd.yaml", "recover:unjournaled"} <= set(points)
    assert every_point(tmp_path, "approve", points, first_kill="logged") == points


# --- failures at each step: before the log line nothing is left; after it the commit completes ---------------


@pytest.mark.parametrize(
    "kind,step",
    [
        ("approve", "staged:artifacts/cicd.yaml"),  # a staged file cannot be written (disk full)
        ("approve", "staged"),  # the journal cannot be written
        ("approve", "journal"),  # the log line cannot be appended
        ("veto", "staged:"),
        ("veto", "placed:"),  # the veto is placed, then the log line fails: the veto is taken back
    ],
)
def test_failure_before_the_log_line_leaves_the_workspace_as_it_was(tmp_path: Path, kind: str, step: str) -> None:
    project = prepare(tmp_path / "p", kind)
    before = visible(consensus_of(project))
    proc = run_script(project, kind, f"errno:{errno.ENOSPC}", step)
    assert proc.returncode == 1, proc.stderr
    out = json.loads(proc.stdout)
    assert out["decision"] == "failed" and out["written"] == []
    assert "nothing was written" in proc.stderr and "Free disk space" in proc.stderr and "Traceback" not in proc.stderr
    assert visible(consensus_of(project)) == before
    assert leftovers(consensus_of(project), outside_staging_only=False) == []
    assert rerun(project).returncode == (3 if kind == "veto" else 0)


def test_archive_failure_after_the_log_line_keeps_the_decision(tmp_path: Path) -> None:
    project = prepare(tmp_path / "p", "approve")
    consensus = consensus_of(project)
    proc = run_script(project, "approve", f"errno:{errno.EACCES}", f"archive:{EXTRA_MESSAGE}")
    out = json.loads(proc.stdout)
    assert proc.returncode == 0 and out["decision"] == "approve", proc.stderr
    assert any("could not archive" in w and "next run moves it" in w for w in out["warnings"])
    assert (consensus / "messages/inbox/devops" / EXTRA_MESSAGE).is_file()
    assert list((consensus / STAGING).glob("*.journal"))
    again = rerun(project)
    assert json.loads(again.stdout)["previous_decision"] is True
    assert not list((consensus / "messages/inbox/devops").iterdir())
    assert leftovers(consensus, outside_staging_only=False) == []


def test_rename_failure_after_the_log_line_is_completed_by_the_next_run(tmp_path: Path) -> None:
    project = prepare(tmp_path / "p", "approve")
    consensus = consensus_of(project)
    proc = run_script(project, "approve", f"errno:{errno.EIO}", "renamed:artifacts/deployment.json")
    assert proc.returncode == 1 and "the next run completes it" in proc.stderr
    assert decision_log.committed_mismatch(Workspace.locate(project))  # a mixed set, reported
    again = rerun(project)
    assert again.returncode == 0 and json.loads(again.stdout)["previous_decision"] is True
    assert decision_log.committed_mismatch(Workspace.locate(project)) == []
    assert leftovers(consensus, outside_staging_only=False) == []


# --- real file-system errors (need root to mount a tmpfs or drop CAP_DAC_OVERRIDE) ----------------------------


def _mount(target: Path, options: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    target.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True).returncode == 0


@pytest.fixture
def mounts() -> Any:
    made: list[Path] = []

    def mount(target: Path, options: str) -> None:
        if not _mount(target, options):
            pytest.skip("needs root and tmpfs mounts")
        made.append(target)

    yield mount
    for target in reversed(made):
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_full_disk_is_a_clear_error_and_nothing_is_written(tmp_path: Path, mounts: Callable[[Path, str], None]) -> None:
    root = tmp_path / "small"
    mounts(root, "size=2m")
    project = prepare(root / "p", "approve")
    consensus = consensus_of(project)
    (consensus / ".devops-agent.lock").write_bytes(b" " * 20)
    before = visible(consensus)
    fd = os.open(root / "filler", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError, match="No space left"):
        while True:
            os.write(fd, b"\0" * 65536)
    os.close(fd)
    proc = rerun(project)
    assert proc.returncode == 1, proc.stderr
    assert "No space left on device" in proc.stderr and "nothing was written" in proc.stderr and "Free disk space" in proc.stderr
    assert visible(consensus) == before
    (root / "filler").unlink()
    assert leftovers(consensus, outside_staging_only=False) == []


def test_processed_on_another_file_system_is_archived_by_copy(tmp_path: Path, mounts: Callable[[Path, str], None]) -> None:
    project = prepare(tmp_path / "p", "approve")
    processed = consensus_of(project) / "messages/processed"
    shutil.rmtree(processed)
    mounts(processed, "size=4m")
    (processed / EXTRA_MESSAGE).write_bytes(OLD_PROCESSED)
    proc = rerun(project)
    assert proc.returncode == 0, proc.stderr
    assert not list((consensus_of(project) / "messages/inbox/devops").iterdir())
    assert sorted(p.read_bytes() for p in processed.iterdir()) == sorted(
        [OLD_PROCESSED, MESSAGE, (EXAMPLE / "consensus/messages/inbox/devops/approved_2026_11_24_14_00_10.yaml").read_bytes()]
    )


def test_read_only_artifacts_folder_is_a_clear_error(tmp_path: Path, mounts: Callable[[Path, str], None]) -> None:
    project = prepare(tmp_path / "p", "approve")
    artifacts = consensus_of(project) / "artifacts"
    saved = {p.name: p.read_bytes() for p in artifacts.iterdir()}
    shutil.rmtree(artifacts)
    mounts(artifacts, "size=1m")
    for name, data in saved.items():
        (artifacts / name).write_bytes(data)
    subprocess.run(["mount", "-o", "remount,ro", str(artifacts)], check=True)
    before = visible(consensus_of(project))
    proc = rerun(project)
    assert proc.returncode == 1 and "Read-only file system" in proc.stderr and "remount it read-write" in proc.stderr, proc.stderr
    assert visible(consensus_of(project)) == before


def test_permission_denied_is_a_clear_error(tmp_path: Path) -> None:
    project = prepare(tmp_path / "p", "approve")
    artifacts = consensus_of(project) / "artifacts"
    before = visible(consensus_of(project))
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv cannot be denied a write")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    artifacts.chmod(0o555)
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, "-m", "agent", "run", "--backend", "offline", "--workspace", str(project)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        artifacts.chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    assert "Permission denied" in proc.stderr and "write permission" in proc.stderr and str(artifacts) in proc.stderr
    assert visible(consensus_of(project)) == before


# --- never through a link --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative,is_dir",
    [
        ("current/decision_log.jsonl", False),
        ("current", True),
        ("artifacts", True),
        ("artifacts/cicd.yaml", False),
        ("artifacts/k8s/dev/hpa.yaml", False),
        ("artifacts/k8s/dev", True),
        ("messages/processed", True),
        ("messages/inbox/quality", True),
        ("logs/devops", True),
        (".devops-agent.lock", False),
        (STAGING, True),
    ],
)
def test_a_link_where_we_write_is_exit_2_naming_it(tmp_path: Path, relative: str, is_dir: bool, capsys: pytest.CaptureFixture[str]) -> None:
    project = prepare(tmp_path / "p", "veto" if "quality" in relative else "approve")
    consensus = consensus_of(project)
    outside = tmp_path / "outside"
    link = consensus / relative
    if link.exists():
        shutil.move(link, outside)
    elif is_dir:
        outside.mkdir()
    else:
        outside.write_bytes(b"")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=is_dir)
    before, before_outside = visible(consensus), _tree(outside)
    code = main(["run", "--backend", "offline", "--json", "--workspace", str(project)])
    captured = capsys.readouterr()
    assert code == 2 and json.loads(captured.out)["exit_code"] == 2
    assert str(link) in captured.err and "symbolic link" in captured.err
    assert visible(consensus) == before and _tree(outside) == before_outside


def test_a_folder_swapped_for_a_link_while_renaming_never_redirects_a_rename(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Renames go through the descriptor of the folder checked and opened first, not its path again."""
    project = prepare(tmp_path / "p", "approve")
    consensus, outside = consensus_of(project), tmp_path / "outside"
    outside.mkdir()
    dev = consensus / "artifacts/k8s/dev"

    def swap(point: str) -> None:
        if point == "renamed:artifacts/k8s/dev/analysistemplate.yaml":  # the first file renamed into k8s/dev
            dev.rename(dev.with_name("dev-moved"))
            dev.symlink_to(outside, target_is_directory=True)

    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)], fault=swap) == 0
    capsys.readouterr()
    assert list(outside.iterdir()) == []
    moved = sorted(p.name for p in dev.with_name("dev-moved").iterdir())
    assert "analysistemplate.yaml" in moved and "rollout.yaml" in moved and "service.yaml" in moved


def _tree(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


# --- what the log line records, and what "already decided" trusts ------------------------------------------------


def test_forged_log_line_is_decided_again(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = project / "consensus/current/decision_log.jsonl"
    with log.open("a") as handle:
        handle.write('{"agent":"devops","decision":"approve","epic_id":"EP-001","iteration":1}\n')
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 0
    out = json.loads(capsys.readouterr().out)
    written = {str(Path(w).relative_to(project / "consensus")) for w in out["written"]}
    assert out["previous_decision"] is False and {"artifacts/deployment.json", "artifacts/cicd.yaml", "artifacts/runbook.md"} <= written
    claim = "log line for EP-001 iteration 1 claims files that are missing/changed"
    assert any(claim in w and "deciding again" in w for w in out["warnings"])
    newest = devops_lines(project / "consensus")[-1]
    files = newest["details"]["files"]
    assert set(files) == {"artifacts/deployment.json", "artifacts/cicd.yaml", "artifacts/runbook.md"}
    for relative, digest in files.items():
        assert hashlib.sha256((project / "consensus" / relative).read_bytes()).hexdigest() == digest


def test_changed_or_missing_artifact_is_decided_again(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    runbook = project / "consensus/artifacts/runbook.md"
    runbook.write_text(runbook.read_text() + "\nedited by hand\n")
    (project / "consensus/artifacts/cicd.yaml").unlink()
    problems = decision_log.committed_mismatch(Workspace.locate(project))
    assert [p.split(":")[0] for p in problems] == ["artifacts/cicd.yaml is missing", "artifacts/runbook.md has changed"]
    capsys.readouterr()
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["previous_decision"] is False
    assert any("artifacts/cicd.yaml is missing" in w and "artifacts/runbook.md has changed" in w for w in out["warnings"])
    assert decision_log.committed_mismatch(Workspace.locate(project)) == []


def test_a_veto_quality_has_archived_still_counts_as_decided(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_json(project / "consensus/artifacts/review.json", failed_scan)
    assert main(["run", "--json", "--workspace", str(project)]) == 3
    veto = Path(json.loads(capsys.readouterr().out)["written"][0])
    veto.rename(project / "consensus/messages/processed" / veto.name)
    assert main(["run", "--json", "--workspace", str(project)]) == 3
    assert json.loads(capsys.readouterr().out)["previous_decision"] is True


def test_one_decision_is_one_physical_line_whatever_the_text(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """U+2028, U+0085 (and U+000B, U+001C...) are line breaks to str.splitlines(), not to the log."""
    name = "approved_\u2028_\u0085_\x1c.yaml"
    inbox = project / "consensus/messages/inbox/devops"
    (inbox / "approved_2026_11_24_14_00_10.yaml").rename(inbox / name)
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    log = project / "consensus/current/decision_log.jsonl"
    assert "\u2028".encode() not in log.read_bytes()  # our writer escapes them (tests/test_hostile_inputs.py); others may not:
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"agent": "quality", "epic_id": "EP-001", "note": "a\u2028b\u0085c"}, ensure_ascii=False) + "\n")
    raw = log.read_bytes()
    assert "\u2028".encode() in raw and "\u0085".encode() in raw  # raw: the hazard is real
    assert len(raw.decode().splitlines()) > raw.count(b"\n")  # ...and splitlines() would have torn the line
    entry = devops_lines(project / "consensus")[-1]
    assert f"messages/inbox/devops/{name}" in entry["previous_artifacts"]
    capsys.readouterr()
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 0
    assert json.loads(capsys.readouterr().out)["previous_decision"] is True
    assert main(["validate", "--workspace", str(project)]) == 0
    line = decision_log.encode({"reason": "a\u2028b\u0085c\nd\r", "bad": "\udcff"})
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert decision_log.parse(line) == {"reason": "a\u2028b\u0085c\nd\r", "bad": "\udcff"}


def test_non_utf8_inbox_name_is_archived_and_logged_escaped(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inbox = project / "consensus/messages/inbox/devops"
    raw_name = b"msg_\xff\xfe.yaml"
    (inbox / os.fsdecode(raw_name)).write_bytes(MESSAGE)
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 0
    capsys.readouterr()
    assert os.listdir(os.fsencode(inbox)) == []  # noqa: PTH208 - bytes names, which pathlib cannot give
    assert raw_name in os.listdir(os.fsencode(project / "consensus/messages/processed"))  # noqa: PTH208
    log = (project / "consensus/current/decision_log.jsonl").read_bytes()
    log.decode("utf-8")  # still UTF-8 text
    assert "messages/inbox/devops/msg_\\xff\\xfe.yaml" in devops_lines(project / "consensus")[-1]["previous_artifacts"]


# --- archive names ------------------------------------------------------------------------------------------------


def test_archiving_never_overwrites_even_in_the_same_second(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Names taken in processed/ (plain, and with this second's stamp) are all skipped; nothing is replaced."""
    consensus = project / "consensus"
    processed = consensus / "messages/processed"
    processed.mkdir(parents=True)
    names = [f"m{i}.yaml" for i in range(300)]
    old = {}
    for i, name in enumerate(names):
        (consensus / "messages/inbox/devops" / name).write_bytes(MESSAGE.replace(b"8080", str(i).encode()))
        old[name] = f"old {i}\n".encode()
        (processed / name).write_bytes(old[name])
    assert main(["run", "--backend", "offline", "--workspace", str(project), "--force"]) == 0
    for i, name in enumerate(names[:50]):  # the same names again, within the same second or not
        (consensus / "messages/inbox/devops" / name).write_bytes(b"# again " + str(i).encode() + b"\n" + MESSAGE)
    assert main(["run", "--backend", "offline", "--workspace", str(project), "--force"]) == 0
    capsys.readouterr()
    contents = [p.read_bytes() for p in processed.iterdir()]
    assert len(contents) == 1 + 300 + 300 + 50 and len(set(contents)) == len(contents)
    assert all((processed / name).read_bytes() == data for name, data in old.items())


def test_devops_entries_and_find_devops_read_only_our_lines(tmp_path: Path) -> None:
    log = tmp_path / "decision_log.jsonl"
    ours = {"agent": "devops", "decision": "veto", "epic_id": "EP-7", "iteration": 2, "details": {"files": {"artifacts/x": "0" * 64}}}
    lines = [json.dumps({"agent": "quality", "epic_id": "EP-7", "iteration": n}) for n in range(3000)]
    lines[10] = decision_log.encode(ours).decode().rstrip("\n")
    lines[20] = "{not json"
    lines[30] = json.dumps({"agent": "devops", "decision": "approve", "epic_id": "EP-8", "iteration": 2})
    lines.append('{"agent": "devops", "decision": "approve", "epic_id": "EP-7", "iteration": "2", "note": "\u2028"}')
    log.write_bytes(("\n".join(lines) + "\n").encode())
    assert [e["epic_id"] for e in decision_log.devops_entries(log)] == ["EP-7", "EP-8", "EP-7"]
    found = decision_log.find_devops(log, "EP-7", 2)
    assert found is not None and found["decision"] == "approve"  # the newest wins
    assert decision_log.find_devops(log, "EP-7", 3) is None
    assert next(decision_log.entries_from_end(log, "EP-7"))["iteration"] == "2"  # the newest line about EP-7
    parsed = [decision_log.parse(line) for line in decision_log.lines(log)]
    assert len(parsed) == 3001 and [n for n, entry in enumerate(parsed, start=1) if entry is None] == [21]


# --- a forged log line must claim exactly what its decision writes ------------------------------------------------

APPROVE_FILES = {"artifacts/deployment.json", "artifacts/cicd.yaml", "artifacts/runbook.md"}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _append(project: Path, entry: dict[str, Any]) -> None:
    with (project / "consensus/current/decision_log.jsonl").open("ab") as handle:
        handle.write(decision_log.encode(entry))


def _forged(decision: str, files: dict[str, str]) -> dict[str, Any]:
    return {
        "timestamp": "2026-11-28T00:00:00Z", "agent": "devops", "decision": decision, "epic_id": "EP-001", "iteration": 1,
        "source_document": "artifacts/review.json", "previous_artifacts": [], "details": {"files": files},
    }  # fmt: skip


def _decided_again(project: Path, capsys: pytest.CaptureFixture[str], code: int, *problems: str) -> dict[str, Any]:
    """The run warns naming ``problems``, decides afresh, and afterwards the log and the files agree."""
    capsys.readouterr()
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == code
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert out["previous_decision"] is False and out["written"]
    warning = next(w for w in out["warnings"] if "deciding again" in w)
    assert all(p in warning for p in problems), warning
    assert decision_log.committed_mismatch(Workspace.locate(project)) == []
    return out


def test_reviewers_forged_line_naming_an_upstream_file_is_decided_again(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    consensus = project / "consensus"
    _append(project, _forged("approve", {"artifacts/review.json": _sha(consensus / "artifacts/review.json")}))
    mismatch = decision_log.committed_mismatch(Workspace.locate(project))
    assert any("claims artifacts/review.json, which a devops approve decision never writes" in m for m in mismatch), mismatch
    assert any("does not claim artifacts/deployment.json" in m for m in mismatch), mismatch
    assert main(["validate", "--json", "--workspace", str(project)]) in (0, 1)
    found = [v for v in json.loads(capsys.readouterr().out)["violations"] if v["rule"] == "decision.files_match"]
    assert any("never writes" in v["message"] for v in found), found
    out = _decided_again(project, capsys, 0, "claims artifacts/review.json", "does not claim artifacts/runbook.md")
    assert {str(Path(w).relative_to(consensus)) for w in out["written"]} >= APPROVE_FILES


def test_forged_line_claiming_the_three_artifacts_plus_another_is_decided_again(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    consensus = project / "consensus"
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    files = {r: _sha(consensus / r) for r in [*APPROVE_FILES, "artifacts/plan.json"]}
    _append(project, _forged("approve", files))
    _decided_again(project, capsys, 0, "claims artifacts/plan.json, which a devops approve decision never writes")
    files = {r: _sha(consensus / r) for r in APPROVE_FILES}  # as the run that decided again wrote them (a new timestamp)
    _append(project, _forged("approve", files))  # exactly the three, each as on disk: that is a decision
    assert decision_log.committed_mismatch(Workspace.locate(project)) == []


def test_veto_line_claiming_an_artifact_is_decided_again(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    consensus = project / "consensus"
    edit_json(consensus / "artifacts/review.json", failed_scan)
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 3
    veto = Path(json.loads(capsys.readouterr().out)["written"][0])
    claim = {"artifacts/review.json": _sha(consensus / "artifacts/review.json")}
    _append(project, _forged("veto", claim))
    _decided_again(project, capsys, 3, "claims artifacts/review.json, which a devops veto decision never writes", "does not claim its veto")
    _append(project, _forged("veto", {f"messages/inbox/quality/{veto.name}": _sha(veto), **claim}))
    _decided_again(project, capsys, 3, "claims artifacts/review.json")


# --- a forged commit journal is refused, never replayed -----------------------------------------------------------

JOURNAL_ID = "20261128T000000-1-deadbeef"


def _journal(consensus: Path, **fields: Any) -> Path:
    """A journal as agent.writer writes one (an approve with nothing to do), with ``fields`` forged."""
    body = {"version": 1, "entry": _forged("approve", {}), "log": "current/decision_log.jsonl", "place": [], "replace": []}
    body |= {"archive": [], "remove": []} | fields
    (consensus / STAGING).mkdir(exist_ok=True)
    (consensus / STAGING / f"{JOURNAL_ID}.0").write_text("forged content\n")
    path = consensus / STAGING / f"{JOURNAL_ID}.journal"
    path.write_text(json.dumps(body))
    return path


FORGED_JOURNALS = [
    ("remove[0]", lambda out: {"remove": [str(out / "victim.txt")]}),
    ("archive[0][0]", lambda out: {"archive": [["../../outside/victim.txt", "messages/processed/stolen.txt"]]}),
    ("log", lambda out: {"log": "../../outside/x.jsonl"}),
    ("replace[0][1]", lambda out: {"replace": [[f"{JOURNAL_ID}.0", "../../outside/victim.txt"]]}),
    ("replace[0][1]", lambda out: {"replace": [[f"{JOURNAL_ID}.0", "artifacts/review.json"]]}),
    ("replace[0][0]", lambda out: {"replace": [["../../outside/victim.txt", "artifacts/runbook.md"]]}),
    ("replace[0][0]", lambda out: {"replace": [["20990101T000000-2-other.0", "artifacts/runbook.md"]]}),
    ("place[0][1]", lambda out: {"place": [[f"{JOURNAL_ID}.0", "artifacts/deployment.json"]]}),
    ("remove[0]", lambda out: {"remove": ["artifacts/k8s/../../outside/victim.txt"]}),
    ("remove[0]", lambda out: {"remove": ["artifacts/plan.json\x00"]}),
    ("archive[0][1]", lambda out: {"archive": [["messages/inbox/devops/approved_2026_11_24_14_00_10.yaml", "artifacts/x.yaml"]]}),
    ("entry", lambda out: {"entry": {"agent": "quality", "decision": "approve"}}),
    ("archive", lambda out: {"archive": "messages/inbox/devops"}),
]


@pytest.mark.parametrize(("field", "forge"), FORGED_JOURNALS)
def test_forged_journal_is_refused_naming_it_and_touches_nothing(
    tmp_path: Path, project: Path, field: str, forge: Callable[[Path], dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    consensus, outside = project / "consensus", tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("not yours\n")
    journal = _journal(consensus, **forge(outside))
    before, before_outside = snapshot(consensus), _tree(outside)
    for _ in range(2):  # refused every time, never half-replayed, until someone inspects and deletes it
        code = main(["run", "--backend", "offline", "--json", "--workspace", str(project)])
        captured = capsys.readouterr()
        assert code == 2 and json.loads(captured.out)["exit_code"] == 2, captured.err
        assert str(journal) in captured.err and f"(field {field})" in captured.err, captured.err
        assert snapshot(consensus) == before and _tree(outside) == before_outside and list(tmp_path.iterdir()) == [project, outside]
    journal.unlink()
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 0


def test_journal_with_a_link_on_its_way_is_refused(tmp_path: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    consensus, outside = project / "consensus", tmp_path / "outside"
    outside.mkdir()
    (outside / "rollout.yaml").write_text("not yours\n")
    (consensus / "artifacts/k8s").mkdir()
    (consensus / "artifacts/k8s/production").symlink_to(outside, target_is_directory=True)
    journal = _journal(consensus, remove=["artifacts/k8s/production/rollout.yaml"])
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 2
    assert "symbolic link" in capsys.readouterr().err and journal.exists()
    assert (outside / "rollout.yaml").read_text() == "not yours\n"


def test_a_journal_over_the_size_limit_is_refused_unread(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A multi-GB ``*.journal`` planted in the staging folder would otherwise be read whole into memory."""
    journal = _journal(project / "consensus", remove=["artifacts/k8s/dev/deployment.yaml"] * 100)
    monkeypatch.setattr(journal_steps, "MAX_BYTES", journal.stat().st_size - 1)
    before = snapshot(project)
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 2
    said = f"{journal}: cannot be read (file is larger than the {journal.stat().st_size - 1:,}-byte limit)"
    assert said in capsys.readouterr().err and snapshot(project) == before
    monkeypatch.setattr(journal_steps, "MAX_BYTES", journal.stat().st_size)  # one byte more: it is read, and replayed
    warnings = journal_steps.recover(Workspace.locate(project / "consensus"))
    assert any("completed the commit of an earlier run" in w for w in warnings) and not journal.exists()


def test_a_commit_whose_journal_would_pass_the_limit_is_exit_2_naming_the_inbox(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer keeps to the limit the reader holds it to: a journal it could not read back is never written."""
    inbox = project / "consensus/messages/inbox/devops"
    message = next(inbox.iterdir()).read_text()
    for n in range(100):
        (inbox / f"msg_{n:03}_{'x' * 200}.yaml").write_text(message)
    monkeypatch.setattr(journal_steps, "MAX_BYTES", 50_000)  # ~76 kB with 101 messages to archive
    before = snapshot(project)
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 2
    err = capsys.readouterr().err
    assert f"{inbox}: the commit's journal would take " in err and "(messages to archive: 101), over the 50,000-byte limit" in err
    assert snapshot(project) == before and not (project / "consensus" / STAGING).exists()
    monkeypatch.setattr(journal_steps, "MAX_BYTES", 100_000)
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    assert not list(inbox.iterdir())


# --- staged files are fsynced together, before the journal names them -----------------------------------------------


def test_a_staged_file_is_written_whole_through_short_writes_and_removed_when_a_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.files import write_new

    data = bytes(range(256)) * 40
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, chunk: real_write(fd, bytes(chunk[:7])))  # the kernel may write less
    write_new(tmp_path / "short", data)
    assert (tmp_path / "short").read_bytes() == data

    def full(fd: int, chunk: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space left"):
        write_new(tmp_path / "full", data)
    assert not (tmp_path / "full").exists()


def test_a_failed_fsync_of_one_staged_file_leaves_the_workspace_as_it_was(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(project)
    real_fsync, synced = os.fsync, []

    def failing(fd: int) -> None:
        name = str(Path(f"/proc/self/fd/{fd}").readlink())
        synced.append(name)
        if name.endswith(".2"):  # the third staged file (runbook.md): the journal must never be written
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing)
    code = main(["run", "--backend", "offline", "--json", "--workspace", str(project)])
    out = json.loads(capsys.readouterr().out)
    assert code != 0 and "Input/output error" in json.dumps(out)
    assert any(name.endswith(".2") for name in synced)
    assert snapshot(project) == before
    assert not (project / "consensus" / STAGING).exists() or not any((project / "consensus" / STAGING).iterdir())


def test_every_staged_file_is_fsynced_before_the_journal_is_saved(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.journal import Journal

    real_fsync, synced, at_save = os.fsync, set(), []

    def recording(fd: int) -> None:
        synced.add(str(Path(f"/proc/self/fd/{fd}").readlink()))
        real_fsync(fd)

    real_save = Journal.save

    def save(self: Journal) -> None:
        at_save.append({str(p) for p in self.root.iterdir() if not p.name.endswith(".json")} - synced)
        real_save(self)

    monkeypatch.setattr(os, "fsync", recording)
    monkeypatch.setattr(Journal, "save", save)
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    assert at_save == [set()]  # nothing staged was left unsynced when the commit point was written
