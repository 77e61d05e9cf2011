"""The decision log: one JSON object per physical line, appended in one write, read without parsing what is not ours.

Lines are split on ``b"\\n"`` only, never ``str.splitlines()`` (which also splits on U+2028, U+0085, ...,
characters that ``json.dumps(ensure_ascii=False)`` leaves raw inside strings). A run looks for its own
epic's devops lines from the end of the file and json-parses only lines that contain the right bytes,
so a 200,000-line log costs a scan, not a parse.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from agent import collector
from agent.documents import open_file
from agent.errors import CommitError, InputError, hidden, printable
from agent.files import sha256_of
from agent.names import folded, looks_like

if TYPE_CHECKING:
    from agent.workspace import Workspace

Entry = dict[str, Any]
DEVOPS = b'"devops"'
ESCAPE = b"\\u"
"""A ``\\uXXXX`` escape: how any character of a JSON string may be written, so a line holding one may name the epic or
the agent a byte search looks for without holding their bytes (``"EP\\u002d001"``). Where missing a line would be
fail-open (quality's word, the epic's newest iteration: :func:`about`, :func:`entries_from_end`), such lines are read
too, when what they hold could spell an id or a name (``_COULD_SPELL``)."""
_ESCAPE_SPELLS = re.compile(rb"\\u(?:00|0[34]|200[b-f]|201[01]|202[a-e]|206|f[ef]|212a)", re.IGNORECASE)
_RAW_SPELLS = re.compile(rb"[\xc2\xc3\xcd-\xd3]|\xe2\x80[\x8b-\x91\xaa-\xae]|\xe2\x81[\xa0-\xaf]|\xe2\x84\xaa|\xef(?:\xbb\xbf|[\xbc\xbd])")
_COULD_SPELL = re.compile(_ESCAPE_SPELLS.pattern + b"|" + _RAW_SPELLS.pattern, re.IGNORECASE)
"""What in a line could spell a letter, digit or hyphen of an epic id or an agent's name, or hide a character inside one,
escaped or raw (UTF-8): ASCII and Latin-1, Greek and Cyrillic, zero-width characters and hyphens, bidi and invisible
characters, the BOM and full-width forms, the Kelvin sign. Other non-ASCII text (an em dash, curly quotes, emoji;
Python's ``json.dumps`` escapes every one) cannot, so a line holding only that is not read whole: a log full of such
lines costs a search, not a parse per line."""
_CHUNK = 1 << 20
_LONGEST_LINE = 16 << 20
TOO_LONG = b"\x00(a line longer than 16 MiB, not read)"
"""What the readers give for a line longer than ``_LONGEST_LINE`` (no writer of ours comes near it): unparseable, so skipped."""
# What a devops decision records in ``details.files`` (agent.writer): an approve, its three artifacts (the
# rendered k8s/ and prometheus/ files are left out on purpose); a veto, the one message it left for quality.
APPROVE_FILES = ("artifacts/cicd.yaml", "artifacts/deployment.json", "artifacts/runbook.md")
VETO_FILE = re.compile(r"messages/inbox/quality/veto_[^/\x00]*\.yaml")


def encode(entry: Entry) -> bytes:
    """The entry as one log line, newline included; no raw ``\\n`` can occur inside (JSON escapes it), nor a character
    that would make ``grep`` or ``tail`` show the line as other than it is (a model's reason with U+202E in it)."""
    text = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
    if not text.isprintable():  # JSON escapes controls; what else hides is written as an escape too
        text = "".join(json.dumps(ch)[1:-1] if hidden(ch) else ch for ch in text)
    return text.encode("utf-8", "backslashreplace") + b"\n"


def parse(line: bytes) -> Entry | None:
    """One line as a JSON object, or None when it is blank, malformed, nested absurdly deep or not an object."""
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def lines(path: Path) -> Iterator[bytes]:
    """Every line from the start (binary file iteration splits on ``b"\\n"`` only); one longer than
    ``_LONGEST_LINE`` is never held in memory whole and comes as ``TOO_LONG``."""
    handle = _open(path)
    if handle is None:
        return
    with handle:
        for line in iter(partial(handle.readline, _LONGEST_LINE + 1), b""):
            if len(line) > _LONGEST_LINE and line[-1:] != b"\n":
                while (rest := handle.readline(_CHUNK)) and rest[-1:] != b"\n":
                    pass
                line = TOO_LONG
            yield line


def lines_from_end(path: Path) -> Iterator[bytes]:
    """Every line, newest first, reading the file backwards in 1 MiB blocks; one longer than ``_LONGEST_LINE``
    comes as ``TOO_LONG`` (at most that much of it is held while its start is looked for)."""
    handle = _open(path)
    if handle is None:
        return
    with handle:
        position, pending, dropped = handle.seek(0, os.SEEK_END), b"", False
        while position > 0:
            start = max(0, position - _CHUNK)
            handle.seek(start)
            parts = (handle.read(position - start) + pending).split(b"\n")
            position = start
            pending = parts.pop(0) if start > 0 else b""
            if dropped and parts:  # the line whose end was let go starts here
                parts[-1], dropped = TOO_LONG, False
            if len(pending) > _LONGEST_LINE:
                pending, dropped = b"", True
            yield from (TOO_LONG if len(part) > _LONGEST_LINE else part for part in reversed(parts))


def _open(path: Path) -> BinaryIO | None:
    """The log to read, None when there is none; a link, FIFO or folder in its place is an InputError naming it
    (exit 2): never read through, never waited on."""
    try:
        fd, _ = open_file(path)
    except InputError:
        if os.path.lexists(path):
            raise
        return None
    return os.fdopen(fd, "rb")


def devops_entries(path: Path, epic_id: str | None = None) -> list[Entry]:
    """Every devops line (of ``epic_id`` when given), oldest first; only lines holding the right bytes are parsed."""
    needle = DEVOPS if epic_id is None else _needle(epic_id)
    with collector.paused():
        found = [parse(line) for line in lines(path) if DEVOPS in line and needle in line]
    return [e for e in found if e is not None and e.get("agent") == "devops" and (epic_id is None or str(e.get("epic_id")) == epic_id)]


def newest(path: Path, match: Callable[[Entry], bool], needle: bytes, other: bytes = b"") -> Entry | None:
    """The newest entry for which ``match`` holds (see ``_entries_with`` for the needles)."""
    return next((entry for entry in _entries_with(path, needle, other) if match(entry)), None)


READ_KEYS = frozenset({"agent", "decision", "epic_id", "iteration"})
"""The keys the gates read of another agent's line."""
_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})")


class Unclear(ValueError):
    """A line the gates cannot read as every reader would read it; the message says why."""


def about(path: Path, epic_id: str) -> Iterator[bytes]:
    """The lines that may be about ``epic_id``, newest first: those holding the epic's id in any case, or an escape
    that could spell it (``_ESCAPE_SPELLS``). A line naming its epic otherwise (raw look-alike characters, an escape
    outside those ranges, no epic at all, which the protocol's lines never do) is not found: searching for an agent's
    name as well cost ~10 times as much on a log where most lines are that agent's for other epics, and raw
    characters would need a look at every byte."""
    yield from _lines_with(path, _needle(epic_id).lower(), pattern=_ESCAPE_SPELLS, fold=True)


def read_strictly(line: bytes, keys: frozenset[str] = READ_KEYS) -> Entry:
    """``line`` as one JSON object whose ``keys`` every reader reads alike, or :class:`Unclear`: not one JSON object
    (torn, two on a line, not UTF-8, an integer Python refuses), one of ``keys`` twice at the top (readers keep the
    first or the last), or a top-level key a person reads as one of ``keys``, spelled another way (``Decision``,
    ``agent ``, a Cyrillic letter)."""
    # A key twice needs the pairs; a read key can be there twice only when its text is, or escaped (else: C speed).
    pairs: list[list[tuple[str, Any]]] = []

    def kept(found: list[tuple[str, Any]]) -> dict[str, Any]:
        pairs.append(found)
        return dict(found)

    twice = ESCAPE in line or any(line.count(f'"{key}"'.encode()) > 1 for key in keys)
    try:
        text = line.decode("utf-8")  # UTF-8 only: json.loads would take UTF-16 bytes
        value = json.loads(text, object_pairs_hook=kept) if twice else json.loads(text)
    except (ValueError, RecursionError):
        raise Unclear("not one JSON object in UTF-8") from None
    if not isinstance(value, dict):
        raise Unclear("not a JSON object")
    if pairs and len(pairs[-1]) > len(value):  # the outermost object is the last one built
        named = [key for key, _ in pairs[-1] if key in keys]
        doubled = sorted(key for key in set(named) if named.count(key) > 1)
        if doubled:
            raise Unclear(f"the key {doubled[0]!r} twice")
    odd = sorted(key for key in value if key not in keys and _reads_as(key, keys))
    if odd:
        raise Unclear(f"the key {odd[0]!r} reads as one the gates read")
    return value


def _could_spell(line: bytes) -> bool:
    if line.isascii():  # escapes only: the pattern with a literal start, several times faster
        return ESCAPE in line and _ESCAPE_SPELLS.search(line) is not None
    return _COULD_SPELL.search(line) is not None


def _reads_as(key: str, keys: frozenset[str]) -> bool:
    if key.isascii() and key.isprintable():  # the common case, without NFKC
        return key.strip().lower() in keys
    return looks_like(key, keys)


def mentions(line: bytes, *words: str) -> bool:
    """Whether ``line`` as a person reads it holds each of ``words`` (lower-case ASCII) as a word of its own: ``\\uXXXX``
    escapes decoded (a surrogate pair as one character), then :func:`~agent.names.folded`, each letter of a word
    matching itself or any non-ASCII character, as :func:`~agent.names.looks_like` reads one (a Cyrillic letter
    for a Latin one); ``EP-001`` is not in ``EP-0010`` nor ``quality`` in ``code_quality``."""
    decoded = _ESCAPED.sub(lambda found: chr(int(found[1], 16)), line.decode("utf-8", "replace"))
    text = folded(decoded.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))
    return all(_as_a_word(each).search(text) is not None for each in words)


@cache
def _as_a_word(word: str) -> re.Pattern[str]:
    letters = "".join(f"(?:{re.escape(ch)}|[^\\x00-\\x7f])" for ch in word)
    return re.compile(rf"(?<![a-z0-9._-]){letters}(?![a-z0-9._-])")


def excerpt(line: bytes, limit: int = 160) -> str:
    text = line.decode("utf-8", "replace")
    return printable(text if len(text) <= limit else text[:limit] + "…")


def _entries_with(path: Path, needle: bytes, other: bytes) -> Iterator[Entry]:
    """The entries, newest first, of the lines that hold ``needle`` (searched for from the end) and ``other``: only
    those lines are parsed."""
    for line in _lines_with(path, needle):
        if other in line:
            entry = parse(line)
            if entry is not None:
                yield entry


def _lines_with(path: Path, *needles: bytes, pattern: re.Pattern[bytes] | None = None, fold: bool = False) -> Iterator[bytes]:
    """Every line holding one of ``needles`` or a match of ``pattern`` (neither spanning a newline), newest first, found
    by a search backwards through blocks of ``_CHUNK`` bytes (``bytes.rfind`` and the pattern's own scan, not a Python
    step per line); one longer than ``_LONGEST_LINE`` is passed over, and never held whole. The file is read, not
    memory-mapped: other agents append to it, and a mapped file cut short under the reader kills it (SIGBUS)."""
    handle = _open(path)
    if handle is None:
        return
    with handle:
        # [start, position) is read; position is the start of a line, or the end of the file, except while
        # ``dropping``: then it is inside a line too long to hold, which the part after the block's last newline is.
        position, size, dropping = handle.seek(0, os.SEEK_END), _CHUNK, False
        while position > 0:
            start = max(0, position - size)
            handle.seek(start)
            block = handle.read(position - start)
            hay = block.lower() if fold else block  # ASCII case only: every offset stays where it was
            cut = block.rfind(b"\n") + 1 if dropping else len(block)  # whole lines end by here
            first = block.find(b"\n") + 1 if start > 0 else 0  # and start from here: the line before began earlier
            if dropping and cut == 0:  # all of it inside the line let go
                position = start
                continue
            if start > 0 and not 0 < first < cut:  # no whole line: read on before it, or let it go when it is too long
                position, size, dropping = (start, _CHUNK, True) if cut > _LONGEST_LINE + 1 else (position, size * 2, dropping)
                continue
            found = [hay.rfind(needle, first, cut) for needle in needles]  # the last place of each needle in the whole lines
            matched = [match.start() for match in pattern.finditer(block, first, cut)] if pattern else []
            while (at := max(found + matched[-1:], default=-1)) >= 0:
                line_start, line_end = block.rfind(b"\n", max(first - 1, 0), at) + 1, block.find(b"\n", at, cut)
                line_end = cut if line_end < 0 else line_end
                if line_end - line_start <= _LONGEST_LINE:
                    yield block[line_start:line_end]
                # a needle found in this line is looked for again before it; one found earlier keeps its place
                found = [place if place < line_start else hay.rfind(n, first, line_start) for n, place in zip(needles, found, strict=True)]
                while matched and matched[-1] >= line_start:
                    matched.pop()
            position, size, dropping = start + first, _CHUNK, False


def _needle(text: str) -> bytes:
    """How our own writer spells ``text`` inside a line (a forged line spelled otherwise is simply not seen)."""
    return encode({"": text})[5:-3]


def _iteration(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def find_devops(path: Path, epic_id: str, iteration: int) -> Entry | None:
    """The newest devops approve/veto line for this epic and iteration."""

    def match(entry: Entry) -> bool:
        return (
            entry.get("agent") == "devops"
            and str(entry.get("epic_id")) == epic_id
            and _iteration(entry.get("iteration")) == iteration
            and entry.get("decision") in {"approve", "veto"}
        )

    return newest(path, match, _needle(epic_id), DEVOPS)  # the epic's id is the rarer: searched for first


def entries_from_end(path: Path, epic_id: str) -> Iterator[Entry]:
    """The entries about this epic (its id as a person reads it, :func:`~agent.names.looks_like`) or naming no epic,
    newest first, parsed only as far as the caller reads. A line holding ``"epic_id"`` is skipped unparsed when nothing
    in it could spell this epic's id: not the id in any case, nor what ``_COULD_SPELL`` finds (a line whose only
    ``"epic_id"`` is nested, so that it names no epic at the top, is skipped too). A line that may give the epic an
    iteration and whose ``epic_id`` or ``iteration`` readers could read differently (:func:`read_strictly`) raises
    :class:`Unclear`, naming it: one that mentions the epic, or names no epic and mentions an iteration."""
    needle, key, epic = _needle(epic_id).lower(), b'"epic_id"', folded(epic_id)
    for line in lines_from_end(path):
        if not line.strip():
            continue
        if key in line and needle not in line.lower() and not _could_spell(line):
            continue  # names an epic, and nothing in it could spell this one
        try:
            entry = read_strictly(line, _ITERATION_KEYS)
        except Unclear as unclear:
            if mentions(line, epic) or (key not in line and b"iteration" in line.lower()):
                raise Unclear(f"{unclear}: {excerpt(line)}") from None
            continue
        named = entry.get("epic_id")
        if named is None or looks_like(str(named), {epic}):
            yield entry


_ITERATION_KEYS = frozenset({"epic_id", "iteration"})


def append(path: Path, line: bytes) -> None:
    """Append one line in a single ``write`` on an ``O_APPEND`` descriptor, never through a link."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        data = line if size == 0 or os.pread(fd, 1, size - 1) == b"\n" else b"\n" + line
        written = os.write(fd, data)
        if written != len(data):
            _undo_short_write(fd, size, written)
            raise CommitError(path, "short write to the decision log (disk full?); nothing was written. Free disk space and run again.")
        os.fsync(fd)
    finally:
        os.close(fd)


def _undo_short_write(fd: int, size: int, written: int) -> None:
    # Only when nobody appended after us; otherwise the torn part stays, unparseable and so ignored.
    if os.fstat(fd).st_size == size + written:
        os.ftruncate(fd, size)


def contains(path: Path, line: bytes) -> bool:
    """Whether ``line`` (newline included) is a whole line of the log."""
    return any(found == line[:-1] for found in _lines_with(path, line[:-1]))


def claimed_files(entry: Entry) -> dict[str, str]:
    details = entry.get("details")
    files = details.get("files") if isinstance(details, dict) else None
    if not isinstance(files, dict):
        return {}
    return {str(k): str(v) for k, v in files.items()}


def verify(workspace: Workspace, entry: Entry) -> list[str]:
    """What is wrong with the files the line claims: not the set its decision writes, or one missing or changed."""
    files = claimed_files(entry)
    if not files:
        return ["it records no files"]
    problems, wanted = _wrong_set(entry, files)
    for relative, digest in sorted(files.items()):
        if relative not in wanted:
            continue
        found = _digest(workspace, relative)
        if found is None:  # a link, a FIFO or a folder where the file was is not it either
            there = os.path.lexists(workspace.consensus / relative)
            problems.append(f"{relative} is {'not a regular file' if there else 'missing'}")
        elif found != digest:
            problems.append(f"{relative} has changed")
    return problems


def _wrong_set(entry: Entry, files: dict[str, str]) -> tuple[list[str], set[str]]:
    """Claims a devops decision never makes, and what it always claims but this line does not; plus the good claims.

    A line that names the right files with their real digests is still forged when it names too few or too
    many: "already decided" must mean the decision's own files are on disk, not that some files are.
    """
    decision = entry.get("decision")
    if decision == "approve":
        wanted = set(APPROVE_FILES) & set(files)
        missing = [f"it does not claim {name}" for name in APPROVE_FILES if name not in files]
    else:
        wanted = set(sorted(name for name in files if VETO_FILE.fullmatch(name))[:1])
        missing = [] if wanted else ["it does not claim its veto (messages/inbox/quality/veto_*.yaml)"]
    extra = [f"it claims {name}, which a devops {decision} decision never writes" for name in sorted(set(files) - wanted)]
    return extra + missing, wanted


def _digest(workspace: Workspace, relative: str) -> str | None:
    """The file's sha256; a veto quality has already archived counts where quality archives it."""
    path = workspace.consensus / relative
    if ".." in Path(relative).parts or Path(relative).is_absolute():
        return None
    digest = sha256_of(path)
    if digest is None and relative.startswith("messages/inbox/quality/"):
        digest = sha256_of(workspace.processed / path.name)
    return digest


def committed_mismatch(workspace: Workspace) -> list[str]:
    """Files on disk that do not match the newest devops decision in the log (e.g. a mixed N/N+1 artifact set)."""
    entry = newest(workspace.decision_log, lambda e: e.get("agent") == "devops" and e.get("decision") in {"approve", "veto"}, DEVOPS)
    if entry is None or not claimed_files(entry):
        return []
    where = f"{entry.get('epic_id')} iteration {entry.get('iteration')} ({entry.get('decision')} at {entry.get('timestamp')})"
    return [f"{problem}: does not match the last devops decision {where}" for problem in verify(workspace, entry)]
