"""What another agent can plant where the agent reads or writes its own files: a FIFO, a link or a folder where a file
was, a message swapped for a link while the archive copies it (``processed/`` on another file system), a runaway line
in the shared decision log. Nothing may hang, be read through a link, or leave a half-made commit."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from agent import decision_log
from agent.cli import main
from agent.files import TMP_PREFIX, place_new
from agent.inputs import load
from agent.models.offline.planner import facts_for_plan
from agent.rendering.manifests import check_matches
from agent.workspace import Workspace
from tests.conftest import ROOT, snapshot

MESSAGE = "messages/inbox/devops/approved_2026_11_24_14_00_10.yaml"


def _agent(*args: str) -> subprocess.CompletedProcess[str]:
    """A separate process with a deadline: a read that blocks on a FIFO fails the test instead of hanging it."""
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def test_a_fifo_where_an_artifact_was_is_decided_again_and_reported_not_waited_on(project: Path) -> None:
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    runbook = project / "consensus/artifacts/runbook.md"
    runbook.unlink()
    os.mkfifo(runbook)

    checked = _agent("validate", "--json", "--workspace", str(project))
    assert checked.returncode == 1
    assert "artifacts/runbook.md is not a regular file" in checked.stdout

    again = _agent("run", "--backend", "offline", "--json", "--workspace", str(project))
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    assert out["previous_decision"] is False
    assert any("artifacts/runbook.md is not a regular file" in w and "deciding again" in w for w in out["warnings"])
    assert runbook.is_file() and runbook.read_text().startswith("#")


@pytest.mark.parametrize(
    ("planted", "command", "code", "said"),
    [
        ("current/decision_log.jsonl", "validate", 2, "decision_log.jsonl: is not a regular file (device, FIFO or socket)"),
        ("current/decision_log.jsonl", "run", 2, "decision_log.jsonl: is not a regular file"),
        (".devops-agent-staging/x.journal", "run", 2, "x.journal: cannot be read (is not a regular file (device, FIFO or socket)"),
        ("messages/inbox/quality/veto_x.yaml", "validate", 2, "veto_x.yaml: is not a regular file (device, FIFO or socket)"),
        ("artifacts/prometheus/alerts.yaml", "validate", 1, "alerts.yaml: is not a regular file (device, FIFO or socket)"),
    ],
)
def test_a_fifo_anywhere_we_read_is_named_not_waited_on(project: Path, planted: str, command: str, code: int, said: str) -> None:
    """The log (``validate``) and a journal (``run``, with signals deferred: only SIGKILL ended it) once blocked in
    ``open``; the other cases pin what was already right."""
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    fifo = project / "consensus" / planted
    fifo.parent.mkdir(parents=True, exist_ok=True)
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    args = ["--backend", "offline", "--force"] if command == "run" else []
    done = _agent(command, *args, "--workspace", str(project))
    assert done.returncode == code, done.stderr
    assert said in done.stdout + done.stderr
    assert fifo.is_fifo()  # refused and left for a person, not replaced behind their back


@pytest.fixture
def folders(tmp_path: Path) -> Any:
    inbox, processed = tmp_path / "inbox", tmp_path / "processed"
    inbox.mkdir()
    processed.mkdir()
    (inbox / "m.yaml").write_bytes(b"type: approved\n")
    fds = (os.open(inbox, os.O_RDONLY | os.O_DIRECTORY), os.open(processed, os.O_RDONLY | os.O_DIRECTORY))
    yield inbox, processed, fds
    for fd in fds:
        os.close(fd)


def _links_fail(monkeypatch: pytest.MonkeyPatch, code: int, *, temp_too: bool = False) -> list[str]:
    """``os.link`` refuses as across file systems (``EXDEV``), or everywhere (``EPERM``: no hard links at all)."""
    real, tried = os.link, []

    def link(src: str, dst: str, **kwargs: Any) -> None:
        tried.append(str(src))
        if temp_too or not str(src).startswith(TMP_PREFIX):
            raise OSError(code, os.strerror(code))
        real(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", link)
    return tried


@pytest.mark.parametrize(("code", "temp_too"), [(errno.EXDEV, False), (errno.EPERM, True)])
def test_where_links_fail_the_message_is_copied_whole_and_kept_at_its_source(
    folders: Any, monkeypatch: pytest.MonkeyPatch, code: int, temp_too: bool
) -> None:
    inbox, processed, fds = folders
    tried = _links_fail(monkeypatch, code, temp_too=temp_too)
    assert place_new("m.yaml", "m.yaml", fds) is True
    assert tried[0] == "m.yaml" and len(tried) == 2  # the link, then the temp copy's link
    assert (processed / "m.yaml").read_bytes() == b"type: approved\n" == (inbox / "m.yaml").read_bytes()
    assert sorted(p.name for p in processed.iterdir()) == ["m.yaml"]  # no temp file left


def test_a_copy_never_replaces_another_file(folders: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _, processed, fds = folders
    _links_fail(monkeypatch, errno.EXDEV)
    (processed / "m.yaml").write_bytes(b"someone else's\n")
    assert place_new("m.yaml", "m.yaml", fds) is False
    (processed / "same.yaml").write_bytes(b"type: approved\n")
    assert place_new("m.yaml", "same.yaml", fds) is True  # a crash after the copy: placed already
    assert (processed / "m.yaml").read_bytes() == b"someone else's\n"
    assert sorted(p.name for p in processed.iterdir()) == ["m.yaml", "same.yaml"]


@pytest.mark.parametrize("planted", ["link", "fifo"])
def test_a_copy_reads_only_the_regular_file_it_was_given(
    folders: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, planted: str
) -> None:
    inbox, processed, fds = folders
    secret = tmp_path / "secret"
    secret.write_bytes(b"not for the archive\n")
    (inbox / "m.yaml").unlink()
    if planted == "link":
        (inbox / "m.yaml").symlink_to(secret)
    else:
        os.mkfifo(inbox / "m.yaml")
    _links_fail(monkeypatch, errno.EXDEV)
    with pytest.raises(OSError) as caught:
        place_new("m.yaml", "m.yaml", fds)
    assert caught.value.errno == (errno.ELOOP if planted == "link" else errno.EINVAL)
    assert list(processed.iterdir()) == []


def test_a_message_swapped_for_a_link_while_archiving_across_file_systems_is_left_with_a_warning(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The archive copies through the inbox's descriptor with ``O_NOFOLLOW``: the link is refused, not read."""
    consensus = project / "consensus"
    secret = tmp_path / "secret.yaml"
    secret.write_text("token: not-for-the-archive\n")
    message = consensus / MESSAGE

    def swap(point: str) -> None:
        if point == f"archive:{message.name}":
            message.unlink()
            message.symlink_to(secret)

    _links_fail(monkeypatch, errno.EXDEV)
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)], fault=swap) == 0
    out = json.loads(capsys.readouterr().out)
    assert any(f"could not archive {MESSAGE}" in w and "symbolic links" in w for w in out["warnings"])
    processed = consensus / "messages/processed"
    assert all(b"not-for-the-archive" not in p.read_bytes() for p in processed.rglob("*") if p.is_file())
    assert message.is_symlink()  # left where it was: the next run refuses the link


def test_archiving_across_file_systems_moves_the_message(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    consensus = project / "consensus"
    original = (consensus / MESSAGE).read_bytes()
    _links_fail(monkeypatch, errno.EXDEV)
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["warnings"] == []
    assert not (consensus / MESSAGE).exists()
    assert (consensus / "messages/processed" / Path(MESSAGE).name).read_bytes() == original
    monkeypatch.undo()
    assert main(["validate", "--workspace", str(project)]) == 0


@pytest.mark.parametrize("planted", ["artifacts/runbook.md", "artifacts/k8s/dev/rollout.yaml"])
def test_a_folder_where_a_file_is_written_is_exit_2_before_anything_changes(
    project: Path, planted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No rename can replace a folder: found after the commit point, it left a logged decision with a file missing."""
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    folder = project / "consensus" / planted
    folder.unlink()
    folder.mkdir()
    before = snapshot(project)
    commands = [["run", "--backend", "offline", "--force"]] + ([["render"]] if "/k8s/" in planted else [])  # render: derived files
    for command in commands:
        capsys.readouterr()
        assert main([*command, "--workspace", str(project)]) == 2
        assert f"{folder}: is a folder where the agent writes a file (remove it)" in capsys.readouterr().err
        assert snapshot(project) == before and folder.is_dir()
        assert not (project / "consensus/.devops-agent-staging").exists()


def test_a_folder_named_like_a_file_the_plan_no_longer_renders_is_left_alone(project: Path) -> None:
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    folder = project / "consensus/artifacts/k8s/dev/deployment.yaml"  # a rolling plan's workload; this plan is blue/green
    folder.mkdir()
    (folder / "keep").write_text("someone's\n")
    assert main(["run", "--backend", "offline", "--force", "--workspace", str(project)]) == 0
    assert main(["render", "--workspace", str(project)]) == 0
    assert (folder / "keep").read_text() == "someone's\n"


def test_a_log_swapped_for_a_folder_after_the_commit_point_rolls_back(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The journal is saved, then the log line cannot be appended: nothing is logged, so nothing may stay behind."""
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    log = project / "consensus/current/decision_log.jsonl"
    before = snapshot(project)

    def swap(point: str) -> None:
        if point == "journal":
            log.unlink()
            log.mkdir()

    capsys.readouterr()
    assert main(["run", "--backend", "offline", "--force", "--workspace", str(project)], fault=swap) == 2
    assert f"{log}: is a directory, expected a file" in capsys.readouterr().err
    assert not (project / "consensus/.devops-agent-staging").exists()
    log.rmdir()
    assert snapshot(project) == {k: v for k, v in before.items() if k != "consensus/current/decision_log.jsonl"}
    assert main(["run", "--backend", "offline", "--force", "--json", "--workspace", str(project)]) == 0
    assert not any("completed the commit" in w for w in json.loads(capsys.readouterr().out)["warnings"])


def test_render_changes_nothing_when_any_file_it_would_touch_is_a_link(project: Path, tmp_path: Path) -> None:
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    k8s = project / "consensus/artifacts/k8s"
    (k8s / "dev/service.yaml").write_text((k8s / "dev/service.yaml").read_text() + "# edited\n")  # render would rewrite it
    (k8s / "dev/deployment.yaml").symlink_to(tmp_path / "elsewhere")  # a stale name render would remove
    shutil.rmtree(k8s / "production")  # a folder render would create
    before = snapshot(project)
    assert main(["render", "--workspace", str(project)]) == 2
    assert snapshot(project) == before and not (k8s / "production").exists()


def test_render_leaves_files_that_already_hold_the_bytes(project: Path) -> None:
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    files = sorted((project / "consensus/artifacts/k8s").rglob("*.yaml"))
    stale = files[0]
    stale.write_text(stale.read_text() + "# edited\n")
    before = {p: p.stat() for p in files}
    assert main(["render", "--workspace", str(project)]) == 0
    after = {p: p.stat() for p in files}
    assert [p for p in files if after[p].st_ino != before[p].st_ino] == [stale]


def test_validate_never_reads_through_a_linked_folder_of_rendered_files(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    dev = project / "consensus/artifacts/k8s/dev"
    dev.rename(tmp_path / "dev")
    dev.symlink_to(tmp_path / "dev", target_is_directory=True)
    capsys.readouterr()
    assert main(["validate", "--json", "--workspace", str(project)]) == 1
    found = json.loads(capsys.readouterr().out)["violations"]
    linked = [v for v in found if v["artifact"] == "k8s/dev"]
    assert len(linked) == 1 and linked[0]["rule"] == "manifests.yaml" and "symbolic link" in linked[0]["message"]
    assert not any(v["artifact"].startswith("k8s/dev/") for v in found)  # reported once, none of its files read


@pytest.mark.parametrize("folder", ["artifacts", "messages/inbox/quality", "current"])
def test_validate_reads_nothing_through_a_linked_folder_of_the_workspace(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], folder: str
) -> None:
    """As in a run: exit 2 naming the link (it used to read the artifacts through one and call them valid)."""
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    linked = project / "consensus" / folder
    linked.mkdir(parents=True, exist_ok=True)
    linked.rename(tmp_path / "elsewhere")
    linked.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    capsys.readouterr()
    assert main(["validate", "--workspace", str(project)]) == 2
    assert f"{linked}: is a symbolic link" in capsys.readouterr().err


def test_a_folder_in_the_staging_folder_is_warned_and_left(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = project / "consensus/.devops-agent-staging/junk"
    junk.mkdir(parents=True)
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 0
    assert any(f"{junk}: a folder in the staging folder" in w for w in json.loads(capsys.readouterr().out)["warnings"])
    assert junk.is_dir()


def test_render_names_a_plan_that_is_not_a_regular_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    plan = project / "consensus/artifacts/deployment.json"
    plan.unlink()
    plan.mkdir()
    capsys.readouterr()
    assert main(["render", "--workspace", str(project)]) == 2
    assert f"{plan}: is a directory, expected a file" in capsys.readouterr().err


def test_the_drift_check_reads_no_fifo(project: Path) -> None:
    """``check_matches`` without the files read for it reads them itself: a FIFO there is drift, not a wait."""
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    artifacts = project / "consensus/artifacts"
    (artifacts / "k8s/dev/hpa.yaml").unlink()
    os.mkfifo(artifacts / "k8s/dev/hpa.yaml")
    deployment = json.loads((artifacts / "deployment.json").read_text())
    inputs = load(Workspace.locate(project))
    facts, result = facts_for_plan(inputs, deployment), []
    worker = threading.Thread(target=lambda: result.append(check_matches(artifacts, deployment, facts)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert result == [["k8s/dev/hpa.yaml"]]


def _reference(content: bytes, longest: int) -> tuple[list[bytes], list[bytes]]:
    """What the two readers must give: every line, a longer one as TOO_LONG; forwards with its newline."""
    parts = content.split(b"\n")
    forward = [p + b"\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    forward = [decision_log.TOO_LONG if len(line.rstrip(b"\n")) > longest else line for line in forward]
    backward = [decision_log.TOO_LONG if len(p) > longest else p for p in reversed(parts)]
    return forward, backward


@pytest.mark.parametrize("seed", range(40))
def test_a_log_line_too_long_to_hold_is_one_marker_in_both_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """With 4-byte blocks and a 10-byte limit, any length and alignment of lines and block edges is met in a few bytes."""
    monkeypatch.setattr(decision_log, "_CHUNK", 4)
    monkeypatch.setattr(decision_log, "_LONGEST_LINE", 10)
    pick = random.Random(seed)
    lengths = [pick.choice([0, 1, 3, 9, 10, 11, 12, 25, 40]) for _ in range(pick.randint(1, 12))]
    content = b"\n".join(bytes(pick.choice(b"ab{}") for _ in range(n)) for n in lengths)
    log = tmp_path / "decision_log.jsonl"
    log.write_bytes(content + (b"\n" if pick.random() < 0.5 else b""))
    forward, backward = _reference(log.read_bytes(), 10)
    assert list(decision_log.lines(log)) == forward
    assert list(decision_log.lines_from_end(log)) == backward


def test_a_huge_log_line_is_skipped_and_the_decision_still_found(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    log = project / "consensus/current/decision_log.jsonl"
    with log.open("ab") as handle:  # another agent's runaway line: 17 MiB, no newline until the end
        handle.write(b'{"agent":"qa","note":"' + b"x" * (17 << 20) + b'"}\n')
    capsys.readouterr()
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project)]) == 0
    assert json.loads(capsys.readouterr().out)["previous_decision"] is True  # found past the long line
    assert main(["validate", "--json", "--workspace", str(project)]) == 0  # read forwards past it too
    assert json.loads(capsys.readouterr().out)["checked"][-1] == "current/decision_log.jsonl"
    assert list(decision_log.lines(log))[-1] is decision_log.TOO_LONG


@pytest.mark.parametrize("reader", ["lines", "lines_from_end"])
def test_a_long_log_line_is_never_held_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str) -> None:
    monkeypatch.setattr(decision_log, "_CHUNK", 1_000)
    monkeypatch.setattr(decision_log, "_LONGEST_LINE", 10_000)
    log = tmp_path / "decision_log.jsonl"
    log.write_bytes(b'{"agent":"devops"}\n' + b"x" * 2_000_000 + b'\n{"agent":"qa"}\n')
    tracemalloc.start()
    try:
        found = list(getattr(decision_log, reader)(log))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decision_log.TOO_LONG in found and len(found) in (3, 4)
    assert peak < 100_000  # the limit and a block or two, not the 2 MB line


@pytest.mark.parametrize("seed", range(30))
def test_the_backward_search_for_an_agent_s_lines_is_the_line_by_line_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """`by_agent` jumps between hits of the epic's id through blocks as small as a byte and lines longer than the
    limit; it must find what reading every line from the end finds, and `contains` every whole line and nothing else."""
    pick = random.Random(seed)
    monkeypatch.setattr(decision_log, "_CHUNK", pick.choice([1, 2, 5, 16, 64, 1 << 20]))
    agents, epics = ["quality", "Quality ", "devops", "developer"], ["EP-001", "ep-001", "EP-0011", "EP-002"]
    lines = []
    for _ in range(pick.randint(0, 30)):
        entry = {"agent": pick.choice(agents), "epic_id": pick.choice(epics), "decision": pick.choice(["approve", "rejected"])}
        entry |= {"note": "as in EP-001"} if pick.random() < 0.3 else {}  # the id twice in one line
        entry |= {"pad": "x" * 200} if pick.random() < 0.2 else {}  # the id far from the end of a long line
        text = json.dumps(entry, separators=pick.choice([(",", ":"), (", ", ": ")]))
        if pick.random() < 0.3:  # another writer's escapes hide the id or the name from a byte search
            text = text.replace("-0", "\\u002d0").replace('"quality', '"\\u0071uality')
        lines.append(pick.choice([text, "", "not json EP-001 quality", text + " "]))
    log = tmp_path / "decision_log.jsonl"
    log.write_text("\n".join(lines) + pick.choice(["", "\n"]))
    longest = pick.choice([len(line) for line in lines if line] + [16 << 20])  # a line exactly at the limit, longer ones
    monkeypatch.setattr(decision_log, "_LONGEST_LINE", longest)
    whole = [line for line in decision_log.lines_from_end(log) if line is not decision_log.TOO_LONG]
    assert list(decision_log._lines_with(log, b"EP-001")) == [line for line in whole if b"EP-001" in line]
    assert list(decision_log._lines_with(log, b"EP-001", b"\\u")) == [line for line in whole if b"EP-001" in line or b"\\u" in line]

    def quality_s(entry: object) -> bool:
        return isinstance(entry, dict) and entry["agent"].strip().lower() == "quality" and entry["epic_id"].lower() == "ep-001"

    about = list(decision_log.about(log, "EP-001"))
    assert [e for e in map(decision_log.parse, about) if quality_s(e)] == [e for e in map(decision_log.parse, whole) if quality_s(e)]
    assert about == [line for line in whole if b"ep-001" in line.lower() or decision_log._ESCAPE_SPELLS.search(line)]
    for line in {line for line in lines if "EP-001" in line}:
        assert decision_log.contains(log, line.encode() + b"\n") is (len(line.encode()) <= longest)
        assert not decision_log.contains(log, line[1:].encode() + b"\n")  # part of a line is not a line


_CUT_SHORT = """
import json, os, sys
from pathlib import Path
from agent import decision_log
log = Path(sys.argv[1])
line = json.dumps({"agent": "quality", "epic_id": "EP-001", "decision": "approve"})
log.write_text((line + "\\n") * 20_000)
found = decision_log.about(log, "EP-001")
assert json.loads(next(found))["decision"] == "approve"
os.truncate(log, 4096)
print(len(list(found)))
"""


def test_a_log_cut_short_while_it_is_searched_is_read_as_it_now_is(tmp_path: Path) -> None:
    """Other agents write the shared log: a search must survive it shrinking under it. (A memory map died of SIGBUS,
    and took the process with it: hence a process of its own.)"""
    done = subprocess.run([sys.executable, "-c", _CUT_SHORT, str(tmp_path / "log.jsonl")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) < 20_000
