"""Per-stream state snapshots: pickled by the flows, restored across renames of our modules.

Bytewax recovery keeps each stream's state as the bytes a flow's logic
returned from ``snapshot()``: a pickle, which names every class by its module
path. Before version 0.2 those paths were bare (``flows.stream_analysis``,
``operators.regime``, ``midstream.config``); now everything is ``midstream.*``.
:func:`restore` reads both, so a recovery directory written before the change
resumes after it.

Examples
--------
>>> import pickle
>>> from midstream.core.config import Topics
>>> old = pickle.dumps(Topics(), protocol=0).replace(b"midstream.core.config", b"midstream.config")
>>> b"midstream.config" in old, restore(old) == Topics()
(True, True)
"""

from __future__ import annotations

import dataclasses
import io
import pickle
from collections.abc import Mapping
from typing import Any

__all__ = ["MOVED_MODULES", "restore", "set_fields", "snapshot"]

MOVED_MODULES: Mapping[str, str] = {
    "operators": "midstream.operators",
    "flows": "midstream.flows",
    "connectors": "midstream.connectors",
    "midstream.events": "midstream.core.events",
    "midstream.media_events": "midstream.core.media_events",
    "midstream.config": "midstream.core.config",
    "midstream.metrics": "midstream.core.metrics",
    "midstream.rules_file": "midstream.core.rules_file",
    "midstream.shapes_file": "midstream.core.shapes_file",
}
"""Module paths of earlier versions (a prefix of the module name) and where they live now."""


def _current_module(module: str) -> str:
    for old, new in MOVED_MODULES.items():
        if module == old or module.startswith(old + "."):
            return new + module[len(old):]
    return module


class _RenamingUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, moved_classes: Mapping[tuple[str, str], tuple[str, str]]):
        super().__init__(io.BytesIO(data))
        self._moved_classes = moved_classes

    def find_class(self, module: str, name: str) -> Any:
        module = _current_module(module)
        module, name = self._moved_classes.get((module, name), (module, name))
        return super().find_class(module, name)


def snapshot(state: object) -> bytes:
    """Pickle a stream's state for a Bytewax snapshot (immutable bytes).

    Examples
    --------
    >>> restore(snapshot({"seq": 3}))
    {'seq': 3}
    """
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def restore(data: bytes,
            moved_classes: Mapping[tuple[str, str], tuple[str, str]] | None = None) -> Any:
    """Unpickle a snapshot written by this version or by one before the module renames.

    Parameters
    ----------
    data
        The bytes a flow's ``snapshot()`` returned.
    moved_classes
        Classes that moved to another module after the rename, as
        ``{(module, name): (new module, new name)}`` with current module paths.

    Examples
    --------
    >>> restore(snapshot([1, 2]))
    [1, 2]
    """
    return _RenamingUnpickler(data, moved_classes or {}).load()


def set_fields(obj: Any, state: tuple[Any, dict[str, Any] | None]) -> None:
    """Restore a slots dataclass from its pickled state, where older versions lack new fields.

    A ``@dataclass(slots=True)`` pickles as ``(None, {slot: value})``. A field
    added in a later version is missing from an older snapshot: it takes its
    default. Use it as the class's ``__setstate__``.

    Examples
    --------
    >>> @dataclasses.dataclass(slots=True)
    ... class State:
    ...     seq: int = 0
    ...     live: bool = True
    ...     def __setstate__(self, state: tuple[Any, dict[str, Any] | None]) -> None:
    ...         set_fields(self, state)
    >>> s = State.__new__(State); s.__setstate__((None, {"seq": 7})); s
    State(seq=7, live=True)
    """
    _, slots = state
    values = slots or {}
    for spec in dataclasses.fields(obj):
        if spec.name in values:
            value = values[spec.name]
        elif spec.default is not dataclasses.MISSING:
            value = spec.default
        elif spec.default_factory is not dataclasses.MISSING:
            value = spec.default_factory()
        else:
            raise pickle.UnpicklingError(f"{type(obj).__name__} snapshot lacks {spec.name!r}")
        object.__setattr__(obj, spec.name, value)
