"""The two compiled engines a run uses, loaded without what they would import and never use.

Both are start-up costs measured here (README: benchmarks), and both leave the process as an ordinary import
would for everything else: the same classes, the real ``email.utils`` (`tests/test_engines_loading.py`).
"""

from __future__ import annotations

import sys
from functools import cache
from importlib.machinery import ExtensionFileLoader, PathFinder
from importlib.util import module_from_spec
from types import ModuleType

ENGINE = "pydantic_core._pydantic_core"
"""pydantic-core's compiled engine: the validators, serializers and errors are all defined in it."""


def pydantic_core_engine() -> ModuleType:
    """pydantic-core's compiled engine, loaded without the package's Python layer when nothing has imported it yet.

    The package's ``__init__`` imports its schema-builder module and typing_extensions (with ``inspect``, ``ast``,
    ``decimal``…): ~2.8 MB of objects and ~20 ms of a run here in a slow hour, for dict builders the views do not
    need (`agent.views` writes its schema dicts itself). The engine is the same module either way: it is registered
    under its own name, so a later ``import pydantic_core`` (pydantic, the anthropic SDK) reuses it: the same
    classes, ``from pydantic_core import …`` and ``import pydantic_core._pydantic_core as engine`` work. One difference
    remains: the package then has no ``_pydantic_core`` attribute (the import system sets it only on a module it loads
    itself), which neither pydantic nor the SDK reads. Anything unexpected (another layout, a loader that is not an
    extension's) falls back to the ordinary import. Called when `agent.views` is first imported, from the main thread
    before any other starts (the check and the load hold no lock).
    """
    loaded = sys.modules.get(ENGINE)
    if loaded is not None:
        return loaded
    package = PathFinder.find_spec("pydantic_core") if "pydantic_core" not in sys.modules else None
    spec = PathFinder.find_spec(ENGINE, package.submodule_search_locations) if package else None
    if spec is None or not isinstance(spec.loader, ExtensionFileLoader):
        import pydantic_core  # noqa: F401  (registers the engine)

        return sys.modules[ENGINE]
    engine = module_from_spec(spec)
    sys.modules[ENGINE] = engine
    try:
        spec.loader.exec_module(engine)
    except BaseException:
        del sys.modules[ENGINE]
        raise
    return engine


@cache
def jsonschema_rs_engine() -> ModuleType:
    """jsonschema-rs, imported without the one stdlib module its build metadata drags in.

    At import, jsonschema-rs (through pyo3-built) parses its own build time with ``email.utils``, which imports
    ``socket``, ``datetime``, ``random``, ``urllib.parse`` and ``calendar`` with ``locale``: ~1.3 MB of objects
    and ~10 ms of a run here in a slow hour (half the module's import), for a ``__build__["info-time"]`` that
    nothing reads (PyO3/pyo3-built#29). While it is imported, ``email.utils`` is a stand-in whose
    ``parsedate_to_datetime`` gives ``None`` (so that entry is ``None``); the stand-in is removed at once, so a later
    ``import email.utils`` (the anthropic SDK's HTTP stack) gets the real module. Called once per process, from the
    main thread, before anything else could want ``email.utils``; when that is already imported, it is used as it is.
    """
    if "jsonschema_rs" in sys.modules or "email.utils" in sys.modules:
        import jsonschema_rs

        return jsonschema_rs
    stand_in = ModuleType("email.utils", "A stand-in while jsonschema-rs is imported (agent.engines).")
    stand_in.parsedate_to_datetime = _unparsed  # type: ignore[attr-defined]
    sys.modules["email.utils"] = stand_in
    try:
        import jsonschema_rs
    except Exception:  # a release that wants more of email.utils than the stand-in has: the ordinary import, then
        _remove(stand_in)
        import jsonschema_rs
    finally:
        _remove(stand_in)
    return jsonschema_rs


def _unparsed(_text: str) -> None:
    """The stand-in's ``parsedate_to_datetime``: the build time is left unparsed."""


def _remove(stand_in: ModuleType) -> None:
    if sys.modules.get("email.utils") is stand_in:
        del sys.modules["email.utils"]
    email = sys.modules.get("email")
    if email is not None and getattr(email, "utils", None) is stand_in:
        del email.utils
