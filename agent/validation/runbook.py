"""Policy rules for runbook.md: a title, the required sections, rollback commands, alerts documented, and nothing in it
that a reader could be harmed by: raw HTML, links to `javascript:` and the like, code that runs what it downloads."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from agent.errors import hidden
from agent.names import namespace_for
from agent.validation.cicd_security import downloads_run, piped_download
from agent.validation.violations import Violation, as_list, dig, rule

A = "runbook.md"
SECTIONS = {
    "overview": ("overview", "summary", "about", "description", "introduction", "service"),
    "monitoring": ("monitoring", "observability", "dashboard", "alerts", "metrics"),
    "common issues": ("common issues", "troubleshooting", "known issues", "failure modes", "issues", "incidents"),
    "rollback procedure": ("rollback", "roll back", "rolling back", "revert"),
    "contacts": ("contacts", "contact", "escalation", "on-call", "on call", "owners", "ownership"),
}
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


class Section(NamedTuple):
    level: int
    title: str
    body: str


def sections(text: str) -> list[Section]:
    """Headings outside fenced code, each with the text up to the next heading of its level or above."""
    found: list[tuple[int, str, int]] = []
    lines = text.splitlines()
    fenced = False
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(line)):
            found.append((len(m.group(1)), m.group(2), number))
    result = []
    for i, (level, title, start) in enumerate(found):
        end = next((n for lv, _, n in found[i + 1 :] if lv <= level), len(lines))
        result.append(Section(level, title, "\n".join(lines[start + 1 : end])))
    return result


def _find(parts: list[Section], synonyms: tuple[str, ...]) -> Section | None:
    """The section a synonym names: a `## ` heading first; deeper ones only outside the alert sections of "Common Issues"
    (an alert named `RollbackCoordinatorDown` is not the rollback procedure)."""
    matches = [s for s in _outside_issues(parts) if s.level >= 2 and any(w in s.title.lower() for w in synonyms)]
    return min(matches, key=lambda s: s.level, default=None)


def _outside_issues(parts: list[Section]) -> Iterator[Section]:
    issues = False
    for s in parts:
        if s.level <= 2:
            issues = s.level == 2 and any(w in s.title.lower() for w in SECTIONS["common issues"])
            yield s
        elif not issues:
            yield s


@rule("runbook.title", A, "the runbook starts with a `# ` title")
def title(text: str, parts: list[Section]) -> Iterator[Violation]:
    if not parts or parts[0].level != 1:
        yield Violation(A, "$", "runbook.title", "no `# Runbook: <service>` title at the top")


@rule(
    "runbook.sections",
    A,
    "sections for overview, monitoring, common issues, rollback procedure and contacts/escalation (synonyms allowed)",
)
def required_sections(text: str, parts: list[Section]) -> Iterator[Violation]:
    for name, synonyms in SECTIONS.items():
        if not _find(parts, synonyms):
            yield Violation(A, "$", "runbook.sections", f"no {name} section (a `## ` heading with one of: {', '.join(synonyms)})")


@rule("runbook.rollback_commands", A, "the rollback section holds a fenced command block")
def rollback_commands(text: str, parts: list[Section]) -> Iterator[Violation]:
    section = _find(parts, SECTIONS["rollback procedure"])
    if section and not any(_FENCE.match(line) for line in section.body.splitlines()):
        yield Violation(A, f"$.{section.title}", "runbook.rollback_commands", "the rollback section has no ``` command block")


@rule("runbook.alerts_documented", A, "every alert named in deployment.json appears in the runbook")
def alerts_documented(text: str, deployment: Any) -> Iterator[Violation]:
    for alert in as_list(dig(deployment, "monitoring", "alerts")):
        name = alert.get("name") if isinstance(alert, dict) else None
        if isinstance(name, str) and name and name not in text:
            yield Violation(
                A,
                "$",
                "runbook.alerts_documented",
                f"alert {name!r} from deployment.json is not mentioned; say what to do when it fires",
            )


@rule(
    "runbook.alert_sections",
    A,
    "each alert of deployment.json has its own `### <AlertName>` section (the alert rules' runbook_url points at its anchor)",
)
def alert_sections(parts: list[Section], deployment: Any) -> Iterator[Violation]:
    titles = {s.title.strip() for s in parts if s.level == 3}
    for alert in as_list(dig(deployment, "monitoring", "alerts")):
        name = alert.get("name") if isinstance(alert, dict) else None
        if isinstance(name, str) and name and name in text_of(parts) and name not in titles:
            yield Violation(A, "$", "runbook.alert_sections", f"no `### {name}` section: the alert's runbook link would land nowhere")


def text_of(parts: list[Section]) -> str:
    return "\n".join(f"{s.title}\n{s.body}" for s in parts)


_SHELL_FENCE = re.compile(r"^\s*(?:```|~~~)\s*(?:bash|sh|shell|console|zsh)?\s*$")
_PLACEHOLDER = re.compile(r"<[A-Za-z][\w .:/-]*>")


def command_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every fenced block that holds shell commands (untagged or bash/sh/shell/console)."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] | None = None
    shell = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            if current is None:
                current, shell = [], bool(_SHELL_FENCE.match(line))
                start = number + 1
            else:
                if shell:
                    blocks.append((start, current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


@rule("runbook.placeholders", A, "no `<placeholder>` inside a command block: define shell variables at the top (`NAMESPACE=…`) instead")
def placeholders(text: str) -> Iterator[Violation]:
    for start, lines in command_blocks(text):
        for offset, line in enumerate(lines):
            code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
            if match := _PLACEHOLDER.search(code):
                yield Violation(
                    A,
                    f"line {start + offset}",
                    "runbook.placeholders",
                    f"{match.group(0)} does not paste and run (the shell reads `<` as a redirection); use a variable set at the top",
                )


_ARGO = re.compile(r"kubectl[- ]argo[- ]rollouts\s+(?:\S+\s+)*?(?:abort|undo)\b")
_DEPLOYMENT_UNDO = re.compile(r"kubectl\s+(?:\S+\s+)*?rollout\s+undo\b")


@rule(
    "runbook.engine_commands",
    A,
    "the rollback commands drive the plan's engine: `kubectl argo rollouts abort/undo` for canary and blue/green, "
    "`kubectl rollout undo` for rolling",
)
def engine_commands(text: str, parts: list[Section], deployment: Any) -> Iterator[Violation]:
    strategy = dig(deployment, "deployment_strategy", "type")
    section = _find(parts, SECTIONS["rollback procedure"])
    if section is None or strategy not in {"canary", "blue_green", "rolling"}:
        return
    commands = "\n".join(line for _, lines in command_blocks(section.body + "\n") for line in lines)
    path = f"$.{section.title}"
    if not commands.strip():
        return  # runbook.rollback_commands already says the section has no commands
    if strategy == "rolling":
        if not _DEPLOYMENT_UNDO.search(commands):
            message = "a rolling plan runs a Deployment: roll back with `kubectl rollout undo deployment/…`"
            yield Violation(A, path, "runbook.engine_commands", message)
        return
    if _DEPLOYMENT_UNDO.search(commands):
        yield Violation(
            A, path, "runbook.engine_commands", f"a {strategy} plan runs an Argo Rollout: `kubectl rollout undo` does not roll it back"
        )
    if not _ARGO.search(commands):
        yield Violation(A, path, "runbook.engine_commands", "no `kubectl argo rollouts abort` / `undo` for the plan's Argo Rollout")


_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?(NAMESPACE|APP)=[\"']?([^\s\"';]+)[\"']?\s*$")


@rule(
    "runbook.plan_names",
    A,
    "the runbook's `NAMESPACE=` is where the plan deploys: infrastructure.namespace, else the app (`APP=`)",
)
def plan_names(text: str, deployment: Any) -> Iterator[Violation]:
    values: dict[str, tuple[int, str]] = {}
    for start, lines in command_blocks(text):
        for offset, line in enumerate(lines):
            if (m := _ASSIGNMENT.match(line)) and m.group(1) not in values:
                values[m.group(1)] = (start + offset, m.group(2))
    planned = dig(deployment, "infrastructure", "namespace")
    app = values.get("APP", (0, ""))[1]
    want = planned if isinstance(planned, str) and planned else (namespace_for(app) if app else "")
    number, got = values.get("NAMESPACE", (0, ""))
    if got and want and got != want:
        yield Violation(A, f"line {number}", "runbook.plan_names", f"NAMESPACE={got}, but the plan deploys into namespace {want!r}")


# ---- what a Markdown viewer would render: raw HTML, links, code ---------------------------------------------------
#
# The reading errs one way only: text is taken for code (where HTML and links are inert) only where every CommonMark
# renderer agrees it is. A fence is code when it opens at column 0 before any fence-like line in a list, a quote or
# indented (whose extent depends on the container, so from there on nothing is taken for a fenced block); a code span
# is code when its line pairs every backtick run itself, holds nothing whose parsing could take a backtick first (a link
# target but a plain one closed on the line, a definition, a URL, a table cell's `|`), and no earlier line of its
# paragraph did (a table row, read alone, aside). Anything else is prose.
# Looking for commands that run downloads errs the other way: every fence, span or indented line counts as code.

_LINE_END = re.compile(r"\r\n|\r|\n")  # CommonMark's line endings only (str.splitlines breaks at U+2028 and others too)
_OPENER = re.compile(r"(`{3,})[^`]*|(~{3,}).*")
_FENCE_LIKE = re.compile(r"\ufeff?[ \t>]*+(?:(?:[-+*]|\d{1,9}[.)])[ \t][ \t>]*+)*+(?:`{3}|~{3})")
_CONTAINER = re.compile(r"^[ \t]*(?:>[ \t]?)*")
_ESCAPE = re.compile(r"\\[!-/:-@\[-`{-~]")
_SIMPLE_LINK = re.compile(r"\]\([^\s()<>`\"'\\]*\)")  # a target closed on its line, with no backtick or title to take one
# What may take a backtick from a code span's pairing: a link's target or title (which may run on to the next line), a
# definition, a bare URL running into a backtick (GitHub links those first); a table row splits at `|` (read alone).
_UNSURE_AFTER = re.compile(r"\]\(|\]:|(?:://|www\.)[^\s<]*`")
_UNSURE_LINE = re.compile(r"\|")
_TAG = re.compile(r"<(?:[A-Za-z]|/[A-Za-z]|!|\?)")
_SPECIAL = re.compile(r"[\\`<]")
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\x00-\x20<>]*)>")
_EMAIL = re.compile(r"<[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*>", re.A)
_LINK = re.compile(r"\]\(\s*<?([^\s<>)]*)")
_DEFINITION = re.compile(r"^[ \t>]*+(?:(?:[-+*]|\d{1,9}[.)])[ \t][ \t>]*+)*+\[[^\]]+\]:[ \t]*\n?[ \t>]*<?([^\s<>]*)", re.M)
_SCHEMES = {"http", "https", "mailto", "tel"}
_PUNCTUATION = frozenset(string.punctuation)


class _Line(NamedTuple):
    number: int
    text: str
    kind: str  # "prose", "code" (inside a fence), "fence" (a fence's own line)
    loose: bool  # after a fence-like line that was not taken for one


def _lines(text: str) -> list[_Line]:
    found: list[_Line] = []
    fence: tuple[str, int] | None = None
    loose = False
    for number, line in enumerate(_LINE_END.split(text), start=1):
        if fence is not None:
            closing = re.fullmatch(rf" {{0,3}}{re.escape(fence[0])}{{{fence[1]},}}[ \t]*", line)
            found.append(_Line(number, line, "fence" if closing else "code", loose))
            fence = None if closing else fence
        elif not loose and (opener := _OPENER.fullmatch(line)):
            run = opener.group(1) or opener.group(2)
            fence = (run[0], len(run))
            found.append(_Line(number, line, "fence", loose))
        else:
            loose = loose or _FENCE_LIKE.match(line) is not None
            found.append(_Line(number, line, "prose", loose))
    return found


class _Inline(NamedTuple):
    spans: list[tuple[int, int]]  # code spans: (start, end) of each, backticks included
    tags: list[tuple[int, str]]  # raw HTML outside them: column, text
    links: list[str]  # autolinks' targets
    open_run: bool  # a backtick run with no closing run on the line


def _inline(line: str, spans: bool = True) -> _Inline:
    """One line read left to right as CommonMark does: escapes, code spans (when ``spans``), autolinks, HTML."""
    found = _Inline([], [], [], False)
    i = 0
    while (special := _SPECIAL.search(line, i)) is not None:  # nothing but these three can start anything
        i, char = special.start(), special.group()
        if char == "\\" and line[i + 1 : i + 2] in _PUNCTUATION:
            i += 2
        elif char == "`" and spans:
            run = len(line) - i - len(line[i:].lstrip("`"))
            close = re.compile(rf"(?<!`)`{{{run}}}(?!`)").search(line, i + run)
            if close is None:
                found = found._replace(open_run=True)
            else:
                found.spans.append((i, close.end()))
            i = close.end() if close else i + run
        elif char == "<" and (link := _AUTOLINK.match(line, i) or _EMAIL.match(line, i)):
            found.links.append(link.group(1) if link.re is _AUTOLINK else "mailto:")
            i = link.end()
        else:
            if char == "<" and _TAG.match(line, i):
                found.tags.append((i, line[i : i + 24].split(">")[0] + (">" if ">" in line[i : i + 24] else "")))
            i += 1
    return found


class _Prose(NamedTuple):
    tags: list[tuple[int, str, str]]  # line, tag, why a code span around it did not count
    links: list[tuple[int, str]]  # line, target


@lru_cache(maxsize=8)
def _prose(text: str) -> _Prose:
    """Raw HTML and link targets outside what is certainly code, with the line of each."""
    found = _Prose([], [])
    masked: list[str] = []
    unsure = False
    for line in _lines(text):
        if line.kind != "prose" or not line.text.strip():
            unsure = False  # a blank line or a fence ends the paragraph
            masked.append("")
            continue
        first = _inline(line.text)
        plain = _SIMPLE_LINK.sub("", _ESCAPE.sub("", line.text))  # an escaped character opens, closes and splits nothing
        carried = first.open_run or bool(first.tags) or _UNSURE_AFTER.search(plain) is not None
        risky = carried or _UNSURE_LINE.search(plain) is not None
        read = _inline(line.text, spans=False) if unsure or risky else first
        for column, tag in read.tags:
            found.tags.append((line.number, tag, _why_not_code(line, any(a < column < b for a, b in first.spans))))
        found.links.extend((line.number, target) for target in read.links)
        masked.append(_mask(line.text, [] if read is not first else first.spans))
        unsure = unsure or carried
    prose = "\n".join(masked)
    for pattern in (_LINK, _DEFINITION):
        found.links.extend((prose.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in pattern.finditer(prose))
    return _Prose(found.tags, sorted(set(found.links)))


def _mask(line: str, spans: list[tuple[int, int]]) -> str:
    for start, end in spans:
        line = line[:start] + " " * (end - start) + line[end:]
    return line


def _why_not_code(line: _Line, in_span: bool) -> str:
    if in_span:
        return "a code span is not trusted on a line with a link target, `|`, a URL or an unclosed backtick, or after one"
    if line.loose:
        return "after a fence in a list, a quote or indented, nothing is taken for a code block: put fences at column 0"
    return ""


def _scheme(target: str) -> str | None:
    """The scheme a browser would read in a link target (entities decoded, escapes and whitespace dropped), if not allowed."""
    if "&" in target:  # an entity (`&#58;` is `:`); html's entity table costs ~1 ms to import, so only then
        import html

        target = html.unescape(target)
    plain = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", target)
    found = re.match(r"([a-z][a-z0-9+.-]*):", re.sub(r"[\x00-\x20\x7f]+", "", plain).lower())
    return found.group(1) if found and found.group(1) not in _SCHEMES else None


@rule(
    "runbook.raw_html",
    A,
    "no raw HTML outside code (`<script`, `<img`, `<a `, `<!--`, `</x>`): a viewer would render or hide it",
)
def raw_html(text: str) -> Iterator[Violation]:
    lines: dict[int, list[tuple[str, str]]] = {}
    for number, tag, why in _prose(text).tags:
        lines.setdefault(number, []).append((tag, why))
    for number, tags in lines.items():
        why = next((w for _, w in tags if w), "")
        yield Violation(
            A,
            f"line {number}",
            "runbook.raw_html",
            f"{', '.join(f'`{t}`' for t, _ in tags)}: raw HTML, which a Markdown viewer renders (scripts, images, hidden text); "
            "write `&lt;` or put it in code" + (f" ({why})" if why else ""),
        )


@rule(
    "runbook.link_schemes",
    A,
    "links, images and autolinks lead to http, https, mailto, tel or a relative path (no `javascript:`, `data:`, `file:`…)",
)
def link_schemes(text: str) -> Iterator[Violation]:
    lines: dict[int, str] = {}
    for number, target in _prose(text).links:
        if (scheme := _scheme(target)) and number not in lines:
            lines[number] = f"a link to `{target[:60]}` ({scheme}:)"
    for number, link in lines.items():
        yield Violation(
            A,
            f"line {number}",
            "runbook.link_schemes",
            f"{link} runs or opens something other than a web page when clicked; link to http(s), mailto, tel or a path in the repository",
        )


def _code(text: str) -> list[tuple[int, str]]:
    """(first line, text) of everything a reader might paste as a command, taken generously: the body of every fence
    (at any indentation, in lists and quotes), every code span (on its line, and across its paragraph's lines) and every
    run of indented lines."""
    lines = _lines(text)
    pieces = _runs([(ln.number, ln.text) for ln in lines if ln.kind == "code"])
    inside = False
    loose: list[tuple[int, str]] = []
    paragraph: list[tuple[int, str]] = []
    indented: list[tuple[int, str]] = []
    for line in lines:
        fence = _FENCE_LIKE.match(line.text) is not None
        if inside and not fence:
            loose.append((line.number, _CONTAINER.sub("", line.text)))
        elif not fence and line.text.strip():
            paragraph.append((line.number, line.text))
            pieces += [(line.number, line.text[a:b].strip("`")) for a, b in _inline(line.text).spans]
            if re.match(r" {4}|\t", line.text):
                indented.append((line.number, line.text))
        inside = inside != fence
        if fence or not line.text.strip():
            pieces += _spans(paragraph)
            paragraph = []
    pieces += _spans(paragraph) + _runs(loose) + _runs(indented)
    # In document order (a download comes before what runs it), each text once.
    return sorted(dict.fromkeys(pieces), key=lambda piece: piece[0])


def _runs(numbered: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Consecutive numbered lines joined into one text each."""
    found: list[tuple[int, str]] = []
    for number, text in numbered:
        if found and found[-1][0] + found[-1][1].count("\n") + 1 == number:
            found[-1] = (found[-1][0], f"{found[-1][1]}\n{text}")
        else:
            found.append((number, text))
    return found


def _spans(paragraph: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The code spans of a paragraph's lines read together (a span may cross a line break)."""
    if not paragraph:
        return []
    joined = "\n".join(text for _, text in paragraph)
    spans = _inline(joined).spans
    return [(paragraph[0][0] + joined.count("\n", 0, a), joined[a:b].strip("`")) for a, b in spans]


@rule(
    "runbook.remote_code",
    A,
    "no command in a code block or inline code pipes a download into a shell or runs a downloaded file "
    "(the workflow's `cicd.pipe_to_shell` and `cicd.download_exec` checks)",
)
def remote_code(text: str) -> Iterator[Violation]:
    pieces = _code(text)
    found: dict[int, str] = {}
    for number, piece in pieces:
        if piped := piped_download(piece):
            found.setdefault(number + piped[0], f"`{piped[1][:60]}` pipes a download into a shell")
    for index, offset, what in downloads_run(piece for _, piece in pieces):
        found.setdefault(pieces[index][0] + offset, what)
    for number in sorted(found):
        yield Violation(
            A,
            f"line {number}",
            "runbook.remote_code",
            f"{found[number]}: whoever pastes it during an incident runs code nobody reviewed, with their cluster credentials; "
            "name the released tool or image to use instead",
        )


@rule(
    "runbook.invisible_text",
    A,
    "no character a reader cannot see (controls, zero-width, bidi and tag characters, non-breaking spaces): "
    "it would hide or reorder what a person reads and pastes",
)
def invisible_text(text: str) -> Iterator[Violation]:
    for number, line in enumerate(text.removesuffix("\n").split("\n"), start=1):
        found = sorted({ch for ch in line.removesuffix("\r") if hidden(ch)})
        if found:
            shown = ", ".join(f"U+{ord(ch):04X}" for ch in found)
            yield Violation(A, f"line {number}", "runbook.invisible_text", f"{shown}: invisible or reordering text; write plain text")


def check(text: str, deployment: Any = None) -> list[Violation]:
    parts = sections(text)
    found = [*title(text, parts), *required_sections(text, parts), *rollback_commands(text, parts), *placeholders(text)]
    found += [*raw_html(text), *link_schemes(text), *remote_code(text), *invisible_text(text)]
    if deployment is not None:
        found += [*alerts_documented(text, deployment), *alert_sections(parts, deployment), *engine_commands(text, parts, deployment)]
        found += plan_names(text, deployment)
    return found
