"""One walk per file: scope tracking plus dispatch of every node to the rules that want it.

Rules define `visit_<Node>` / `leave_<Node>` methods (libcst class names). The context keeps the
scopes (module, class, function) and the names bound in them as symbolic values, so that any
rule can ask `ctx.kind(expr)`: is this an AsyncSession, an AsyncEngine, a sync Session, ...
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import libcst as cst

from . import kinds as K
from .facts import FuncInfo, ModuleFacts, param_bindings
from .imports import import_bindings
from .index import ProjectIndex
from .rule import Rule
from .traverse import children
from .values import Ref, Value, to_value


@dataclass
class Scope:
    node: Optional[cst.CSTNode]
    kind: str  # "module" | "class" | "function" | "lambda"
    is_async: bool = False
    bindings: dict[str, Optional[Value]] = field(default_factory=dict)
    globals_: set[str] = field(default_factory=set)
    self_name: Optional[str] = None  # the first parameter of a method
    class_name: Optional[str] = None  # for a method: its class (module-level classes only)


@dataclass
class RawFinding:
    rule: Rule
    node: cst.CSTNode
    message: str


class FileContext:
    def __init__(self, path: str, module: cst.Module, facts: ModuleFacts, index: ProjectIndex):
        self.path = path
        self.module = module
        self.facts = facts
        self.index = index
        self.scopes: list[Scope] = [Scope(module, "module")]
        self.raw: list[RawFinding] = []

    # ---- what rules ask ------------------------------------------------------------------------
    @property
    def scope(self) -> Scope:
        return self.scopes[-1]

    @property
    def function(self) -> Optional[Scope]:
        """The innermost function (or lambda) scope, or None at module/class level."""
        for scope in reversed(self.scopes):
            if scope.kind in ("function", "lambda"):
                return scope
        return None

    @property
    def in_async(self) -> bool:
        """Directly in the body of an `async def` (not a nested def or lambda inside it)."""
        function = self.function
        return function is not None and function.is_async

    def resolve_name(self, name: str) -> Optional[Value]:
        innermost = self.scopes[-1]
        for scope in reversed(self.scopes):
            if scope.kind == "class" and scope is not innermost:
                continue  # class bodies do not enclose their methods
            if name in scope.globals_:
                break
            if scope.kind == "module":
                break
            if name in scope.bindings:
                value = scope.bindings[name]
                if value is None and scope.self_name == name and scope.class_name:
                    return Ref(f"{self.path}::{scope.class_name}.__self__", self.path)
                return value
        if name in self.facts.names:
            return Ref(f"{self.path}::{name}", self.path)
        return None

    def value(self, node: cst.BaseExpression) -> Optional[Value]:
        return to_value(node, self.resolve_name)

    def kind(self, node: cst.BaseExpression) -> Optional[str]:
        return self.index.kind(self.value(node))

    def external_name(self, node: cst.BaseExpression) -> Optional[str]:
        """The library's dotted name for `node` (`time.sleep` for `from time import sleep; sleep`)."""
        return self.index.external_name(self.value(node))

    def project_function(self, node: cst.BaseExpression) -> Optional[FuncInfo]:
        return self.index.function(self.value(node))

    def is_route_handler(self, node: cst.FunctionDef) -> bool:
        """Decorated with `@app.get(...)`, `@router.post(...)` and the like."""
        for decorator in node.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call) and K.is_route_decorator(self.kind(expr.func)):
                return True
        return False

    def report(self, rule: Rule, node: cst.CSTNode, message: str) -> None:
        self.raw.append(RawFinding(rule, node, message))

    # ---- scope maintenance ----------------------------------------------------------------------
    def bind(self, name: str, value: Optional[Value]) -> None:
        scope = self.scope
        if scope.kind in ("module",) or name in scope.globals_:
            return  # module-level bindings come from the facts
        scope.bindings[name] = value

    def bind_target(self, target: cst.BaseExpression, value: Optional[Value]) -> None:
        if isinstance(target, cst.Name):
            self.bind(target.value, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self.bind_target(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self.bind_target(target.value, None)

    def enter_function(self, node: cst.FunctionDef | cst.Lambda) -> None:
        outer = self.scope
        if isinstance(node, cst.Lambda):
            scope = Scope(node, "lambda")
        else:
            scope = Scope(node, "function", is_async=node.asynchronous is not None)
        for name, param in param_bindings(node.params, self.resolve_name):
            scope.bindings[name] = param if (param.annotation or param.default) else None
        if outer.kind == "class" and isinstance(node, cst.FunctionDef) and len(self.scopes) == 2:
            params = list(node.params.posonly_params) + list(node.params.params)
            if params and not _is_static(node):
                scope.self_name = params[0].name.value
                scope.class_name = outer.node.name.value if isinstance(outer.node, cst.ClassDef) else None
                scope.bindings[scope.self_name] = None
        self.scopes.append(scope)

    def leave_scope(self) -> None:
        self.scopes.pop()


def _is_static(node: cst.FunctionDef) -> bool:
    for decorator in node.decorators:
        if isinstance(decorator.decorator, cst.Name) and decorator.decorator.value in ("staticmethod", "classmethod"):
            return True
    return False


# The node classes Walker._after handles; the walk skips the way out of every other node that no
# rule has a leave_ hook for.
_AFTER_TYPES = frozenset({cst.Assign, cst.AnnAssign, cst.AugAssign, cst.FunctionDef, cst.ClassDef, cst.Import,
                          cst.ImportFrom, cst.Global, cst.Nonlocal})


class Walker:
    """Walks one module once, keeping the context's scopes and calling each rule's hooks."""

    def __init__(self, ctx: FileContext, rules: list[Rule]):
        self.ctx = ctx
        self.visits: dict[type, list] = {}
        self.leaves: dict[type, list] = {}
        for rule in rules:
            for attr in dir(type(rule)):
                if attr.startswith("visit_") or attr.startswith("leave_"):
                    node_type = getattr(cst, attr[6:], None)
                    if isinstance(node_type, type):
                        table = self.visits if attr[0] == "v" else self.leaves
                        table.setdefault(node_type, []).append(getattr(rule, attr))

    def walk(self, module: cst.Module) -> None:
        _ENTER, _LEAVE, _SCOPE_OUT, _CALL = 0, 1, 2, 3
        ctx = self.ctx
        visits, leaves = self.visits, self.leaves
        after_types = _AFTER_TYPES
        stack: list[tuple[int, object]] = [(_ENTER, module)]
        while stack:
            action, item = stack.pop()
            if action == _SCOPE_OUT:
                ctx.leave_scope()
                continue
            if action == _CALL:
                item()
                continue
            node = item
            cls = type(node)
            if action == _LEAVE:
                for hook in leaves.get(cls, ()):
                    hook(node)
                self._after(node)
                continue
            for hook in visits.get(cls, ()):
                hook(node)
            if cls in after_types or cls in leaves:  # most nodes need nothing on the way out
                stack.append((_LEAVE, node))
            if cls is cst.FunctionDef or cls is cst.Lambda:
                # decorators, defaults and annotations belong to the enclosing scope; the body to its own
                stack.append((_SCOPE_OUT, None))
                stack.append((_ENTER, node.body))
                stack.append((_CALL, lambda n=node: ctx.enter_function(n)))
                outer = [c for c in children(node) if c is not node.body]
                for child in reversed(outer):
                    stack.append((_ENTER, child))
                continue
            if cls is cst.ClassDef:
                stack.append((_SCOPE_OUT, None))
                stack.append((_ENTER, node.body))
                stack.append((_CALL, lambda n=node: ctx.scopes.append(Scope(n, "class"))))
                for child in reversed([c for c in children(node) if c is not node.body]):
                    stack.append((_ENTER, child))
                continue
            if cls is cst.With:
                self._bind_with(node)
            elif cls is cst.For:
                ctx.bind_target(node.target, None)
            elif cls is cst.ExceptHandler and node.name is not None:
                ctx.bind_target(node.name.name, None)
            for child in reversed(list(children(node))):
                stack.append((_ENTER, child))

    def _bind_with(self, node: cst.With) -> None:
        for item in node.items:
            if item.asname is not None:
                self.ctx.bind_target(item.asname.name, self.ctx.value(item.item))

    def _after(self, node: cst.CSTNode) -> None:
        # (the walk calls this only for _AFTER_TYPES: add a class there when handling a new one here)
        """Bindings take effect once their statement has been visited."""
        ctx = self.ctx
        cls = type(node)
        if cls is cst.Assign:
            value = ctx.value(node.value)
            for target in node.targets:
                ctx.bind_target(target.target, value)
        elif cls is cst.AnnAssign:
            if node.value is not None:
                ctx.bind_target(node.target, ctx.value(node.value))
        elif cls is cst.AugAssign:
            ctx.bind_target(node.target, None)
        elif cls is cst.FunctionDef or cls is cst.ClassDef:
            ctx.bind(node.name.value, None)
        elif cls is cst.Import or cls is cst.ImportFrom:
            for name, ref in import_bindings(node, ctx.path):
                ctx.bind(name, ref)
        elif cls is cst.Global or cls is cst.Nonlocal:
            for item in node.names:
                ctx.scope.globals_.add(item.name.value)
