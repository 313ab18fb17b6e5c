"""Intra-function tracking of ORM objects an async function loads itself, and which of their
relationships that load made eager.

A rule owns one `LoadTracker` and forwards the walker's hooks to it. Only loads the analyzer can
see are tracked: `await session.get(Model, ...)`, `await session.scalar(select(Model)...)`,
`(await session.execute(select(Model)...)).scalars().first()/.all()/...`, `await session.scalars(...)`,
their elements in `for` loops and comprehensions, and objects reached through eager relationships.
Parameters, objects returned by other functions, and loads with loader options the analyzer cannot
read are never tracked: precision first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import libcst as cst

from . import kinds as K
from .models import Model, ModelIndex, Relationship, model_index
from .values import string_value

if TYPE_CHECKING:
    from .context import FileContext

SELECTS = frozenset({"sqlalchemy.select", "sqlalchemy.future.select", "sqlalchemy.sql.select",
                     "sqlalchemy.sql.expression.select", "sqlalchemy.sql._selectable_constructors.select",
                     "sqlmodel.select", "sqlmodel.sql.expression.select"})
# Statement methods that keep the selected entity.
STATEMENT_METHODS = frozenset({
    "where", "filter", "filter_by", "order_by", "limit", "offset", "join", "outerjoin", "join_from",
    "outerjoin_from", "distinct", "group_by", "having", "execution_options", "with_for_update", "params",
    "select_from", "correlate", "fetch", "slice", "options", "union", "prefix_with", "suffix_with",
})
# Loader options after which reading the relationship does no IO (or raises something else).
SETTLING_LOADERS = frozenset({"selectinload", "joinedload", "subqueryload", "immediateload", "contains_eager",
                              "raiseload", "noload"})
# Loader options that leave relationships as configured.
NEUTRAL_LOADERS = frozenset({"lazyload", "defaultload", "load_only", "defer", "undefer", "undefer_group",
                             "Load"})
# Relationship strategies that never do IO on attribute access (or have their own semantics).
NOT_LAZY = frozenset({"selectin", "joined", "subquery", "immediate", "raise", "raise_on_sql", "noload",
                      "dynamic", "write_only"})
LOADED_ON_QUERY = frozenset({"selectin", "joined", "subquery", "immediate"})

OBJECT, MANY, LIST, RESULT, STATEMENT = "object", "many", "list", "result", "statement"


@dataclass(frozen=True)
class Loaded:
    model: Model
    shape: str  # OBJECT, MANY (iterable of objects), LIST (a list of them), RESULT, STATEMENT
    eager: frozenset  # {(owner class name or None, relationship name)}
    origin: str = "loaded"  # how it was loaded, for messages

    def is_eager(self, model: Model, name: str) -> bool:
        return (model.name, name) in self.eager or (None, name) in self.eager


class LoadTracker:
    def __init__(self, ctx: "FileContext"):
        self.ctx = ctx
        self._models: Optional[ModelIndex] = None
        self.frames: dict[int, dict[str, Loaded]] = {}
        self.targets: set[int] = set()  # Attribute nodes that are assignment targets

    @property
    def models(self) -> ModelIndex:
        if self._models is None:
            self._models = model_index(self.ctx.index)
        return self._models

    # ---- the current function's bindings ---------------------------------------------------
    def frame(self, create: bool = False) -> Optional[dict[str, Loaded]]:
        function = self.ctx.function
        if function is None or not function.is_async:
            return None
        key = id(function.node)
        found = self.frames.get(key)
        if found is None and create:
            found = self.frames[key] = {}
        return found

    def leave_function(self, node: cst.CSTNode) -> None:
        self.frames.pop(id(node), None)

    def bind(self, target: cst.BaseExpression, loaded: Optional[Loaded]) -> None:
        if isinstance(target, cst.Name):
            frame = self.frame(create=loaded is not None)
            if frame is None:
                return
            if loaded is None:
                frame.pop(target.value, None)
            else:
                frame[target.value] = loaded
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self.bind(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self.bind(target.value, None)

    def on_assign(self, node: cst.Assign) -> None:
        """After `x = <expr>`: track x when <expr> is a load, forget it otherwise."""
        if not self.ctx.in_async:
            return
        loaded = self.evaluate(node.value) if self._worth(node.value) else None
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name):
                self._mark_set(t.value.value, t.attr.value)
            else:
                self.bind(t, loaded)

    def note_targets(self, node: cst.Assign | cst.AnnAssign) -> None:
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        for target in targets:
            if isinstance(target, cst.Attribute):
                self.targets.add(id(target))

    def on_for(self, target: cst.BaseExpression, iterable: cst.BaseExpression) -> None:
        if not self.ctx.in_async:
            return
        loaded = self.evaluate(iterable) if self._worth(iterable) else None
        if loaded is not None and loaded.shape in (MANY, LIST):
            self.bind(target, Loaded(loaded.model, OBJECT, loaded.eager, loaded.origin))
        else:
            self.bind(target, None)

    def on_refresh(self, node: cst.Call) -> None:
        """`await session.refresh(obj, ["rel"])` loads the named attributes."""
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "refresh" and node.args):
            return
        first = node.args[0].value
        frame = self.frame()
        if not frame or not isinstance(first, cst.Name) or first.value not in frame:
            return
        names_arg = None
        for arg in node.args[1:]:
            if arg.keyword is None or arg.keyword.value == "attribute_names":
                names_arg = arg.value
                break
        if names_arg is None or self.ctx.kind(func.value) != K.ASYNC_SESSION:
            return
        if isinstance(names_arg, (cst.List, cst.Tuple, cst.Set)):
            for element in names_arg.elements:
                text = string_value(element.value)
                if text:
                    self._mark_set(first.value, text)

    def _mark_set(self, name: str, attr: str) -> None:
        frame = self.frame()
        if frame and name in frame:
            loaded = frame[name]
            frame[name] = Loaded(loaded.model, loaded.shape, loaded.eager | {(loaded.model.name, attr)},
                                 loaded.origin)

    def _worth(self, node: cst.BaseExpression) -> bool:
        """Cheap syntactic pre-check before any kind or model lookup."""
        return isinstance(node, (cst.Await, cst.Call, cst.Name, cst.Attribute, cst.Subscript))

    # ---- evaluation -----------------------------------------------------------------------------
    def evaluate(self, node: cst.BaseExpression, depth: int = 0) -> Optional[Loaded]:
        if depth > 12:
            return None
        if isinstance(node, cst.Name):
            frame = self.frame()
            return frame.get(node.value) if frame else None
        if isinstance(node, cst.Await):
            return self._awaited(node.expression, depth)
        if isinstance(node, cst.Call):
            return self._call(node, depth)
        if isinstance(node, cst.Attribute):
            base = self.evaluate(node.value, depth + 1)
            if base is None or base.shape != OBJECT:
                return None
            rel = base.model.relationships.get(node.attr.value)
            if rel is None or not self.settled(base, rel):
                return None
            target = self.models.target(rel, base.model)
            if target is None:
                return None
            shape = LIST if rel.many else OBJECT if rel.many is False else MANY
            return Loaded(target, shape, base.eager, base.origin)
        if isinstance(node, cst.Subscript):
            base = self.evaluate(node.value, depth + 1)
            if base is not None and base.shape == LIST and len(node.slice) == 1 \
                    and isinstance(node.slice[0].slice, cst.Index):
                return Loaded(base.model, OBJECT, base.eager, base.origin)
        return None

    def settled(self, loaded: Loaded, rel: Relationship) -> bool:
        """Reading `rel` on an object of `loaded` does no lazy IO (or is not this rule's business)."""
        if rel.lazy is None or rel.lazy in NOT_LAZY:
            return True
        return loaded.is_eager(loaded.model, rel.name)

    def lazy_read(self, node: cst.Attribute) -> Optional[tuple[Loaded, Relationship]]:
        """`obj.rel` where obj is a tracked object and rel a lazy "select" relationship not loaded."""
        base = self.evaluate(node.value)
        if base is None or base.shape != OBJECT:
            return None
        rel = base.model.relationships.get(node.attr.value)
        if rel is None or not rel.lazy_select or base.is_eager(base.model, rel.name):
            return None
        if id(node) in self.targets and rel.many is not True:
            return None  # assigning a many-to-one does not load the old value; a collection does
        return base, rel

    def _awaited(self, node: cst.BaseExpression, depth: int) -> Optional[Loaded]:
        if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)):
            return None
        method = node.func.attr.value
        if method not in ("get", "get_one", "scalar", "scalars", "execute"):
            return None
        if self.ctx.kind(node.func.value) != K.ASYNC_SESSION or not node.args:
            return None
        if method in ("get", "get_one"):
            model = self.models.model(self.ctx.value(node.args[0].value))
            if model is None:
                return None
            eager: frozenset = frozenset()
            for arg in node.args[1:]:
                if arg.keyword is not None and arg.keyword.value == "options":
                    if not isinstance(arg.value, (cst.List, cst.Tuple)):
                        return None
                    found = self._options([e.value for e in arg.value.elements])
                    if found is None:
                        return None
                    eager = found
            return Loaded(model, OBJECT, eager, f"session.{method}()")
        statement = self.evaluate(node.args[0].value, depth + 1)
        if statement is None or statement.shape != STATEMENT:
            return None
        shape = {"scalar": OBJECT, "scalars": MANY, "execute": RESULT}[method]
        return Loaded(statement.model, shape, statement.eager, f"session.{method}()")

    def _call(self, node: cst.Call, depth: int) -> Optional[Loaded]:
        func = node.func
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            base = self.evaluate(func.value, depth + 1)
            if base is None:
                if method in STATEMENT_METHODS or method in ("scalars", "all", "first", "one", "one_or_none",
                                                              "scalar_one", "scalar_one_or_none", "unique"):
                    return None
                return self._select(node)
            return self._method(base, method, node)
        if isinstance(func, cst.Name) and func.value == "list" and len(node.args) == 1:
            inner = self.evaluate(node.args[0].value, depth + 1)
            if inner is not None and inner.shape in (MANY, LIST):
                return Loaded(inner.model, LIST, inner.eager, inner.origin)
            return None
        return self._select(node)

    def _select(self, node: cst.Call) -> Optional[Loaded]:
        if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
            return None
        if self.ctx.external_name(node.func) not in SELECTS:
            return None
        model = self.models.model(self.ctx.value(node.args[0].value))
        return Loaded(model, STATEMENT, frozenset()) if model is not None else None

    def _method(self, base: Loaded, method: str, node: cst.Call) -> Optional[Loaded]:
        shape = base.shape
        if shape == STATEMENT:
            if method == "options":
                if any(arg.star or arg.keyword is not None for arg in node.args):
                    return None
                found = self._options([arg.value for arg in node.args])
                if found is None:
                    return None
                return Loaded(base.model, STATEMENT, base.eager | found, base.origin)
            return base if method in STATEMENT_METHODS else None
        if shape == RESULT:
            if method == "scalars":
                return Loaded(base.model, MANY, base.eager, base.origin)
            if method in ("scalar_one", "scalar_one_or_none", "scalar"):
                return Loaded(base.model, OBJECT, base.eager, base.origin)
            if method == "unique":
                return base
            return None
        if shape in (MANY, LIST):
            if method in ("all", "fetchall"):
                return Loaded(base.model, LIST, base.eager, base.origin)
            if method in ("first", "one", "one_or_none"):
                return Loaded(base.model, OBJECT, base.eager, base.origin)
            if method == "unique" and shape == MANY:
                return base
        return None

    # ---- loader options ----------------------------------------------------------------------------
    def _options(self, options: list[cst.BaseExpression]) -> Optional[frozenset]:
        """The (owner, relationship) pairs a list of loader options settles; None if unreadable."""
        out: set = set()
        for option in options:
            found = self._option_chain(option)
            if found is None:
                return None
            out |= found
        return frozenset(out)

    def _option_chain(self, node: cst.BaseExpression) -> Optional[set]:
        out: set = set()
        for _ in range(12):
            if not isinstance(node, cst.Call):
                return None
            func = node.func
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
                name, inner = func.attr.value, func.value
            else:
                external = self.ctx.external_name(func)
                if not external or not external.startswith(("sqlalchemy.", "sqlmodel.")):
                    return None
                name, inner = external.rpartition(".")[2], None
            if name in SETTLING_LOADERS:
                for arg in node.args:
                    if arg.keyword is not None:
                        continue
                    path = _option_path(arg.value)
                    if path is None:
                        return None
                    out.update(path)
            elif name not in NEUTRAL_LOADERS:
                return None
            if inner is None:
                return out
            node = inner
        return None


def _option_path(node: cst.BaseExpression) -> Optional[list]:
    """`User.addresses` -> [("User", "addresses")]; `"addresses"` -> [(None, "addresses")]."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in (
            "of_type", "and_"):
        node = node.func.value
    if isinstance(node, cst.Attribute):
        owner = node.value
        owner_name = owner.attr.value if isinstance(owner, cst.Attribute) else owner.value \
            if isinstance(owner, cst.Name) else None
        return [(owner_name, node.attr.value)]
    text = string_value(node)
    if text and "*" not in text:
        return [(None, part) for part in text.split(".")]
    return None


class TracksLoads:
    """Mixin for rules: forwards the walker's hooks to a LoadTracker (`self.tracker`)."""

    def __init__(self, ctx):
        super().__init__(ctx)
        self.tracker = LoadTracker(ctx)

    def visit_Assign(self, node: cst.Assign) -> None:
        self.tracker.note_targets(node)

    def leave_Assign(self, node: cst.Assign) -> None:
        self.tracker.on_assign(node)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.tracker.note_targets(node)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None and self.ctx.in_async:
            self.tracker.bind(node.target, self.tracker.evaluate(node.value))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.tracker.bind(node.target, None)

    def visit_For(self, node: cst.For) -> None:
        self.tracker.on_for(node.target, node.iter)

    def _comprehension(self, node) -> None:
        # the element is walked before the `for` clauses: bind their targets first
        clause = node.for_in
        while clause is not None:
            self.tracker.on_for(clause.target, clause.iter)
            clause = clause.inner_for_in

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

    def visit_With(self, node: cst.With) -> None:
        for item in node.items:
            if item.asname is not None:
                self.tracker.bind(item.asname.name, None)

    def visit_Call(self, node: cst.Call) -> None:
        if self.tracker.frames:
            self.tracker.on_refresh(node)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.tracker.leave_function(node)

