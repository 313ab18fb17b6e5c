"""Pydantic response schemas: their fields, and which nested schema a field holds.

A schema is a project class deriving (through project bases in any module) from pydantic's
`BaseModel`, or a `SQLModel` subclass without `table=True`. FastAPI validates a returned ORM object
against it attribute by attribute, so every field named like a relationship reads that
relationship during serialization.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .models import COLLECTIONS, OPTIONAL, ModelIndex
from .values import Const, Ref, Str, Subscript, Union_, Value

CLASSVAR = frozenset({"typing.ClassVar", "typing_extensions.ClassVar"})


@dataclass
class Schema:
    key: str
    name: str
    fields: dict[str, Value] = field(default_factory=dict)  # field name -> annotation
    from_attributes: bool = False


def schema(models: ModelIndex, value: Optional[Value]) -> Optional[Schema]:
    """The schema a value (a class reference) names, with the fields of its schema bases merged."""
    key = models.class_key(value)
    if key is None or models.root(key) != "schema":
        return None
    cache = models.schemas
    if key not in cache:
        cache[key] = _build(models, key, set())
    return cache[key]


def _build(models: ModelIndex, key: str, seen: set) -> Schema:
    info = models.class_info(key)
    out = Schema(key, info.name)
    seen.add(key)
    for base in info.bases:
        base_key = models.class_key(base)
        if base_key and base_key not in seen and models.root(base_key) == "schema":
            parent = _build(models, base_key, seen)
            out.fields.update(parent.fields)
            out.from_attributes = out.from_attributes or parent.from_attributes
    for name, annotation in info.annotations.items():
        if name.startswith("_") or name == "model_config":
            continue
        if isinstance(annotation, Subscript) and models.index.external_name(annotation.base) in CLASSVAR:
            continue
        out.fields[name] = annotation
    config = info.attrs.get("model_config")
    if config is not None and "from_attributes" in repr(config):
        out.from_attributes = True
    return out


def nested_schema(models: ModelIndex, annotation: Value, depth: int = 0) -> Optional[Schema]:
    """The schema inside a field annotation: `ItemOut`, `list[ItemOut]`, `Optional[ItemOut]`,
    `ItemOut | None`, `"ItemOut"`."""
    if depth > 4:
        return None
    if isinstance(annotation, Union_):
        real = [o for o in annotation.options if not (isinstance(o, Const) and o.text == "None")]
        return nested_schema(models, real[0], depth + 1) if len(real) == 1 else None
    if isinstance(annotation, Subscript) and annotation.items:
        base = models.index.external_name(annotation.base)
        if base in COLLECTIONS or base in OPTIONAL:
            return nested_schema(models, annotation.items[0], depth + 1)
        return None
    if isinstance(annotation, Str):
        return None
    if isinstance(annotation, Ref):
        return schema(models, annotation)
    return None
