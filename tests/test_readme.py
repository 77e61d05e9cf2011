"""README and --help stay true: the policy table is the rule registry."""

from __future__ import annotations

import re
import sys

from agent.validation import rules_markdown
from tests.conftest import ROOT

README = ROOT / "README.md"
_TABLE = re.compile(r"(<!-- rules:start -->\n)(.*?)(\n<!-- rules:end -->)", re.S)
_FLAGS = re.compile(r"(<!-- flags:start -->\n)(.*?)(\n<!-- flags:end -->)", re.S)


def test_policy_table_matches_the_rule_registry() -> None:
    match = _TABLE.search(README.read_text())
    assert match, "README lacks the rules markers"
    assert match.group(2).strip() == rules_markdown(), "run `make readme`"


def test_flag_table_matches_the_options() -> None:
    from agent.options import flags_markdown

    match = _FLAGS.search(README.read_text())
    assert match, "README lacks the flags markers"
    assert match.group(2).strip() == flags_markdown(), "run `make readme`"


def test_every_run_flag_is_documented() -> None:
    from agent.options import parser

    text = README.read_text()
    run = parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr,index]
    for action in run._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag}" in text or f"[{flag}" in text, flag


def test_the_layout_section_names_every_module() -> None:
    layout = README.read_text().split("## Layout", 1)[1]
    modules = {p.name for p in (ROOT / "agent").rglob("*.py") if p.name not in {"__init__.py", "__main__.py"}}
    assert {m for m in modules if f"`{m}`" not in layout} == set(), "README's Layout section lacks them"


if __name__ == "__main__" and "--write" in sys.argv:
    from agent.options import flags_markdown

    text = _TABLE.sub(lambda m: m.group(1) + rules_markdown() + m.group(3), README.read_text())
    README.write_text(_FLAGS.sub(lambda m: m.group(1) + flags_markdown() + m.group(3), text))
