"""How the two compiled engines are loaded: pydantic-core's without its Python layer, jsonschema-rs without email.utils.

Both are start-up savings (agent/engines.py); these tests hold them to leaving the process
exactly as an ordinary import would for everything else: the same classes, the real ``email.utils``, in either order.
Each case runs in a fresh interpreter, since the point is what happens at a process's first import.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from pydantic_core import core_schema as cs

from agent import views
from agent.facts import as_list, as_text
from tests.conftest import ROOT


def run_fresh(code: str) -> None:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("views_first", [True, False])
def test_the_views_and_pydantic_core_share_one_engine_whichever_is_imported_first(views_first: bool) -> None:
    first, second = ("agent.views", "pydantic_core") if views_first else ("pydantic_core", "agent.views")
    run_fresh(
        f"""
        import sys
        import {first}
        assert ('pydantic_core' in sys.modules) is {not views_first}, 'the package layer is loaded only when asked for'
        import {second}
        import agent.views, pydantic_core
        from pydantic_core import core_schema
        assert agent.views.SchemaValidator is pydantic_core.SchemaValidator
        assert agent.views.ValidationError is pydantic_core.ValidationError
        assert sys.modules['pydantic_core._pydantic_core'].SchemaSerializer is pydantic_core.SchemaSerializer
        import pydantic_core._pydantic_core as engine
        assert engine.ValidationError is pydantic_core.ValidationError
        # pydantic's own use of the engine still works beside the views
        validator = pydantic_core.SchemaValidator(core_schema.int_schema())
        assert validator.validate_python('3') == 3
        from agent.upstream import Review
        assert Review.read({{'epic_id': 7, 'review_status': 'APPROVED'}}).epic_id == '7'
        try:
            Review.read([])
        except pydantic_core.ValidationError as err:
            assert err.error_count() == 1
        else:
            raise AssertionError('a list read as a review')
        """
    )


def test_the_views_load_the_engine_alone_on_a_fresh_start() -> None:
    run_fresh(
        """
        import sys
        import agent.upstream
        loaded = {'pydantic_core', 'pydantic_core.core_schema', 'typing_extensions', 'inspect'} & set(sys.modules)
        assert not loaded, loaded
        assert sys.modules['pydantic_core._pydantic_core'].__spec__.name == 'pydantic_core._pydantic_core'
        """
    )


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (views.str_schema(), cs.str_schema()),
        (views.int_schema(), cs.int_schema()),
        (views.any_schema(), cs.any_schema()),
        (views.list_schema(), cs.list_schema()),
        (views.list_schema(views.int_schema()), cs.list_schema(cs.int_schema())),
        (views.nullable_schema(views.str_schema()), cs.nullable_schema(cs.str_schema())),
        (views.with_default(views.any_schema()), cs.with_default_schema(cs.any_schema(), default=None)),
        (views.with_default(views.list_schema(), default_factory=list), cs.with_default_schema(cs.list_schema(), default_factory=list)),
        (views.before(str, views.str_schema()), cs.no_info_before_validator_function(str, cs.str_schema())),
        (
            views.str_schema(serialization=views._schema("function-plain", function=repr, return_schema=views.str_schema())),
            cs.str_schema(serialization=cs.plain_serializer_function_ser_schema(repr, return_schema=cs.str_schema())),
        ),
    ],
)
def test_the_views_schema_dicts_are_the_ones_pydantic_cores_builders_write(ours: object, theirs: object) -> None:
    assert ours == theirs


def test_a_views_model_schema_matches_the_builders() -> None:
    """The whole model schema of a view with aliases, rebuilt with pydantic-core's own builders."""

    class Small(views.Lenient):
        name: object = views.text("Name")
        tags: object = views.items()

    aliases: list[list[str | int]] = [["Name"], ["name"]]
    fields = {
        "name": cs.model_field(
            cs.with_default_schema(cs.no_info_before_validator_function(as_text, cs.nullable_schema(cs.str_schema())), default=None),
            validation_alias=aliases,
            serialization_alias="Name",
        ),
        "tags": cs.model_field(
            cs.with_default_schema(cs.no_info_before_validator_function(as_list, cs.list_schema()), default_factory=list)
        ),
    }
    inner = cs.model_fields_schema(fields, model_name="Small", extra_behavior="allow")
    assert Small.core_schema == cs.model_schema(Small, inner, config=cs.CoreConfig(extra_fields_behavior="allow"))


def test_jsonschema_rs_is_imported_without_email_utils_which_stays_the_real_module_afterwards() -> None:
    run_fresh(
        """
        import sys
        from agent.engines import jsonschema_rs_engine as fast_engine
        engine = fast_engine()
        assert 'email.utils' not in sys.modules and not hasattr(sys.modules.get('email'), 'utils')
        assert engine.validator_for({'type': 'integer'}).is_valid(3)
        import email.utils
        assert email.utils.parsedate_to_datetime('Sun, 08 Nov 2026 16:26:25 +0000').year == 2026
        assert sys.modules['email'].utils is email.utils and email.utils.formatdate
        assert fast_engine() is engine
        """
    )


def test_an_email_utils_already_imported_is_left_as_it_is() -> None:
    run_fresh(
        """
        import sys
        import email.utils
        before = email.utils
        from agent.engines import jsonschema_rs_engine as fast_engine
        fast_engine()
        assert sys.modules['email.utils'] is before and sys.modules['email'].utils is before
        assert sys.modules['jsonschema_rs.jsonschema_rs'].__build__['info-time'] is not None
        """
    )


def test_a_jsonschema_rs_that_wants_more_of_email_utils_is_imported_the_ordinary_way() -> None:
    run_fresh(
        """
        import sys
        import agent.engines
        def wants_more(_text):
            raise AttributeError("a later release reads more of email.utils")
        agent.engines._unparsed = wants_more
        engine = agent.engines.jsonschema_rs_engine()
        assert engine.validator_for({'type': 'integer'}).is_valid(3)
        assert sys.modules['jsonschema_rs.jsonschema_rs'].__build__['info-time'] is not None  # the real email.utils parsed it
        import email.utils
        assert email.utils.formatdate and sys.modules['email'].utils is email.utils
        """
    )
