"""Every exception MidStream raises on purpose derives from MidStreamError, and names are unique."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import midstream
from midstream.core.exceptions import MidStreamError


def _our_exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(midstream.__path__, "midstream."):
        if info.name.startswith("midstream.stack") or info.name.endswith("__main__"):
            continue
        if info.name.endswith(".whisper"):
            continue  # imports faster-whisper lazily; its errors live in media/exceptions.py
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def test_every_public_exception_derives_from_midstream_error() -> None:
    classes = [c for c in _our_exception_classes() if not c.__name__.startswith("_")]
    assert len(classes) >= 15
    strays = [f"{c.__module__}.{c.__name__}" for c in classes if not issubclass(c, MidStreamError)]
    assert strays == []


def test_exception_names_are_unique() -> None:
    names = [c.__name__ for c in _our_exception_classes() if not c.__name__.startswith("_")]
    assert sorted(names) == sorted(set(names))


def test_exceptions_live_in_exceptions_modules() -> None:
    homes = {c.__module__.rsplit(".", 1)[-1] for c in _our_exception_classes()
             if not c.__name__.startswith("_")}
    assert homes == {"exceptions"}
