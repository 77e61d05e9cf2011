"""The bulk fast paths (``file_facts``, ``task_files``, ``check_depth``) give what the plain per-item definitions give.

Each fast path is compared with a straightforward reference, written here as the code read before it, over inputs
chosen to trip a text trick: unsafe paths first, in the middle or last, ``..`` segments beside ``...`` names, paths
holding a newline (one that splits into two safe-looking lines too), dotfiles, trailing slashes, non-ASCII.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agent.documents import MAX_DEPTH, _few_brackets, check_depth, parse_json
from agent.errors import InputError
from agent.facts import FileFacts, all_safe_paths, file_facts, is_safe_path, task_files

# ---------------------------------------------------------------- references


def reference_is_safe_path(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9._/-]+", text)) and text[0] not in "/-" and ".." not in text.split("/")


def reference_language(name: str) -> str | None:
    if name == "go.mod":
        return "go"
    if name == "package.json":
        return "node"
    extensions = {".py": "python", ".go": "go", ".js": "node", ".mjs": "node", ".cjs": "node", ".ts": "node", ".tsx": "node"}
    suffix = name[name.rfind(".") :] if "." in name.lstrip(".") else ""
    return extensions.get(suffix)


def reference_app_hint(path: str) -> tuple[str, str] | None:
    parts = [p for p in path.split("/") if p not in {"", "."}]
    if len(parts) >= 3 and parts[0] in {"src", "app", "lib", "cmd", "internal"} and "health" in parts[-1]:
        return parts[-2], path
    return None


def reference_file_facts(listed: tuple[str, ...]) -> FileFacts:
    """``file_facts`` one path at a time, as it read before the fast paths."""
    files = tuple(f for f in listed if reference_is_safe_path(f))
    names = [f.rstrip("/").rsplit("/", 1)[-1] for f in files]
    kinds = Counter(kind for kind in map(reference_language, names) if kind)
    language = max(sorted(kinds), key=lambda k: kinds[k]) if kinds else None
    sources = Counter(f.split("/", 1)[0] for f in files if "/" in f)
    for skipped in ("", ".", "tests", "test", "docs"):
        sources.pop(skipped, None)
    return FileFacts(
        files=files,
        ignored=len(listed) - len(files),
        language=language,  # type: ignore[arg-type]
        go_mod=next((f for f, n in zip(files, names, strict=True) if n == "go.mod"), None),
        source_dir=max(sorted(sources), key=sources.__getitem__) if sources else "src",
        app_hint=next((hint for f in files if "health" in f and (hint := reference_app_hint(f))), None),
        health_file=next((f for f, n in zip(files, names, strict=True) if "health" in n.split(".")[0].lower()), None),
    )


def reference_task_files(tasks: list[Any]) -> tuple[str, ...]:
    found: list[str] = []
    for task in tasks:
        if isinstance(task, dict):
            for key in ("files_created", "files_modified"):
                value = task.get(key)
                listed = [] if value is None else value if isinstance(value, list) else [value]
                found += [f for f in listed if isinstance(f, str)]
    return tuple(found)


# ---------------------------------------------------------------- paths

SAFE = ("src/app.py", "src/m1/__init__.py", "lib/util.go", "web/index.ts", "cmd/svc/main.go", "README", "a.b.c.py")

ODD = (
    *("../x", "a/../b", "a/..", "..", "../", "./..", "a/../", "..\n"),  # `..` segments
    *("...", "a/.../b", "a..b/c.py", "x..py", "..py", "...py", ".py", "a/.py", "a/..go", ".x.go", "./", ".", "./y.py"),
    *("-rf", "/etc/passwd", "src/-x.py", "//x", "-", "/", "src/", "src//", "src/app.py/", "src/app.tsx//", "a//b.js"),
    *(".env", ".github/workflows/ci.yml", "go.mod", "cmd/go.mod", "x/.go.mod", "go.mod/", "package.json", "web/package.json"),
    *("x.tar.gz", "x.ts", "x.tsx", "y.mjs", "z.cjs", "py", "go", "src/go", "mod", "x.PY", "x.py.bak", "x.ts.tsx"),
    *("", "\n", "a\nb", "src/app.py\n../x", "src/app.py\nsrc/b.py", "src/b.py\n", "\nsrc/b.py", "\n\n", "a\r", "a\rb.py"),
    *("ünï/x.py", "src/é.py", "src/app\u2028.py", "a b.py", "a\\b.py", "a\tb", "\x00", "src/\udcff.py", "ｓｒｃ/x.py"),
    *("./src/health.py", "src/Health_Check.py", "lib/svc/HEALTHZ.go", "app/x/health", "a/health.py.bak", "x.health.py"),
    *("tests/test_health.py", "docs/x.md", "test/a/b/health.py", "src/a/b/c/healthz.go", "internal/pay/healthz.go", "Health.py"),
)


def test_is_safe_path_is_the_reference() -> None:
    for path in ODD + SAFE:
        assert is_safe_path(path) == reference_is_safe_path(path), path
        assert all_safe_paths((path,)) == reference_is_safe_path(path), path


@pytest.mark.parametrize("where", ["first", "middle", "last", "alone", "twice"])
def test_file_facts_is_the_reference_wherever_an_odd_path_stands(where: str) -> None:
    safe = [f"src/m{i}/{name}" for i, name in enumerate(["a.py", "health_1.py", "b.go", "c.ts", "d.py"] * 4)]
    for odd in ODD:
        listed = {
            "first": [odd, *safe],
            "middle": [*safe[:10], odd, *safe[10:]],
            "last": [*safe, odd],
            "alone": [odd],
            "twice": [odd, *safe, odd],
        }[where]
        paths = tuple(listed)
        assert all_safe_paths(paths) == all(map(reference_is_safe_path, paths)), odd
        assert file_facts.__wrapped__(paths) == reference_file_facts(paths), odd


def test_file_facts_is_the_reference_on_random_mixtures() -> None:
    pool = ODD + SAFE
    for seed in range(300):
        rng = random.Random(seed)
        paths = tuple(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        assert all_safe_paths(paths) == all(map(reference_is_safe_path, paths)), paths
        assert file_facts.__wrapped__(paths) == reference_file_facts(paths), paths


def test_file_facts_counts_languages_and_folders_exactly() -> None:
    """Close counts and ties decide the language and the source folder: every file must be counted exactly once."""
    listed = ("a/x.ts", "a/y.tsx", "b/z.py", "b/.py", "b/..py", "c/w.py/", "go.mod", "d/go.mod", "top.go", "e/f.mjs")
    facts = file_facts.__wrapped__(listed)
    assert facts == reference_file_facts(listed)
    # go 3 (go.mod twice, top.go), node 3, python 2 (`.py` and `..py` have no suffix): the tie goes to the first name.
    assert (facts.language, facts.source_dir, facts.go_mod) == ("go", "b", "go.mod")


def test_a_path_holding_a_newline_is_not_read_as_two_safe_paths() -> None:
    paths = ("src/app.py", "src/b.py\nsrc/c.py", "src/d.py")
    assert not all_safe_paths(paths)
    assert file_facts.__wrapped__(paths).files == ("src/app.py", "src/d.py")


# ---------------------------------------------------------------- task_files


class _Renamed(dict[str, Any]):
    """A mapping whose ``get`` answers differently from ``dict.get``: read through its own method."""

    def get(self, key: str, default: Any = None) -> Any:
        return ["renamed.py"] if key == "files_created" else default


class _Paths(list[Any]):
    pass


class _Text(str):
    pass


TASK_SHAPES: list[list[Any]] = [
    [],
    [{"files_created": ["a.py"], "files_modified": ["b.py", "c.py"]}, {"files_created": [], "files_modified": ["d.py"]}],
    [{"files_created": ["a.py"]}, {"files_modified": ["b.py"]}, {}],
    [{"files_created": None, "files_modified": ["b.py"]}],
    [{"files_created": "one.py", "files_modified": ["b.py"]}],
    [{"files_created": ["a.py", 3, None, {"x": 1}, ["n.py"], "z.py"], "files_modified": [True]}],
    [{"files_created": 7, "files_modified": {"a.py": 1}}],
    [{"files_created": ["a.py"]}, "not a task", None, ["x.py"], {"files_modified": ["b.py"]}],
    [_Renamed(files_created=["own.py"], files_modified=["m.py"]), {"files_created": ["a.py"]}],
    [{"files_created": _Paths(["sub.py"]), "files_modified": ["b.py"]}],
    [{"files_created": [_Text("t.py"), "u.py"], "files_modified": _Text("v.py")}],
    [{"files_created": ["a.py"], "files_modified": ()}],
    [{"files_created": ["a.py"], "files_modified": ""}],
]


@pytest.mark.parametrize("tasks", TASK_SHAPES)
def test_task_files_is_the_reference(tasks: list[Any]) -> None:
    found = task_files(tasks)
    assert found == reference_task_files(tasks)
    assert [type(f) for f in found] == [type(f) for f in reference_task_files(tasks)]


# ---------------------------------------------------------------- depth and strict JSON


@pytest.mark.parametrize("curly", [0, 1, 40, 60, 99, 100, 101, 150])
@pytest.mark.parametrize("square", [0, 1, 40, 41, 60, 61, 100, 101])
def test_few_brackets_is_the_count(curly: int, square: int) -> None:
    pieces = ["{"] * curly + ["["] * square + ["x", "]", "}", '"é"'] * 30
    random.Random(curly * 1000 + square).shuffle(pieces)
    text = "".join(pieces)
    assert _few_brackets(text) == (text.count("{") + text.count("[") <= MAX_DEPTH)


def _nested(depth: int, leaf: str = "1") -> str:
    """JSON nesting ``depth`` levels, alternating objects and arrays, beside enough siblings that the text holds
    more than ``MAX_DEPTH`` brackets (so the walk runs, not the shortcut)."""
    text = leaf
    for level in range(depth):
        text = f'{{"k{level}": {text}}}' if level % 2 else f"[{text}]"
    return f'{{"wide": [{", ".join(["{}"] * (MAX_DEPTH + 5))}], "deep": {text}}}'


@pytest.mark.parametrize("depth", [1, 2, MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 3 * MAX_DEPTH])
def test_depth_is_refused_past_the_limit_exactly(depth: int) -> None:
    text = _nested(depth)  # the outer object adds one level
    if depth + 1 <= MAX_DEPTH:
        assert parse_json(text, Path("x.json")) == json.loads(text)
    else:
        with pytest.raises(InputError, match=f"nests too deeply \\(more than {MAX_DEPTH} levels\\)"):
            parse_json(text, Path("x.json"))


@pytest.mark.parametrize("deep", [[], {}])
def test_check_depth_counts_lists_and_objects_alike(deep: Any) -> None:
    data: Any = deep
    for level in range(MAX_DEPTH):
        data = {"k": data} if level % 2 else [data]
    with pytest.raises(InputError, match="nests too deeply"):
        check_depth(data, Path("x.json"), "[" * (MAX_DEPTH + 1))
    check_depth(data, Path("x.json"), "[" * MAX_DEPTH)  # the text proves it shallow; the data is not read


@pytest.mark.parametrize("depth", [0, 1, 5, 40, MAX_DEPTH - 2])
@pytest.mark.parametrize("place", ["first", "last"])
def test_a_duplicate_key_at_any_depth_is_refused_by_name(depth: int, place: str) -> None:
    duplicate = '{"a": 1, "dup\\"é": 2, "b": 3, "dup\\"é": 4}'
    text = _nested(depth, duplicate)
    if place == "last":
        text = text[:-1] + f', "tail": {duplicate}}}'
    with pytest.raises(InputError, match=re.escape('duplicate key "dup\\"\\u00e9"')):
        parse_json(text, Path("x.json"))


@pytest.mark.parametrize("depth", [0, 3, MAX_DEPTH - 2])
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_at_any_depth_is_refused_naming_the_field(depth: int, token: str) -> None:
    text = _nested(depth, f'{{"ok": "NaN [{{", "bad": {token}}}')
    with pytest.raises(InputError, match=f"{token} is not a number JSON allows") as caught:
        parse_json(text, Path("x.json"))
    assert caught.value.field is not None and caught.value.field.startswith("deep") and caught.value.field.endswith(".bad")


# ---------------------------------------------------------------- YAML documents without aliases or merge keys


def reference_parse_yaml(text: str, yaml12_bools: bool = False) -> Any:
    """The YAML read before the fast path: compose, walk every node (expansion and duplicate keys), then build."""
    import yaml

    from agent import documents

    loader = (documents._Yaml12BoolLoader if yaml12_bools else documents._StrictLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        documents._check_nodes(node, Path("m.yaml"))
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = err.problem or err.context or "invalid YAML"
        raise InputError(Path("m.yaml"), f"invalid YAML: {problem}", line=line, column=column) from None
    finally:
        loader.dispose()


def _outcome(parse: Any, text: str) -> Any:
    try:
        return ("value", parse(text))
    except InputError as err:
        return ("refused", str(err))
    except Exception as err:  # the same YAML error type and message either way
        return ("error", type(err).__name__, str(err))


YAML_DOCUMENTS = [
    "from: quality\nsubject: a\n",
    "from: quality\nsubject: a\nfrom: devops\n",
    "a: {b: 1, c: {d: 2, d: 3}}\n",
    "a:\n  - {x: 1}\n  - {x: 1, y: 2, x: 3}\n",
    "? [a, b]\n: pair\n",
    "? {k: 1}\n: v\n? {k: 1}\n: w\n",
    "a:\nb:\na:\n",
    "'a': 1\n\"a\": 2\n",
    "a: 1\n'a': 2\n",
    "1: one\n'1': two\n",
    "null: x\n~: y\n",
    "{a: 1, b: [1, 2, {c: 3, c: 4}]}",
    "- a\n- b: 1\n  b: 2\n",
    "[[[[]]]]",
    "",
    "# only a comment\n",
    "key: value with ! in it\n",
    "key: a*b\n",
    "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n",
    "other:\n  <<: {x: 1, x: 2}\n  y: 2\n",
    "other:\n  <<: {x: 1}\n  x: 2\n",
    "a: !!str 1\na: 2\n",
    "a: &x 1\nb: *x\nb: 2\n",
    "content: {text: fyi, refs: [a, b]}\nsubject: note\n",
    "on: push\n'on': pull_request\n",
    "yes: 1\ntrue: 2\n",
    "jobs: {a: {steps: [{run: x}, {run: y, run: z}]}}\n",
]


@pytest.mark.parametrize("text", YAML_DOCUMENTS)
@pytest.mark.parametrize("yaml12_bools", [False, True])
def test_yaml_without_aliases_or_merges_reads_as_the_full_walk_reads_it(text: str, yaml12_bools: bool) -> None:
    from agent.documents import parse_yaml

    fast = _outcome(lambda t: parse_yaml(t, Path("m.yaml"), yaml12_bools=yaml12_bools), text)
    assert fast == _outcome(lambda t: reference_parse_yaml(t, yaml12_bools), text)


def test_the_yaml_fast_path_is_taken_only_where_no_alias_or_merge_can_be() -> None:
    from agent.documents import _plain_tree

    plain = [t for t in YAML_DOCUMENTS if _plain_tree(t)]
    assert len(plain) >= 15 and not any(c in t for t in plain for c in ("*", "<<", "!"))
    assert not _plain_tree("a: 1\n" * 5_000) and _plain_tree("a: 1\n" * 4_000)
    assert not _plain_tree("x: !<tag:yaml.org,2002:m%65rge> {a: 1}\n")  # a merge key spelled without "merge"


# ---------------------------------------------------------------- the decision log's escape filter


def _spelled(text: str) -> list[bytes]:
    """``text`` as a line another writer may write it: raw UTF-8, and every character as a JSON escape."""
    return [text.encode(), "".join(f"\\u{ord(ch):04x}" for ch in text).encode()]


@pytest.mark.parametrize(
    "characters",
    [
        [chr(c) for c in range(0x20, 0x7F)],  # ASCII, escaped (a serializer that escapes '-', '<', '&')
        [chr(c) for c in range(0xA0, 0x100)],  # Latin-1: a no-break or soft hyphen, accented letters
        [chr(c) for c in range(0x391, 0x3CA)] + [chr(c) for c in range(0x400, 0x460)],  # Greek and Cyrillic look-alikes
        [chr(c) for c in range(0xFF01, 0xFF5F)],  # full-width forms
        ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2010", "\u2011", "\u202a", "\u202e", "\u2060", "\u2066", "\u2069"],
        ["\ufeff", "\u212a"],  # the BOM, the Kelvin sign
    ],
)
def test_every_character_that_could_spell_an_id_or_a_name_sends_its_line_to_be_read(characters: list[str]) -> None:
    from agent.decision_log import _COULD_SPELL

    for ch in characters:
        for form in _spelled(ch):
            if not form.isascii() or form.startswith(b"\\u"):  # a raw ASCII character needs no filter: the needles find it
                assert _COULD_SPELL.search(b'{"agent":"q' + form + b'ality"}'), (ch, form)


@pytest.mark.parametrize("text", ["ok \u2014 ship it", "it\u2019s \u201cfine\u201d\u2026", "\U0001f680 \u2192 prod", "\u2022 item"])
def test_text_that_cannot_spell_an_id_or_a_name_does_not(text: str) -> None:
    """An em dash, curly quotes, arrows, emoji: what Python's json.dumps escapes in ordinary English text, on every line
    of a log another agent writes; such lines stay a byte search, not a parse each."""
    from agent.decision_log import _COULD_SPELL

    for form in (text.encode(), json.dumps({"reason": text}).encode()):
        assert not _COULD_SPELL.search(form), form


@pytest.mark.parametrize(
    ("line", "found"),
    [
        (b'{"agent":"quality","epic_id":"EP-001"', True),
        (b'{"agent":"QUALITY","epic_id":"ep-001"', True),
        (b'{"agent":"\\u0071uality","epic_id":"EP\\u002d001"', True),  # escaped
        ('{"agent":"qu\u0430lity","epic_id":"\uff25\uff30-001"'.encode(), True),  # a Cyrillic a, full-width letters
        (b'{"agent":"qu\\ud835\\udc1ality","epic_id":"EP-001"', True),  # a surrogate pair: one character in place of one
        ('{"agent":"qual\u200bity","epic_id":"EP-001"'.encode(), True),  # a zero-width space, dropped
        (b'{"agent":"quality","epic_id":"EP-0010"', False),  # another epic
        (b'{"agent":"quality","epic_id":"XEP-001"', False),
        (b'{"details":{"code_quality":"ok"},"epic_id":"EP-001"', False),  # not the word quality
        (b'{"agent":"qualities","epic_id":"EP-001"', False),
    ],
)
def test_mentions_reads_words_as_a_person_does(line: bytes, found: bool) -> None:
    from agent.decision_log import mentions

    assert mentions(line, "quality", "ep-001") is found
