"""Lenient, typed views of documents, validated by pydantic-core (pydantic's validation engine).

A view declares its fields as class attributes (``title: str | None = text()``); the declarations become one
pydantic-core schema when the class is defined. Unknown keys are kept (:attr:`Lenient.extra`) and written back
(:meth:`Lenient.document`). The concrete views of upstream artifacts are in `agent.upstream`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Self

from agent.engines import pydantic_core_engine
from agent.errors import printable
from agent.facts import as_list, as_text

if TYPE_CHECKING:
    from pydantic_core import SchemaSerializer, SchemaValidator
    from pydantic_core import ValidationError as ValidationError
    from pydantic_core import core_schema as cs
else:
    _engine = pydantic_core_engine()
    SchemaValidator, SchemaSerializer, ValidationError = _engine.SchemaValidator, _engine.SchemaSerializer, _engine.ValidationError


def _schema(kind: str, **fields: Any) -> Any:
    """A pydantic-core schema dict, as ``pydantic_core.core_schema``'s builders write it (a ``None`` field is left out)."""
    return {"type": kind, **{key: value for key, value in fields.items() if value is not None}}


def str_schema(serialization: Any = None) -> Any:
    """A string (``serialization``: how it is written out)."""
    return _schema("str", serialization=serialization)


def int_schema() -> Any:
    """An integer."""
    return _schema("int")


def any_schema() -> Any:
    """Any value, kept as it is."""
    return _schema("any")


def list_schema(items_schema: Any = None) -> Any:
    """A list (of ``items_schema`` when given)."""
    return _schema("list", items_schema=items_schema)


def nullable_schema(schema: Any) -> Any:
    """``schema`` or null."""
    return _schema("nullable", schema=schema)


def with_default(schema: Any, default_factory: Callable[[], Any] | None = None) -> Any:
    """``schema`` with a default: ``default_factory()``, or ``None`` when there is no factory."""
    if default_factory is None:
        return {"type": "default", "schema": schema, "default": None}
    return {"type": "default", "schema": schema, "default_factory": default_factory}


def before(function: Callable[[Any], Any], schema: Any) -> Any:
    """``function`` applied to the value, then ``schema`` (pydantic's "before" validator without info)."""
    return _schema("function-before", function=_schema("no-info", function=function), schema=schema)


class _Declared:
    """A field declared on a :class:`Lenient` view: its pydantic-core schema and the keys it is read from."""

    def __init__(self, schema: cs.CoreSchema, keys: tuple[str, ...] = ()) -> None:
        self.schema, self.keys = schema, keys


def raw() -> Any:
    """Kept exactly as written (``None`` when absent): what a gate reads strictly."""
    return _Declared(with_default(any_schema()))


def coerced(function: Callable[[Any], Any], schema: cs.CoreSchema, *keys: str) -> Any:
    """``function`` applied to the value first, then ``schema`` or null (``None`` when absent)."""
    return _Declared(with_default(before(function, nullable_schema(schema))), keys)


def text(*keys: str) -> Any:
    """A string (a number or a boolean reads as its text); ``keys`` are the document keys, the field's name when none."""
    return coerced(as_text, str_schema(), *keys)


def items() -> Any:
    """A list: a missing value is empty, a single value a list of one."""
    return _Declared(with_default(before(as_list, list_schema()), default_factory=list))


def mapping() -> Any:
    """An object with string keys (empty when absent); anything else is a validation error naming the field."""
    return _Declared(with_default(_schema("dict", keys_schema=str_schema(), values_schema=any_schema()), default_factory=dict))


def file_name() -> Any:
    """A required file name; written out (to the prompt) escaped, since it may hold undecodable bytes."""
    return _Declared(str_schema(serialization=_schema("function-plain", function=printable, return_schema=str_schema())))


def view(cls: type[Lenient]) -> Any:
    """A nested object read as ``cls`` (``None`` when absent or null)."""
    return _Declared(with_default(nullable_schema(cls.core_schema)))


def views(cls: type[Lenient]) -> Any:
    """A list of objects read as ``cls`` (empty when absent)."""
    return _Declared(with_default(list_schema(cls.core_schema), default_factory=list))


def _choices(*keys: str) -> list[list[str | int]]:
    """pydantic-core's alias choices: the first of ``keys`` present is read."""
    return [[key] for key in keys]


class Lenient:
    """A lenient, typed view of an upstream document, validated by pydantic-core (pydantic's validation engine).

    A subclass declares its fields as class attributes (``name: str | None = text()``); unknown keys are kept in
    :attr:`extra`. The schema is built once, when the class is defined, from these declarations: the models are
    static, so pydantic's schema generation from annotations (its import and the building, ~55 ms of every start
    here) would be paid for nothing. Validation, coercion and the error messages are pydantic's.
    """

    # The attributes pydantic-core sets on what it builds; the declared fields live in the instance's __dict__.
    __slots__ = ("__dict__", "__pydantic_extra__", "__pydantic_fields_set__", "__pydantic_private__")
    __pydantic_extra__: dict[str, Any] | None
    core_schema: ClassVar[cs.ModelSchema]
    _validator: ClassVar[SchemaValidator]
    _serializer: ClassVar[SchemaSerializer]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = {name: value for name, value in vars(cls).items() if isinstance(value, _Declared)}
        for name in declared:
            delattr(cls, name)  # the value lives in each instance's __dict__
        fields = {
            name: _schema(
                "model-field",
                schema=field.schema,
                validation_alias=_choices(*field.keys, name) if field.keys else None,
                serialization_alias=field.keys[0] if field.keys else None,
            )
            for name, field in declared.items()
        }
        # "allow" on both levels: the fields' validator keeps unknown keys, the model's serializer writes them back.
        inner = _schema("model-fields", fields=fields, model_name=cls.__name__, extra_behavior="allow")
        cls.core_schema = _schema("model", cls=cls, schema=inner, config={"extra_fields_behavior": "allow"})
        cls._validator = SchemaValidator(cls.core_schema)
        cls._serializer = SchemaSerializer(cls.core_schema)

    @classmethod
    def read(cls, data: Any) -> Self:
        """The view of ``data``; raises pydantic-core's ValidationError naming the field that cannot be read."""
        result: Self = cls._validator.validate_python(data)
        return result

    @property
    def extra(self) -> dict[str, Any]:
        """The keys the view does not declare, as written."""
        return self.__pydantic_extra__ or {}

    def document(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """The view as JSON-ready data under the document's own keys, unknown keys included."""
        result: dict[str, Any] = self._serializer.to_python(self, mode="json", by_alias=True, exclude_none=exclude_none)
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"
