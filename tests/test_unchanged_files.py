"""Deciding again on the same inputs: files that already hold the decided bytes are kept as they are, the rest rewritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent import decision_log
from agent.cli import main
from agent.files import holds, sha256_of
from agent.workspace import Workspace
from tests.conftest import ROOT


def _run(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["run", "--backend", "offline", "--json", "--workspace", str(project), *args]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_deciding_again_keeps_identical_files_and_rewrites_the_others(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _run(capsys, project)
    files = [Path(p) for p in first["written"]]
    artifacts = project / "consensus/artifacts"
    edited, shortened, linked = artifacts / "runbook.md", artifacts / "k8s/dev/hpa.yaml", artifacts / "k8s/staging/pdb.yaml"
    edited.write_bytes(edited.read_bytes().replace(b"#", b"%", 1))  # same size, other bytes
    shortened.write_bytes(shortened.read_bytes()[:-1])
    elsewhere = tmp_path / "outside.yaml"
    os.link(linked, elsewhere)  # same bytes, but a second name outside the workspace
    before = {p: os.lstat(p) for p in files}
    events: list[int | str] = []  # inodes as they are synced, and the commit's points as they are reached
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def spy(fd: int, real: Callable[[int], None] = real) -> None:
            events.append(os.fstat(fd).st_ino)
            real(fd)

        monkeypatch.setattr(os, name, spy)
    capsys.readouterr()
    assert main(["run", "--backend", "offline", "--json", "--force", "--workspace", str(project)], fault=events.append) == 0
    out = json.loads(capsys.readouterr().out)

    assert sorted(out["written"]) == sorted(first["written"])
    unchanged = {Path(p) for p in out["unchanged"]}
    assert unchanged < set(files) and len(unchanged) >= 20
    assert not {edited, shortened, linked} & unchanged
    synced_first = set(events[: events.index("staged")])  # before the journal names the decision
    assert {before[p].st_ino for p in unchanged} | {os.lstat(p.parent).st_ino for p in unchanged} <= synced_first
    for path in files:
        now = os.lstat(path)
        same = (now.st_ino, now.st_mtime_ns) == (before[path].st_ino, before[path].st_mtime_ns)
        assert same == (path in unchanged), path
    assert elsewhere.read_bytes() == linked.read_bytes() and not elsewhere.samefile(linked)
    ws = Workspace.locate(project)
    assert decision_log.committed_mismatch(ws) == []
    assert main(["validate", "--workspace", str(project)]) == 0


def test_a_person_reads_what_was_written_and_what_was_kept(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    capsys.readouterr()
    (project / "consensus/artifacts/cicd.yaml").write_text("changed by hand\n")
    assert main(["run", "--backend", "offline", "--force", "--workspace", str(project)]) == 0
    out = capsys.readouterr().out
    assert "/artifacts/cicd.yaml" in out and "rendered files under" not in out
    kept = int(out.split("kept ")[1].split(" files as they were")[0])
    assert kept >= 25


def test_holds_only_a_plain_file_of_one_name_with_exactly_those_bytes(tmp_path: Path) -> None:
    data = b"kind: Service\n"
    plain = tmp_path / "plain.yaml"
    plain.write_bytes(data)
    cases = {
        plain: True,
        tmp_path / "missing.yaml": False,
    }
    (tmp_path / "other.yaml").write_bytes(b"kind: Secret!\n")  # same length
    cases[tmp_path / "other.yaml"] = False
    (tmp_path / "longer.yaml").write_bytes(data + b"\n")
    cases[tmp_path / "longer.yaml"] = False
    (tmp_path / "link.yaml").symlink_to(plain)
    cases[tmp_path / "link.yaml"] = False
    (tmp_path / "twice.yaml").write_bytes(data)
    os.link(tmp_path / "twice.yaml", tmp_path / "twice-again.yaml")
    cases[tmp_path / "twice.yaml"] = False
    (tmp_path / "folder.yaml").mkdir()
    cases[tmp_path / "folder.yaml"] = False
    for name, mode, want in (("private.yaml", 0o600, True), ("shared.yaml", 0o666, False), ("script.yaml", 0o755, False)):
        (tmp_path / name).write_bytes(data)
        (tmp_path / name).chmod(mode)
        cases[tmp_path / name] = want
    if os.geteuid() == 0:  # only root can give a file away
        (tmp_path / "theirs.yaml").write_bytes(data)
        os.chown(tmp_path / "theirs.yaml", 4321, -1)
        cases[tmp_path / "theirs.yaml"] = False
    assert {p.name: holds(p, data) for p in cases} == {p.name: want for p, want in cases.items()}


def test_a_fifo_where_an_artifact_goes_is_replaced_not_waited_on(project: Path) -> None:
    """Reading a FIFO blocks until something writes to it: inside the commit, with the lock held and signals deferred."""
    assert main(["run", "--backend", "offline", "--workspace", str(project)]) == 0
    runbook = project / "consensus/artifacts/runbook.md"
    runbook.unlink()
    os.mkfifo(runbook)
    done = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--backend", "offline", "--force", "--json", "--workspace", str(project)],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert runbook.is_file() and str(runbook) not in json.loads(done.stdout)["unchanged"]


def test_a_folder_is_opened_one_name_at_a_time_and_never_through_a_link(tmp_path: Path) -> None:
    from agent.errors import UnsafePathError
    from agent.files import open_folder

    root = tmp_path / "consensus"
    root.mkdir()
    open_fds = len(list(Path("/proc/self/fd").iterdir()))
    fd = open_folder(root, root / "artifacts/k8s/dev")  # created where missing
    try:
        assert os.fstat(fd).st_ino == os.lstat(root / "artifacts/k8s/dev").st_ino
    finally:
        os.close(fd)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "dev").mkdir(parents=True)
    (root / "artifacts/k8s/staging").symlink_to(elsewhere / "dev", target_is_directory=True)
    (root / "artifacts/link").symlink_to(elsewhere, target_is_directory=True)
    (root / "artifacts/file").write_text("not a folder\n")
    for folder, problem in (
        (root / "artifacts/k8s/staging", "is a symbolic link"),
        (root / "artifacts/link/dev", "is a symbolic link"),
        (root / "artifacts/file/dev", "is not a real folder"),
    ):
        with pytest.raises(UnsafePathError, match=problem) as caught:
            open_folder(root, folder)
        assert str(folder).startswith(str(caught.value.path))
    assert sorted(p.name for p in elsewhere.rglob("*")) == ["dev"] and len(list(Path("/proc/self/fd").iterdir())) == open_fds


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (3 << 20) + 7])
def test_a_files_digest_is_hashlibs_sha256_across_block_edges(tmp_path: Path, size: int) -> None:
    import hashlib

    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    assert sha256_of(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    (tmp_path / "link").symlink_to(tmp_path / "f")
    assert sha256_of(tmp_path / "link") is None
