"""The ORM model index: which project classes are mapped, their relationships and lazy strategies.

Built lazily from the facts already in the project index (`index.extension("models", ModelIndex)`),
the first time a rule asks. A mapped class derives, directly or through project bases in any module,
from `DeclarativeBase` / `DeclarativeBaseNoMeta`, from a `declarative_base()` /
`registry().generate_base()` result, or is a `SQLModel` subclass declared with `table=True`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from .facts import ClassInfo
from .values import Attr, Call, Const, Ref, Str, Subscript, Union_, Value

if TYPE_CHECKING:
    from .index import ProjectIndex

DECLARATIVE_BASES = frozenset({
    "sqlalchemy.orm.DeclarativeBase", "sqlalchemy.orm.DeclarativeBaseNoMeta",
    "sqlalchemy.orm.decl_api.DeclarativeBase", "sqlalchemy.orm.decl_api.DeclarativeBaseNoMeta",
})
DECLARATIVE_FACTORIES = frozenset({
    "sqlalchemy.orm.declarative_base", "sqlalchemy.ext.declarative.declarative_base",
    "sqlalchemy.orm.decl_api.declarative_base",
})
REGISTRIES = frozenset({"sqlalchemy.orm.registry", "sqlalchemy.orm.decl_api.registry"})
SQLMODEL = frozenset({"sqlmodel.SQLModel", "sqlmodel.main.SQLModel"})
PYDANTIC = frozenset({"pydantic.BaseModel", "pydantic.main.BaseModel", "pydantic.v1.BaseModel",
                      "pydantic.v1.main.BaseModel"})
RELATIONSHIP_FUNCS = frozenset({
    "sqlalchemy.orm.relationship", "sqlalchemy.orm.relation", "sqlalchemy.orm.relationships.relationship",
    "sqlalchemy.orm._orm_constructors.relationship", "sqlmodel.Relationship", "sqlmodel.main.Relationship",
})
BACKREF_FUNCS = frozenset({"sqlalchemy.orm.backref", "sqlalchemy.orm._orm_constructors.backref"})
MAPPED = frozenset({"sqlalchemy.orm.Mapped", "sqlalchemy.orm.base.Mapped"})
COLLECTIONS = frozenset({"builtins.list", "builtins.set", "builtins.frozenset", "builtins.tuple",
                         "typing.List", "typing.Set", "typing.FrozenSet", "typing.Sequence",
                         "typing.MutableSequence", "typing.Iterable", "collections.abc.Sequence"})
OPTIONAL = frozenset({"typing.Optional", "typing_extensions.Optional"})
# Annotations that imply a loader strategy of their own.
_ANNOTATION_STRATEGIES = {
    "sqlalchemy.orm.WriteOnlyMapped": "write_only", "sqlalchemy.orm.base.WriteOnlyMapped": "write_only",
    "sqlalchemy.orm.DynamicMapped": "dynamic", "sqlalchemy.orm.base.DynamicMapped": "dynamic",
}

# `lazy=` values that load on attribute access with IO (the ones that raise MissingGreenlet).
LAZY_LOADING = frozenset({"select", "True"})

_IDENT = re.compile(r"[A-Za-z_][\w.]*")


@dataclass
class Relationship:
    name: str
    owner: str  # the class name that declares it
    target: Optional[str]  # the target class name, as written ("Address"), when known
    lazy: Optional[str]  # "select", "selectin", ...; None when the analyzer cannot tell
    many: Optional[bool] = None

    @property
    def lazy_select(self) -> bool:
        return self.lazy in LAZY_LOADING


@dataclass
class Model:
    key: str  # "<path>::<ClassName>"
    name: str
    path: str
    relationships: dict[str, Relationship] = field(default_factory=dict)


class ModelIndex:
    def __init__(self, index: "ProjectIndex"):
        self.index = index
        self._roots: dict[str, Optional[str]] = {}
        self.models: dict[str, Model] = {}
        self._by_name: dict[str, list[str]] = {}
        self._classes: dict[str, tuple[str, ClassInfo]] = {}
        self.schemas: dict[str, object] = {}  # filled by schemas.schema()
        for path, module in index.modules.items():
            for name, symbol in module.symbols.items():
                if isinstance(symbol, ClassInfo):
                    self._classes[f"{path}::{name}"] = (path, symbol)
        for key, (path, info) in self._classes.items():
            if self.root(key) == "orm":
                self.models[key] = Model(key, info.name, path)
                self._by_name.setdefault(info.name, []).append(key)
        for key, model in self.models.items():
            self._collect(model, key, set())
        self._add_backrefs()

    # ---- classes ------------------------------------------------------------------------------
    def class_key(self, value: Optional[Value]) -> Optional[str]:
        """The "<path>::<Name>" key of the project class a value names, if any."""
        if not isinstance(value, Ref):
            return None
        resolved = self.index.resolve(value)
        if isinstance(resolved.symbol, ClassInfo) and not resolved.attrs and resolved.module is not None:
            key = f"{resolved.module.path}::{resolved.symbol.name}"
            return key if key in self._classes else None
        return None

    def class_info(self, key: str) -> Optional[ClassInfo]:
        found = self._classes.get(key)
        return found[1] if found else None

    def root(self, key: str, seen: frozenset = frozenset()) -> Optional[str]:
        """"orm" for a mapped class, "schema" for a pydantic model (SQLModel without table=True),
        "base" for a declarative base itself, None otherwise."""
        if key in self._roots:
            return self._roots[key]
        if key in seen:
            return None
        self._roots[key] = None
        info = self._classes[key][1]
        found: Optional[str] = None
        for base in info.bases:
            kind = self._base_root(base, seen | {key})
            if kind == "declarative":  # `class Base(DeclarativeBase)`: the base, not a table
                found = "orm" if _declares_table(info) else "base"
            elif kind in ("base", "orm"):
                found = "base" if _is_abstract(info) else "orm"
            elif kind == "sqlmodel":
                table = dict(info.keywords).get("table")
                found = "orm" if isinstance(table, Const) and table.text == "True" else "schema"
            elif kind == "schema":
                found = "schema"
            if found is not None:
                break
        self._roots[key] = found
        return found

    def _base_root(self, base: Value, seen: frozenset) -> Optional[str]:
        external = self.index.external_name(base)
        if external is not None:
            if external in DECLARATIVE_BASES:
                return "declarative"
            if external in SQLMODEL:
                return "sqlmodel"
            if external in PYDANTIC:
                return "schema"
            return None
        key = self.class_key(base)
        if key is not None:
            root = self.root(key, seen)
            if root in ("orm", "base"):
                return root
            if root == "schema":
                # a SQLModel table model's parent is itself a SQLModel: table=True decides per class
                return "sqlmodel" if self._is_sqlmodel(key, seen) else "schema"
            return None
        if isinstance(base, Ref):  # `Base = declarative_base()` / `registry().generate_base()`
            resolved = self.index.resolve(base)
            symbol = resolved.symbol
            if isinstance(symbol, Call) and not resolved.attrs:
                func = self.index.external_name(symbol.func)
                if func in DECLARATIVE_FACTORIES:
                    return "base"
                if (isinstance(symbol.func, Attr) and symbol.func.name == "generate_base"
                        and isinstance(symbol.func.base, Call)
                        and self.index.external_name(symbol.func.base.func) in REGISTRIES):
                    return "base"
        return None

    def _is_sqlmodel(self, key: str, seen: frozenset) -> bool:
        info = self._classes[key][1]
        for base in info.bases:
            external = self.index.external_name(base)
            if external in SQLMODEL:
                return True
            inner = self.class_key(base)
            if inner is not None and inner not in seen and self._is_sqlmodel(inner, seen | {key}):
                return True
        return False

    # ---- models -------------------------------------------------------------------------------
    def model(self, value: Optional[Value]) -> Optional[Model]:
        key = self.class_key(value)
        return self.models.get(key) if key else None

    def by_name(self, name: Optional[str], origin: str) -> Optional[Model]:
        """The mapped class a string target ("Address", "app.models.Address") names, nearest first."""
        if not name:
            return None
        keys = self._by_name.get(name.rpartition(".")[2])
        if not keys:
            return None
        if len(keys) == 1:
            return self.models[keys[0]]
        ranked = sorted(keys, key=lambda k: -_common(self.models[k].path, origin))
        if _common(self.models[ranked[0]].path, origin) == _common(self.models[ranked[1]].path, origin):
            return None
        return self.models[ranked[0]]

    def target(self, rel: Relationship, model: Model) -> Optional[Model]:
        return self.by_name(rel.target, model.path)

    def _collect(self, model: Model, key: str, seen: set) -> None:
        """Relationships declared on the class and on its mapped project bases (inheritance)."""
        if key in seen:
            return
        seen.add(key)
        info = self._classes[key][1]
        for base in info.bases:
            base_key = self.class_key(base)
            if base_key is not None:
                self._collect(model, base_key, seen)
        for name, value in info.attrs.items():
            if isinstance(value, Call) and self.index.external_name(value.func) in RELATIONSHIP_FUNCS:
                model.relationships[name] = self._relationship(name, info, value)

    def _relationship(self, name: str, info: ClassInfo, call: Call) -> Relationship:
        target, many = None, None
        if call.args:
            target = self._target_name(call.args[0])
        annotation = info.annotations.get(name)
        if annotation is not None:
            ann_target, ann_many = self._annotation_target(annotation)
            target = target or ann_target
            many = ann_many
        if isinstance(annotation, Subscript):
            strategy = _ANNOTATION_STRATEGIES.get(self.index.external_name(annotation.base) or "")
            if strategy is not None and call.kwarg("lazy") is None:
                return Relationship(name, info.name, target, strategy, True)
        uselist = call.kwarg("uselist")
        if isinstance(uselist, Const):
            many = uselist.text == "True"
        return Relationship(name, info.name, target, _lazy(call), many)

    def _target_name(self, value: Value) -> Optional[str]:
        if isinstance(value, Str):
            return _string_target(value.value)[0]
        key = self.class_key(value)
        return self._classes[key][1].name if key else None

    def _annotation_target(self, ann: Value, depth: int = 0) -> tuple[Optional[str], Optional[bool]]:
        if depth > 4:
            return None, None
        if isinstance(ann, Str):
            return _string_target(ann.value)
        if isinstance(ann, Union_):
            real = [o for o in ann.options if not (isinstance(o, Const) and o.text == "None")]
            return self._annotation_target(real[0], depth + 1) if len(real) == 1 else (None, None)
        if isinstance(ann, Subscript) and ann.items:
            base = self.index.external_name(ann.base)
            if base in MAPPED or base in OPTIONAL or base in _ANNOTATION_STRATEGIES:
                return self._annotation_target(ann.items[0], depth + 1)
            if base in COLLECTIONS:
                name, _ = self._annotation_target(ann.items[0], depth + 1)
                return name, True
            return None, None
        key = self.class_key(ann)
        return (self._classes[key][1].name, False) if key else (None, None)

    def _add_backrefs(self) -> None:
        for model in list(self.models.values()):
            info = self._classes[model.key][1]
            for name, value in info.attrs.items():
                if not (isinstance(value, Call) and self.index.external_name(value.func) in RELATIONSHIP_FUNCS):
                    continue
                backref = value.kwarg("backref")
                target = self.by_name(model.relationships[name].target, model.path) if name in model.relationships else None
                if target is None or backref is None:
                    continue
                if isinstance(backref, Str):
                    target.relationships.setdefault(backref.value, Relationship(backref.value, target.name,
                                                                                model.name, "select"))
                elif (isinstance(backref, Call) and self.index.external_name(backref.func) in BACKREF_FUNCS
                      and backref.args and isinstance(backref.args[0], Str)):
                    ref_name = backref.args[0].value
                    target.relationships.setdefault(ref_name, Relationship(ref_name, target.name, model.name,
                                                                           _lazy(backref)))


def _lazy(call: Call) -> Optional[str]:
    if call.kwarg("sa_relationship_kwargs") is not None or call.kwarg("sa_relationship") is not None:
        return None  # SQLModel passes lazy= through a dict the analyzer does not read
    lazy = call.kwarg("lazy")
    if lazy is None:
        return "select"
    if isinstance(lazy, Str):
        return lazy.value
    if isinstance(lazy, Const):
        return {"True": "select", "False": "joined", "None": "noload"}.get(lazy.text)
    return None


def _string_target(text: str) -> tuple[Optional[str], Optional[bool]]:
    """'Address', 'List["Address"]', 'list[Address]', 'Optional[Address]' -> (name, many)."""
    stripped = text.replace('"', "").replace("'", "").strip()
    many = bool(re.match(r"(?:typing\.)?(?:list|List|set|Set|Sequence|frozenset)\[", stripped))
    names = [n for n in _IDENT.findall(stripped) if n.rpartition(".")[2] not in (
        "Mapped", "Optional", "List", "list", "Set", "set", "Sequence", "None", "frozenset", "typing")]
    if len(names) != 1:
        return None, None
    return names[0].rpartition(".")[2], many


def _declares_table(info: ClassInfo) -> bool:
    return "__tablename__" in info.attrs or "__table__" in info.attrs


def _is_abstract(info: ClassInfo) -> bool:
    abstract = info.attrs.get("__abstract__")
    return isinstance(abstract, Const) and abstract.text == "True"


def _common(a: str, b: str) -> int:
    try:
        return len(os.path.commonpath([a, b]))
    except ValueError:
        return 0


def model_index(index: "ProjectIndex") -> ModelIndex:
    return index.extension("models", ModelIndex)
