"""The lenient views (agent/views.py) and the upstream ones (agent/upstream.py): declared field by field, written back whole."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_core import ValidationError

from agent.upstream import Implementation, Message, Plan, Review
from agent.views import Lenient, items, mapping, raw, text, view


def test_unknown_keys_are_kept_at_every_level_and_written_back() -> None:
    impl = Implementation.read({"epic_id": 7, "notes": "kept", "service": {"name": "api", "owner": {"team": "x"}}})
    assert impl.epic_id == "7" and impl.extra == {"notes": "kept"}
    assert impl.service is not None and impl.service.extra == {"owner": {"team": "x"}}
    doc = impl.document(exclude_none=True)
    assert doc["notes"] == "kept" and doc["service"] == {"name": "api", "owner": {"team": "x"}, "endpoints": [], "dependencies": []}


def test_a_cached_value_is_not_written_back_as_a_field() -> None:
    impl = Implementation.read({"tasks_completed": [{"files_created": "src/a.py", "files_modified": ["src/b.py", 3]}]})
    assert impl.files == ("src/a.py", "src/b.py")
    assert "files" not in impl.document()


def test_a_message_reads_its_document_keys_first_and_writes_them_back() -> None:
    message = Message.from_document("m.yaml", {"from": "quality", "to": "devops", "type": " Veto ", "iteration": "3"})
    assert (message.sender, message.recipient, message.type, message.iteration) == ("quality", "devops", "veto", 3)
    assert message.document(exclude_none=True) == {"file": "m.yaml", "from": "quality", "to": "devops", "type": "veto", "iteration": 3}
    # The field's own name is read when the document key is absent; when both are there the document key wins.
    assert Message.from_document("m.yaml", {"sender": "analyst"}).sender == "analyst"
    both = Message.from_document("m.yaml", {"from": "quality", "sender": "analyst"})
    assert both.sender == "quality" and both.extra == {"sender": "analyst"}


def test_a_file_name_with_undecodable_bytes_is_kept_and_written_escaped() -> None:
    message = Message.from_document("m\udcff.yaml", {"from": "quality"})
    assert message.file == "m\udcff.yaml"
    assert message.document()["file"] == "m\\xff.yaml"


@pytest.mark.parametrize(
    ("view_class", "data", "where"),
    [
        (Review, {"three_pass_review": "passed"}, ("three_pass_review",)),
        (Review, {"metrics": {"a": 1, 2: 3}}, ("metrics", 2, "[key]")),
        (Plan, {"rollback_plan": ["step"]}, ("rollback_plan",)),
        (Plan, {"risks": [{"risk": "r"}, "loose"]}, ("risks", 1)),
        (Message, {"from": "quality"}, ("file",)),
    ],
)
def test_a_value_of_the_wrong_shape_is_an_error_naming_its_place(
    view_class: type[Lenient], data: dict[str, Any], where: tuple[Any, ...]
) -> None:
    with pytest.raises(ValidationError) as raised:
        view_class.read(data)
    assert raised.value.errors()[0]["loc"] == where


def test_lenient_fields_coerce_only_what_is_unambiguous() -> None:
    plan = Plan.read({"stages": "one", "risks": [{"likelihood": " HIGH ", "impact": 3, "risk": 12}]})
    assert plan.stages == ["one"] and plan.rollback_plan is None
    assert (plan.risks[0].likelihood, plan.risks[0].impact, plan.risks[0].risk) == ("high", None, "12")
    assert Message.from_document("m.yaml", {"iteration": "two"}).iteration is None


def test_a_view_is_declared_by_its_fields_and_each_instance_owns_its_defaults() -> None:
    class Inner(Lenient):
        label: str | None = text()

    class Outer(Lenient):
        kept: Any = raw()
        listed: list[Any] = items()
        table: dict[str, Any] = mapping()
        inner: Inner | None = view(Inner)

    first, second = Outer.read({}), Outer.read({"inner": {"label": 1}, "other": True})
    first.listed.append("x")
    first.table["k"] = 1
    assert second.listed == [] and second.table == {}
    assert second.inner is not None and second.inner.label == "1" and second.extra == {"other": True}
    assert "listed" not in vars(Outer)  # the declarations became the schema; values live on instances
