"""Security rules for the workflow that hold without any external linter: token scope, injection, secrets, pinning, checkout,
images, and what scripts download, run and send out (the runbook's code is held to the same download checks)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any, NamedTuple

from agent.names import word
from agent.rendering.pins import SHA, known
from agent.validation.actions import A, environment, expressions, jobs, scripts, steps
from agent.validation.actions import violation as _v
from agent.validation.violations import Violation, rule

UNTRUSTED_TRIGGERS = ("pull_request_target", "workflow_run")
_UNTRUSTED_REF = re.compile(
    r"github\.(?:event\.pull_request\.head|head_ref|event\.workflow_run\.head|event\.pull_request\.merge)|refs/pull/|"
    r"github\.event\.(?:pull_request|workflow_run)\.[\w.]*(?:sha|ref|repository|full_name)",
)
_SAFE_EVENT_FIELDS = {"number", "id", "sha", "size", "created_at", "updated_at", "merged", "draft", "action", "run_id", "run_number"}
_CONTEXT = re.compile(r"(?<![\w.-])([A-Za-z_][\w-]*)\s*(?=[.\[])")
_INTERPRETERS = r"(?:python3?|perl|ruby|node)"
_PIPE_TO_SHELL = re.compile(
    r"\b(?:curl|wget)\b[^|;&\n]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+)?(?:xargs\b[^|;&\n]*)?(?:/\S*/)?(?:ba|z|da|k|fi)?sh\b"
    rf"|(?:\b(?:ba|z|da)?sh|\bsource|^\s*\.|;\s*\.|\b{_INTERPRETERS})\s+(?:-\S+\s+)*<\(\s*(?:curl|wget)\b"
    rf"|\b(?:(?:ba|z|da)?sh\s+-c|eval|{_INTERPRETERS}\s+-[ceE])\s+[\"']?\$\(\s*(?:curl|wget)\b",
    re.M,
)
_CONTAINER_RUN = re.compile(r"\b(?:docker|podman|nerdctl)\s+(?:container\s+)?(?:run|create|pull)\b")
_SENDS_OUTPUT = re.compile(r"\b(?:curl|wget)\b[^\n|;&]*?(?:\$\(|`)")
"""A download tool given a command's output (`--data "$(cat …)"`, a header or URL with `$(…)`): a file read and sent."""
_REMOTE_MANIFEST = re.compile(
    r"\bkubectl\b[^|;&\n]*\b(?:apply|create|replace)\b[^|;&\n]*\s(?:-f|--filename|-k|--kustomize)[= ]\s*[\"']?https?://"
)
"""A manifest applied straight from a URL: it runs whatever it names, with the cluster's credentials."""
# Contexts GitHub evaluates before a job runs: what each `env` level may read.
JOB_ENV_CONTEXTS = {"github", "needs", "strategy", "matrix", "vars", "secrets", "inputs"}
WORKFLOW_ENV_CONTEXTS = {"github", "secrets", "inputs", "vars"}
_KNOWN_CONTEXTS = {"github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix", "needs", "inputs"}


_WRITES = {
    "packages": "publish and delete the repository's packages",
    "contents": "push commits, tags and releases to the repository",
    "actions": "cancel, re-run and delete workflow runs and caches",
    "id-token": "mint OIDC tokens that cloud accounts trust",
    "pull-requests": "approve, edit and merge pull requests",
}


@rule("cicd.permissions", A, "a top-level `permissions` block, and no `write-all` anywhere")
def permissions(doc: dict[str, Any]) -> Iterator[Violation]:
    if "permissions" not in doc:
        yield _v("$.permissions", "cicd.permissions", "no top-level `permissions`: the token gets the repository default (often write)")
    blocks = [("$.permissions", doc.get("permissions"))] + [(f"$.jobs.{n}.permissions", j.get("permissions")) for n, j in jobs(doc).items()]
    for path, value in blocks:
        if isinstance(value, str) and value.strip().lower() == "write-all":
            yield _v(path, "cicd.permissions", "`write-all` gives the token every write scope; grant the scopes a job needs")


_PUSHES = ("docker/build-push-action@", "docker/login-action@")


@rule(
    "cicd.write_permissions",
    A,
    "no scope is granted `write` but `packages`, and that only in a job that pushes an image (docker/login-action, "
    "docker/build-push-action)",
)
def write_permissions(doc: dict[str, Any]) -> Iterator[Violation]:
    blocks = [("$.permissions", doc.get("permissions"), False)]
    blocks += [(f"$.jobs.{n}.permissions", j.get("permissions"), _pushes(j)) for n, j in jobs(doc).items()]
    for path, value, pushes in blocks:
        for scope, level in value.items() if isinstance(value, dict) else ():
            if word(level) != "write" or (pushes and word(scope) == "packages"):
                continue
            yield _v(
                f"{path}.{scope}",
                "cicd.write_permissions",
                f"`{scope}: write` lets every step here {_WRITES.get(str(scope), f'write {scope}')}; the workflow needs no write "
                "scope but `packages`, in the job that pushes the image: grant `read` or leave the scope out",
            )


def _pushes(job: dict[str, Any]) -> bool:
    return any((word(step.get("uses")) or "").startswith(_PUSHES) for _, step in steps(job))


@rule(
    "cicd.container_images",
    A,
    "no `docker://` step, job `container`, `services` or `docker run`/`pull` in a script: an image no pin table vets would "
    "run with the job's token and secrets",
)
def container_images(doc: dict[str, Any]) -> Iterator[Violation]:
    why = "no pin table vets it, and it runs with the job's token and secrets; the rendered workflow needs none"
    for name, job in jobs(doc).items():
        for key in ("container", "services"):
            if job.get(key) not in (None, "", {}, []):
                yield _v(f"$.jobs.{name}.{key}", "cicd.container_images", f"`{key}` runs an image: {why}; use the runner's tools")
        for i, step in steps(job):
            uses = step.get("uses")
            if isinstance(uses, str) and uses.strip().lower().startswith("docker://"):
                yield _v(
                    f"$.jobs.{name}.steps[{i}].uses",
                    "cicd.container_images",
                    f"{uses.strip()!r} runs an image even when pinned by digest: {why}; use an action from the vetted table",
                )
        for where, script in scripts(job):
            if found := _CONTAINER_RUN.search(script):
                yield _v(f"$.jobs.{name}.steps{where}", "cicd.container_images", f"`{found.group(0)}` runs an image: {why}")


@rule(
    "cicd.untrusted_checkout",
    A,
    "a `pull_request_target`/`workflow_run` workflow never checks out the pull request's code (it would run with secrets)",
)
def untrusted_checkout(doc: dict[str, Any]) -> Iterator[Violation]:
    on = doc.get("on")
    triggers = [on] if isinstance(on, str) else list(on) if isinstance(on, dict | list) else []
    risky = [t for t in triggers if t in UNTRUSTED_TRIGGERS]
    if not risky:
        return
    for name, job in jobs(doc).items():
        for i, step in steps(job):
            uses = str(step.get("uses", "")).lower()
            given = _with(step)
            ref = " ".join(str(given.get(k, "")) for k in ("ref", "repository"))
            if uses.startswith("actions/checkout@") and _UNTRUSTED_REF.search(ref):
                yield _v(
                    f"$.jobs.{name}.steps[{i}].with",
                    "cicd.untrusted_checkout",
                    f"checks out untrusted code ({ref.strip()}) in a `{risky[0]}` workflow, which has the base repository's secrets",
                )


@rule("cicd.untrusted_context", A, "no attacker-controlled context (`github.event.*` text, `github.head_ref`) is expanded inside `run:`")
def untrusted_context(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        for where, script in scripts(job):
            for expr in expressions(script):
                if (found := _untrusted(expr)) is not None:
                    yield _v(
                        f"$.jobs.{name}.steps{where}",
                        "cicd.untrusted_context",
                        f"`{found}` is expanded into the script before it runs (script injection); pass it through `env:` and quote it",
                    )


def _untrusted(expr: str) -> str | None:
    normal = re.sub(r"\[\s*['\"]([\w-]+)['\"]\s*\]", r".\1", expr)
    for match in re.finditer(r"github\.(?:head_ref|event(?:\.[\w*-]+)+)", normal):
        field = match.group(0)
        if field == "github.head_ref" or field.rsplit(".", 1)[-1] not in _SAFE_EVENT_FIELDS:
            return field
    return None


@rule(
    "cicd.pipe_to_shell",
    A,
    "no script pipes a download into a shell or interpreter (curl piped into bash, `python3 <(curl …)`) or applies a manifest "
    "from a URL (`kubectl apply -f https://…`)",
)
def pipe_to_shell(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        for where, script in scripts(job):
            if found := piped_download(script):
                yield _v(
                    f"$.jobs.{name}.steps{where}",
                    "cicd.pipe_to_shell",
                    f"runs downloaded code unseen ({found[1][:60]}…); nothing may be fetched and run: vendor it or use a vetted action",
                )


def piped_download(script: str) -> tuple[int, str] | None:
    """(line, text) of the first download piped into a shell or interpreter (`curl … | bash`, `bash <(curl …)`), if any."""
    # Every form names curl or wget, or a URL after kubectl: a script without them cannot match (the search is the
    # costly part).
    downloads, remote = "curl" in script or "wget" in script, "kubectl" in script and "://" in script
    if not (downloads or remote):
        return None
    joined = script.replace("\\\n", " ")
    match = (_PIPE_TO_SHELL.search(joined) if downloads else None) or (_REMOTE_MANIFEST.search(joined) if remote else None)
    if match is None:
        return _piped_into_interpreter(script) if downloads else None
    # Each joined continuation removed a line break: count those before the match back in to name its line.
    continued = sum(1 for k, m in enumerate(re.finditer(r"\\\n", script)) if m.start() - k < match.start())
    return joined[: match.start()].count("\n") + continued, match.group(0).strip()


def _piped_into_interpreter(script: str) -> tuple[int, str] | None:
    """(line, pipeline) where a download flows, through any stages (`| cat |`, `| base64 -d |`), into a shell or
    interpreter that reads its program from the pipe (`python3`, `python3 -E`; not `python3 -m json.tool` or `-c code`)."""
    found = commands(script)
    for start, command in enumerate(found):
        args = arguments(command.words)
        if not args or posixpath.basename(args[0]) not in ("curl", "wget"):
            continue
        end = start
        while found[end].piped and end + 1 < len(found):
            end += 1
            stage = arguments(found[end].words)
            if _interpreter(stage) and _script(stage, lambda _: False) is None:
                return command.line, " | ".join(" ".join(arguments(c.words)) for c in found[start : end + 1])
    return None


@rule(
    "cicd.download_exec",
    A,
    "no script runs a file it downloaded (curl `-o`/`-O`, wget, `>`; then executed, sourced, `chmod +x`ed or given to an interpreter)",
)
def download_exec(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        # One runner runs a job's steps one after another: a file one step downloads is there for the next.
        found = list(scripts(job))
        reported: set[int] = set()
        for index, _, what in downloads_run(script for _, script in found):
            if index not in reported:
                reported.add(index)
                yield _v(
                    f"$.jobs.{name}.steps{found[index][0]}",
                    "cicd.download_exec",
                    f"{what}: code nobody reviewed would run with the job's token and secrets; vendor it or use a vetted action",
                )


@rule(
    "cicd.file_upload",
    A,
    "no script sends a file out (curl `-d @…`, `--data-binary @…`, `-F x=@…`, `-T`; wget `--post-file`, `--body-file`), "
    "nor a command's output (a command substitution in a curl or wget command)",
)
def file_upload(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        for where, script in scripts(job):
            if "curl" not in script and "wget" not in script:
                continue  # only they upload here: the script is not read command by command
            sent = next((s for c in commands(script) if (s := _upload(arguments(c.words)))), None)
            sent = sent or (found.group(0)[-60:] if (found := _SENDS_OUTPUT.search(script.replace("\\\n", " "))) else None)
            if sent:
                yield _v(
                    f"$.jobs.{name}.steps{where}",
                    "cicd.file_upload",
                    f"`{sent}` sends a file's contents out (the kubeconfig or a token can be read this way); "
                    "a workflow step must not upload files",
                )


@rule(
    "cicd.secrets_scoped",
    A,
    "only jobs with an `environment` read secrets (other than `GITHUB_TOKEN`); never the workflow's `env`, which every job gets",
)
def secrets_scoped(doc: dict[str, Any]) -> Iterator[Violation]:
    if used := _secrets(doc.get("env")):
        yield _v("$.env", "cicd.secrets_scoped", f"the workflow's `env` reads secrets ({', '.join(used)}): every job gets them, "
                 "the test job and any job without an `environment` included; set them in the step that needs them")  # fmt: skip
    for name, job in jobs(doc).items():
        if environment(job) is not None:
            continue
        used = _secrets(job)
        if job.get("secrets") == "inherit":
            used.append("inherit")
        if used:
            yield _v(
                f"$.jobs.{name}",
                "cicd.secrets_scoped",
                f"reads secrets ({', '.join(used)}) without an `environment`: any branch's workflow run could read them",
            )


def _secrets(value: Any) -> list[str]:
    return sorted({m for e in expressions(value) for m in re.findall(r"secrets\s*(?:\.\s*|\[\s*['\"])([\w-]+)", e)} - {"GITHUB_TOKEN"})


@rule("cicd.context_availability", A, "`env` blocks use only contexts GitHub has there (no `runner` in a job's or the workflow's `env`)")
def context_availability(doc: dict[str, Any]) -> Iterator[Violation]:
    blocks = [("$.env", doc.get("env"), WORKFLOW_ENV_CONTEXTS)]
    blocks += [(f"$.jobs.{n}.env", j.get("env"), JOB_ENV_CONTEXTS) for n, j in jobs(doc).items()]
    for path, env, allowed in blocks:
        if not isinstance(env, dict):
            continue
        for key, value in env.items():
            for expr in expressions(value):
                bad = sorted({c for c in _CONTEXT.findall(re.sub(r"'[^']*'", "''", expr)) if c in _KNOWN_CONTEXTS - allowed})
                if bad:
                    yield _v(
                        f"{path}.{key}",
                        "cicd.context_availability",
                        f"context `{bad[0]}` does not exist here (allowed: {', '.join(sorted(allowed))}); "
                        "set it in a step's `env` or inside the script (e.g. `$RUNNER_TEMP`)",
                    )


@rule(
    "cicd.action_pinning",
    A,
    "every action is pinned to a full commit SHA that the project's vetted table (agent/rendering/action_pins.json) lists",
)
def action_pinning(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        refs = [(f"$.jobs.{name}.uses", job.get("uses"))]
        refs += [(f"$.jobs.{name}.steps[{i}].uses", s.get("uses")) for i, s in steps(job)]
        for path, uses in refs:
            if isinstance(uses, str) and (problem := _pin_problem(uses.strip())):
                yield _v(path, "cicd.action_pinning", problem)


def _pin_problem(uses: str) -> str | None:
    if uses.startswith("./"):
        return None
    if uses.startswith("docker://"):
        return None if "@sha256:" in uses else f"{uses!r} is a container image by tag; pin it by digest (@sha256:…)"
    action, _, ref = uses.partition("@")
    if not SHA.fullmatch(ref):
        return f"{uses!r} is not pinned to a commit SHA: a tag or branch can be moved to other code"
    owner_repo = "/".join(action.split("/")[:2])
    if known(owner_repo, ref) is None:
        return f"{uses!r}: this SHA is not in the vetted table (agent/rendering/action_pins.json); use a listed release"
    return None


@rule("cicd.checkout_credentials", A, "every `actions/checkout` sets `persist-credentials: false` (the token is not left on disk)")
def checkout_credentials(doc: dict[str, Any]) -> Iterator[Violation]:
    for name, job in jobs(doc).items():
        for i, step in steps(job):
            if str(step.get("uses", "")).lower().startswith("actions/checkout@"):
                given = _with(step)
                if given.get("persist-credentials") not in (False, "false"):
                    yield _v(
                        f"$.jobs.{name}.steps[{i}].with.persist-credentials",
                        "cicd.checkout_credentials",
                        "checkout leaves the token in .git/config for every later step; set `persist-credentials: false`",
                    )


def _with(step: dict[str, Any]) -> dict[str, Any]:
    given = step.get("with")
    return given if isinstance(given, dict) else {}


# ---- reading shell scripts: commands, downloads, what runs them --------------------------------------------------

_SHELL_TOKEN = re.compile(
    r"(?P<space>[ \t\r]+|\\\n)"
    r"|(?P<op>&&|\|\||;;|\|&|[|&;()`\n])"
    r"|(?P<redirect>\d*(?:&>>?|>>|>&|>\||<<<|<<-?|<&|<>|[<>]))"
    r"|(?P<word>(?:'[^']*'|\"(?:\\.|[^\"\\])*\"|\\.|[^\s|&;()<>`'\"\\])+)"
    r"|(?P<other>.)",
    re.S,
)
_QUOTED = re.compile(r"'([^']*)'|\"((?:\\.|[^\"\\])*)\"|\\(.)", re.S)
_ASSIGNMENT = re.compile(r"[A-Za-z_]\w*=.*", re.S)
# Words that run the command after them, with the options of each that take a value (`sudo -u root bash x`).
_SUDO = {"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T"}
_NO_VALUES: frozenset[str] = frozenset()
_PREFIXES: dict[str, frozenset[str] | set[str]] = {
    "sudo": _SUDO, "doas": _SUDO, "env": {"-u", "-C", "--unset", "--chdir"}, "nice": {"-n"}, "timeout": {"-s", "-k"},
    "stdbuf": {"-i", "-o", "-e"}, **dict.fromkeys(("exec", "nohup", "time", "command", "builtin"), _NO_VALUES),
    **dict.fromkeys(("then", "do", "else", "if", "elif", "while", "until", "!", "{"), _NO_VALUES),
}  # fmt: skip
_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "busybox"}
_INTERPRETER = re.compile(r"(?:python|pypy|node|nodejs|perl|ruby|php|pwsh|powershell|deno|bun|lua|tclsh)[\d.]*")
_CODE_OPTIONS = {"-c", "-e", "-E", "-p", "--eval", "--print", "--command"}
_VALUE_OPTIONS = {"-o", "-O", "+o", "+O", "-m", "-W", "-X", "-r", "-I", "--require", "--import", "--loader", "--rcfile", "--init-file"}
_RUNS_CODE = re.compile(
    r"(?<![\w.])(?:exec|execfile|eval|compile|require|load)\s*\(|\b(?:run_path|system|spawn\w*|[Pp]open|import_module)\s*\(|\bdo\s"
)
"""What, in `-c`/`-e` code, runs another file: Python's exec and runpy, node's require, Perl's do, Ruby's load."""
_SYMBOLIC_MODE = re.compile(r"[ugoa]*[-+=][rwxXst]*(?:,[ugoa]*[-+=][rwxXst]*)*")
_OCTAL_MODE = re.compile(r"[0-7]{0,2}[0-7]{3}")
_NOT_A_FILE = {"", "-", "/dev/null", "/dev/stdout", "/dev/stderr"}
# Short options that take a value (clustered as in `-fsSLo FILE`), and long ones that take the next word.
_CURL_SHORT = "AbcCdDeEFHKmoPQrtTuUwxXyYz"
_CURL_LONG = {"--output", "--data", "--data-binary", "--data-raw", "--data-ascii", "--data-urlencode", "--json", "--form",
              "--form-string", "--upload-file", "--header", "--user", "--request", "--write-out", "--max-time", "--retry",
              "--retry-delay", "--retry-max-time", "--connect-timeout", "--cacert", "--cert", "--key", "--config", "--output-dir",
              "--user-agent", "--referer", "--cookie", "--cookie-jar", "--proxy", "--resolve", "--url", "--range", "--dump-header",
              "--stderr", "--trace", "--trace-ascii", "--connect-to", "--oauth2-bearer", "--variable", "--proto",
              "--unix-socket"}  # fmt: skip
_WGET_SHORT = "aAbBDeiIlnoOPQRtTUwX"
_WGET_LONG = {"--output-document", "--output-file", "--append-output", "--directory-prefix", "--post-file", "--body-file",
              "--post-data", "--body-data", "--method", "--header", "--user", "--password", "--input-file", "--tries", "--timeout",
              "--user-agent", "--execute", "--load-cookies", "--save-cookies", "--referer"}  # fmt: skip


class Command(NamedTuple):
    """One simple command of a script: its words unquoted, its redirections, whether `|` feeds the next, its line."""

    words: tuple[str, ...]
    redirects: tuple[tuple[str, str], ...]
    piped: bool
    line: int


@lru_cache(maxsize=256)
def commands(script: str) -> tuple[Command, ...]:
    """The simple commands of a script, read the way a shell splits them (quotes, `;`, `&&`, `|`, new lines, comments);
    cached: `cicd.download_exec` and `cicd.file_upload` read the same scripts."""
    found: list[Command] = []
    words: list[str] = []
    redirects: list[tuple[str, str]] = []
    pending: str | None = None
    line = start = 0
    comment = False
    for token in _SHELL_TOKEN.finditer(script):
        kind, raw = token.lastgroup, token.group()
        if comment and raw != "\n":
            continue
        comment = False
        if kind in ("word", "other", "redirect") and not words and not redirects and pending is None:
            start = line
        if kind == "word" and raw.startswith("#") and (token.start() == 0 or script[token.start() - 1] in " \t\n;&|()"):
            comment = True
        elif kind == "word" and pending is not None:
            redirects.append((pending, unquote(raw)))
            pending = None
        elif kind in ("word", "other"):
            words.append(unquote(raw))
        elif kind == "redirect":
            pending = raw.lstrip("0123456789")
        elif kind == "op":
            if words or redirects:
                found.append(Command(tuple(words), tuple(redirects), raw == "|", start))
            words, redirects, pending = [], [], None
        line += raw.count("\n")
    if words or redirects:
        found.append(Command(tuple(words), tuple(redirects), False, start))
    return tuple(found)


def unquote(text: str) -> str:
    def plain(m: re.Match[str]) -> str:
        single, double, escaped = m.group(1, 2, 3)
        if single is not None:
            return str(single)
        return re.sub(r"\\(.)", r"\1", double, flags=re.S) if double is not None else str(escaped)

    return re.sub(r"\$\{(\w+)\}", r"$\1", _QUOTED.sub(plain, text))


def arguments(words: Iterable[str]) -> list[str]:
    """A command's words from the program it runs on: without `VAR=x`, `sudo -u x`, `env`, `timeout 5`, `if`, `then`…"""
    rest = list(words)
    while rest:
        if _ASSIGNMENT.fullmatch(rest[0]):
            rest.pop(0)
        elif (prefix := posixpath.basename(rest[0])) in _PREFIXES:
            rest.pop(0)
            while rest and (rest[0].startswith("-") or (prefix == "env" and _ASSIGNMENT.fullmatch(rest[0]))):
                if rest.pop(0) in _PREFIXES[prefix] and rest:
                    rest.pop(0)
            if prefix == "timeout" and rest:
                rest.pop(0)  # the duration
        else:
            break
    return rest


def _options(args: list[str], short: str, long: set[str]) -> Iterator[tuple[str, str]]:
    """(option, value) of every option (value "" for a flag) and ("", word) for every operand."""
    i = 0
    while i < len(args):
        arg, i = args[i], i + 1
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg.partition("=")
            if not eq and name in long and i < len(args):
                value, i = args[i], i + 1
            yield name, value
        elif arg.startswith("-") and len(arg) > 1:
            for j, flag in enumerate(arg[1:], start=2):
                if flag in short:
                    value = arg[j:] or (args[i] if i < len(args) else "")
                    i += 0 if arg[j:] else 1
                    yield f"-{flag}", value
                    break
                yield f"-{flag}", ""
        else:
            yield "", arg


def _upload(args: list[str]) -> str | None:
    """The option that sends a file's contents (curl `-d @f`, `-F x=@f`, `-T f`; wget `--post-file f`), if any."""
    program = posixpath.basename(args[0]) if args else ""
    if program == "wget":
        return next((f"{o} {v}" for o, v in _options(args[1:], _WGET_SHORT, _WGET_LONG) if o in ("--post-file", "--body-file")), None)
    if program != "curl":
        return None
    for option, value in _options(args[1:], _CURL_SHORT, _CURL_LONG):
        if (
            (option in ("-d", "--data", "--data-binary", "--data-ascii", "--json") and value.startswith("@"))
            or (option == "--data-urlencode" and re.match(r"[^=]*@", value))
            or (option in ("-F", "--form") and re.search(r"(?:^|=)\s*[@<]", value))
            or option in ("-T", "--upload-file")
        ):
            return f"{option} {value}"
    return None


def _saved(args: list[str], command: Command, after: list[str]) -> list[str]:
    """The files a curl or wget command writes what it downloads to (`-o f`, `-O`, wget's default, `> f`, `| tee f`)."""
    program = posixpath.basename(args[0]) if args else ""
    if program not in ("curl", "wget"):
        return []
    curl = program == "curl"
    parsed = list(_options(args[1:], _CURL_SHORT if curl else _WGET_SHORT, _CURL_LONG if curl else _WGET_LONG))
    named = [v for o, v in parsed if o in (("-o", "--output") if curl else ("-O", "--output-document"))]
    # curl -O, and wget unless told otherwise, save under the URL's last path segment.
    remote = bool({"-O", "--remote-name", "--remote-name-all"} & {o for o, _ in parsed}) if curl else not named
    urls = [v for o, v in parsed if o in ("", "--url")]
    files = named + ([re.split(r"[?#]", u)[0].rstrip("/").rsplit("/", 1)[-1] for u in urls] if remote else [])
    files += [target for op, target in command.redirects if op in (">", ">>", ">|", "&>", "&>>") and not target.isdigit()]
    if command.piped and after and posixpath.basename(after[0]) == "tee":
        files += [a for a in after[1:] if not a.startswith("-")]
    return [f for f in files if f not in _NOT_A_FILE]


def _runs(args: list[str], command: Command, after: list[str], hit: Callable[[str], bool]) -> bool:
    """Whether a command runs a file ``hit`` recognises: as the program, sourced, `chmod +x`, an interpreter's script or stdin."""
    if not args:
        return False
    program = posixpath.basename(args[0])
    if hit(args[0]) or (program in (".", "source") and len(args) > 1 and hit(args[1])):
        return True
    if program == "chmod":
        return any(_executable(a) for a in args[1:]) and any(hit(a) for a in args[1:])
    if program == "eval":
        return any(hit(w) for c in commands(" ".join(args[1:])) for w in c.words)
    if command.piped and any(hit(a) for a in args[1:]) and _interpreter(after) and _script(after, hit) is None:
        return True  # cat file | bash
    if not _interpreter(args):
        return False
    return bool(_script(args, hit)) or any(op == "<" and hit(target) for op, target in command.redirects)


def _interpreter(args: list[str]) -> bool:
    program = posixpath.basename(args[0]) if args else ""
    return program in _SHELLS or bool(_INTERPRETER.fullmatch(program))


def _executable(mode: str) -> bool:
    if _OCTAL_MODE.fullmatch(mode):
        return any(int(digit) % 2 for digit in mode[-3:])
    return bool(_SYMBOLIC_MODE.fullmatch(mode)) and re.search(r"[+=][rwXst]*x", mode) is not None


def _script(args: list[str], hit: Callable[[str], bool]) -> bool | None:
    """For an interpreter's words: whether the script it runs (its first operand, or `-c` code) is a file ``hit`` knows;
    None when it names none (it reads its script from stdin)."""
    shell = posixpath.basename(args[0]) in _SHELLS
    i = 1
    while i < len(args):
        arg = args[i]
        if (arg in _CODE_OPTIONS or (shell and re.fullmatch(r"-[a-z]*c[a-z]*", arg))) and i + 1 < len(args):
            if shell:
                return any(_runs(arguments(c.words), c, [], hit) for c in commands(args[i + 1]))
            code = args[i + 1]  # a file it only reads (json.load(open(f))) is data; one it executes or loads as code is not
            return _RUNS_CODE.search(code) is not None and any(hit(word) for word in re.findall(r"[^\s'\"(),;]+", code))
        if arg == "-m" and not shell:
            return False  # python -m: the program is a module; what follows is its arguments
        if arg in _VALUE_OPTIONS:
            i += 2
        elif arg.startswith(("-", "+")):
            i += 1
        else:
            return hit(arg)
    return None


def _named(words: Iterable[str], hit: Callable[[str], bool]) -> str:
    """The first word, or path inside a word (`-c` code), that ``hit`` recognises."""
    for whole in words:
        parts: list[str] = [whole, *re.findall(r"[^\s'\"(),;|&<>]+", whole)]
        for part in parts:
            if hit(part):
                return part
    return ""


_QUOTING = str.maketrans("", "", "'\"\\")


def _may_download_or_run(script: str, saved: dict[str, str]) -> bool:
    """Whether ``script`` names curl or wget, or a file downloaded so far (its quotes dropped: `bash 'x'.sh` runs x.sh)."""
    if "curl" in script or "wget" in script:
        return True
    bare = script.translate(_QUOTING)
    return any(name in bare for name in saved)


def downloads_run(scripts: Iterable[str]) -> Iterator[tuple[int, int, str]]:
    """(script, line, what) of every command that runs a file an earlier command of these scripts downloaded."""
    saved: dict[str, str] = {}  # a downloaded file's path, and its name -> the download

    def hit(word: str) -> bool:
        return word not in _NOT_A_FILE and (word in saved or posixpath.basename(word.rstrip("/")) in saved)

    for index, script in enumerate(scripts):
        if not _may_download_or_run(script, saved):
            continue  # it names no download and no file downloaded so far: not read command by command
        found = commands(script)
        for k, command in enumerate(found):
            args = arguments(command.words)
            after = arguments(found[k + 1].words) if command.piped and k + 1 < len(found) else []
            if saved and _runs(args, command, after, hit):
                file = _named([*args, *(t for _, t in command.redirects)], hit)
                origin = saved.get(file) or saved.get(posixpath.basename(file.rstrip("/")), "a download")
                what = " ".join(args) + (" | " + " ".join(after) if after else "")
                yield index, command.line, f"`{what[:60]}` runs {file or 'a file'!r}, which `{origin[:60]}` downloaded"
            for file in _saved(args, command, after):
                saved[file] = saved[posixpath.basename(file.rstrip("/"))] = " ".join(args)


CHECKS = (
    permissions,
    write_permissions,
    container_images,
    untrusted_checkout,
    untrusted_context,
    pipe_to_shell,
    download_exec,
    file_upload,
    secrets_scoped,
    context_availability,
    action_pinning,
    checkout_credentials,
)
