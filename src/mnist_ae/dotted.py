"""Dotted keys (``train.models.dense.code_size``) over nested params and metrics: the names DVC's
``-S``, ``params diff`` and ``exp show`` use. The one place that walks them, for the library and tools.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

MISSING = object()


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``; typed params (dataclasses) too, reading every field.
    A list is one leaf."""
    if isinstance(tree, Mapping):
        items = [(str(key), tree[key]) for key in tree]
    else:
        items = [(field.name, getattr(tree, field.name)) for field in dataclasses.fields(tree)]
    flat: dict[str, Any] = {}
    for key, value in items:
        if isinstance(value, Mapping) or dataclasses.is_dataclass(value):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def get(tree: Any, dotted: str, default: Any = MISSING) -> Any:
    """The value at ``dotted``; ``default`` when a key is missing, else a KeyError naming the path."""
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            if default is MISSING:
                raise KeyError(dotted)
            return default
        node = node[part]
    return node


def set_existing(tree: dict, dotted: str, value: Any) -> None:
    """Set ``dotted`` to ``value``; its parent must exist and hold the key already."""
    *parents, leaf = dotted.split(".")
    node = get(tree, ".".join(parents)) if parents else tree
    if not isinstance(node, dict) or leaf not in node:
        raise KeyError(dotted)
    node[leaf] = value
