"""Typed params machinery: frozen dataclasses parsed from plain mappings, and a record of reads.

Every key is required and every unknown key is an error, so a typo never silently falls back to a
default; each failure is one :class:`ConfigError` naming the dotted key. Sections also record which
keys a process reads (:func:`read_keys`), so a test can check that each stage's ``params:`` in
dvc.yaml lists exactly those (tests/test_stage_deps.py). The project's schema is in config.py.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import field
from typing import Any, Callable

from mnist_ae import ConfigError

# Dotted keys read since load_params() returned; None until then, so parsing itself reads nothing.
_read: set[str] | None = None


def read_keys() -> set[str]:
    """The params keys this process has read, e.g. {"base.seed", "train.models"} (stage.py records them).

    A leaf read is its dotted key. Iterating ``train.models`` (which models there are) reads the key
    ``train.models`` itself, which only declaring that whole section covers.
    """
    return set(_read or ())


# Section class -> its dotted path in params.yaml, and its field names (name_sections fills them).
_SECTION_PATHS: dict[type, str] = {}
_FIELD_NAMES: dict[type, frozenset[str]] = {}


def name_sections(paths: dict[type, str]) -> None:
    """Record reads of each Section class's fields under its dotted path, e.g. {NoiseParams: "noise"}."""
    _SECTION_PATHS.update(paths)
    _FIELD_NAMES.update({cls: frozenset(f.name for f in dataclasses.fields(cls)) for cls in paths})


class Section:
    """A params section whose field reads are recorded under its dotted path (see name_sections)."""

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if _read is not None and not name.startswith("_") and not isinstance(value, (Section, ModelBlocks)):
            path = _SECTION_PATHS.get(type(self))
            if path is not None and name in _FIELD_NAMES[type(self)]:
                _read.add(f"{path}.{name}")
        return value


class ModelBlocks(Mapping):
    """``train.models``: model name -> its block (typed by mnist_ae.models.typed_blocks). Listing the
    names reads ``train.models``; looking a typed block up reads nothing until one of its fields is
    read, and taking an untyped one reads all of its keys."""

    def __init__(self, blocks: dict[str, Any]):
        self._blocks = dict(blocks)

    def _names_read(self) -> None:
        if _read is not None:
            _read.add("train.models")

    def __getitem__(self, name: str) -> Any:
        block = self._blocks[name]
        if _read is not None and isinstance(block, dict):  # untyped: whoever takes it reads every key
            _read.update(f"train.models.{name}.{key}" for key in block)
        return block

    def __contains__(self, name: object) -> bool:
        if _read is not None:
            _read.add(f"train.models.{name}")
        return name in self._blocks

    def __iter__(self) -> Iterator[str]:
        self._names_read()
        return iter(self._blocks)

    def __len__(self) -> int:
        self._names_read()
        return len(self._blocks)

    def __repr__(self) -> str:
        return f"ModelBlocks({self._blocks!r})"

    def map(self, convert: Callable[[str, Any], Any]) -> ModelBlocks:
        """Each block passed through ``convert(name, block)`` (the registry types them); reads nothing."""
        return ModelBlocks({name: convert(name, block) for name, block in self._blocks.items()})


def check(predicate: Callable[[Any], bool], requirement: str) -> dict:
    """Field metadata for a range check; ``requirement`` completes 'must be ...'."""
    return {"check": (predicate, requirement)}


def positive() -> Any:
    return field(metadata=check(lambda v: v >= 1, ">= 1"))


def optional_positive() -> Any:
    return field(metadata=check(lambda v: v is None or v >= 1, "null or >= 1"))


def parse_dataclass(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking keys, types and ranges."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'params'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"{key}: unknown key; expected one of {sorted(fields)}")
    values = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name not in data:
            raise ConfigError(f"{key}: missing key")
        value = coerce(hints[name], data[name], key)
        if "check" in f.metadata:
            predicate, requirement = f.metadata["check"]
            if not predicate(value):
                raise ConfigError(f"{key} must be {requirement}, got {data[name]!r}")
        values[name] = value
    return cls(**values)


def coerce(annotation: Any, value: Any, key: str) -> Any:
    """Check ``value`` against a simple annotation: scalars, ``X | None``, ``list[X]``."""
    if dataclasses.is_dataclass(annotation):
        return parse_dataclass(annotation, value, key)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return coerce(inner, value, key)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return [coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Mapping) or annotation is Any:
        return value  # typed later by its owner (the model registry)
    # bool is an int subclass in Python; 'epochs: true' is a typo, not 1.
    if annotation is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, str, bool) and type(value) is annotation:
        return value
    raise ConfigError(f"{key} must be {annotation.__name__}, got {value!r}")


def start_recording() -> None:
    """From here on, reads of params fields are recorded; reads made while validating are not."""
    global _read
    if _read is None:
        _read = set()
