"""The first pass: what a module defines at its top level, as symbolic values.

Only module-level statements, class bodies and function bodies' bindings/returns/calls are read;
the rules' walk comes later, once every module's facts are in the project index.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import libcst as cst

from .imports import import_bindings
from .traverse import calls_and_yield
from .values import Call, Param, Ref, Value, dotted_name, to_value


@dataclass
class FuncInfo:
    name: str
    is_async: bool
    params: tuple[tuple[str, Param], ...]
    returns: tuple[Value, ...]  # the values of its `return`/`yield` expressions
    is_generator: bool
    return_annotation: Optional[Value]
    decorators: tuple[Value, ...]
    calls: tuple[Value, ...]  # what it calls (the callee of each call), bodies of nested defs excluded
    # the decorators `decorators` could not resolve (builtins such as `staticmethod`, "?" for an
    # expression): rules that must know no decorator replaced the function look at these too
    unresolved_decorators: tuple[str, ...] = ()


@dataclass
class ClassInfo:
    name: str
    bases: tuple[Value, ...]
    keywords: tuple[tuple[str, Value], ...]
    attrs: dict[str, Value] = field(default_factory=dict)  # class-body `x = ...`
    annotations: dict[str, Value] = field(default_factory=dict)  # class-body `x: T`
    methods: dict[str, FuncInfo] = field(default_factory=dict)
    self_attrs: dict[str, Value] = field(default_factory=dict)  # `self.x = ...` in __init__


Symbol = Union[Value, FuncInfo, ClassInfo]


@dataclass
class ModuleFacts:
    path: str
    symbols: dict[str, Symbol] = field(default_factory=dict)
    names: frozenset[str] = frozenset()  # every module-level name, bound to a known value or not


def module_names(module: cst.Module) -> set[str]:
    """Every name bound at module level (for resolving references before their definition)."""
    names: set[str] = set()
    for stmt in _flatten(module.body):
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            names.add(stmt.name.value)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    for target in small.targets:
                        if isinstance(target.target, cst.Name):
                            names.add(target.target.value)
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    names.add(small.target.value)
                elif isinstance(small, (cst.Import, cst.ImportFrom)):
                    names.update(local for local, _ in import_bindings(small, ""))
    return names


def _flatten(body) -> list:
    """Module-level statements, looking inside `if`/`try` blocks (TYPE_CHECKING, import fallbacks)."""
    out = []
    for stmt in body:
        if isinstance(stmt, cst.If):
            out.extend(_flatten(stmt.body.body))
            orelse = stmt.orelse
            while orelse is not None:
                out.extend(_flatten(orelse.body.body))
                orelse = orelse.orelse if isinstance(orelse, cst.If) else None
        elif isinstance(stmt, cst.Try):
            out.extend(_flatten(stmt.body.body))
            for handler in stmt.handlers:
                out.extend(_flatten(handler.body.body))
        else:
            out.append(stmt)
    return out


class _ModuleResolver:
    def __init__(self, path: str, names: set[str]):
        self.path = path
        self.names = names

    def __call__(self, name: str) -> Optional[Value]:
        if name in self.names:
            return Ref(f"{self.path}::{name}", self.path)
        return None


class _LocalResolver:
    """Names inside a function body: its own bindings first, then the module's."""

    def __init__(self, outer, bindings: dict[str, Value]):
        self.outer = outer
        self.bindings = bindings

    def __call__(self, name: str) -> Optional[Value]:
        if name in self.bindings:
            return self.bindings[name]
        return self.outer(name)


def param_bindings(params: cst.Parameters, resolve) -> list[tuple[str, Param]]:
    out = []
    every = list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
    for p in every:
        annotation = to_value(p.annotation.annotation, resolve) if p.annotation else None
        default = to_value(p.default, resolve) if p.default is not None else None
        out.append((p.name.value, Param(annotation, default)))
    return out


def function_info(node: cst.FunctionDef, resolve) -> FuncInfo:
    params = param_bindings(node.params, resolve)
    bindings: dict[str, Value] = dict(params)
    local = _LocalResolver(resolve, bindings)
    returns: list[Value] = []
    state = {"generator": False}
    _scan_body(node.body, local, bindings, returns, state)
    calls = []
    call_nodes, has_yield = calls_and_yield(node.body)
    for call in call_nodes:
        callee = to_value(call.func, local)
        if callee is not None:
            calls.append(callee)
    return FuncInfo(
        name=node.name.value,
        is_async=node.asynchronous is not None,
        params=tuple(params),
        returns=tuple(returns),
        is_generator=state["generator"] or has_yield,
        return_annotation=to_value(node.returns.annotation, resolve) if node.returns else None,
        decorators=tuple(v for d in node.decorators if (v := to_value(d.decorator, resolve)) is not None),
        calls=tuple(calls),
        unresolved_decorators=tuple(
            _decorator_text(d.decorator) for d in node.decorators if to_value(d.decorator, resolve) is None),
    )


def _decorator_text(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Call):
        node = node.func
    return dotted_name(node) or "?"


def _scan_body(block, resolve, bindings, returns, state) -> None:
    body = block.body if hasattr(block, "body") else block
    if not isinstance(body, (list, tuple)):
        return
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                _scan_small(small, resolve, bindings, returns, state)
        elif isinstance(stmt, cst.With):
            for item in stmt.items:
                if item.asname is not None and isinstance(item.asname.name, cst.Name):
                    value = to_value(item.item, resolve)
                    if value is not None:
                        bindings[item.asname.name.value] = value
            _scan_body(stmt.body, resolve, bindings, returns, state)
        elif isinstance(stmt, (cst.If, cst.For, cst.While)):
            _scan_body(stmt.body, resolve, bindings, returns, state)
            orelse = stmt.orelse
            while orelse is not None:
                _scan_body(orelse.body, resolve, bindings, returns, state)
                orelse = orelse.orelse if isinstance(orelse, cst.If) else None
        elif isinstance(stmt, cst.Try):
            _scan_body(stmt.body, resolve, bindings, returns, state)
            for handler in stmt.handlers:
                _scan_body(handler.body, resolve, bindings, returns, state)
            if stmt.orelse is not None:
                _scan_body(stmt.orelse.body, resolve, bindings, returns, state)
            if stmt.finalbody is not None:
                _scan_body(stmt.finalbody.body, resolve, bindings, returns, state)


def _scan_small(small, resolve, bindings, returns, state) -> None:
    if isinstance(small, cst.Assign):
        value = to_value(small.value, resolve)
        for target in small.targets:
            if isinstance(target.target, cst.Name):
                if value is None:
                    bindings.pop(target.target.value, None)
                else:
                    bindings[target.target.value] = value
    elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value is not None:
        value = to_value(small.value, resolve)
        if value is not None:
            bindings[small.target.value] = value
    elif isinstance(small, cst.Return) and small.value is not None:
        value = to_value(small.value, resolve)
        if value is not None:
            returns.append(value)
    elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Yield):
        state["generator"] = True
        if isinstance(small.value.value, cst.BaseExpression):
            value = to_value(small.value.value, resolve)
            if value is not None:
                returns.append(value)


class _BuiltinsResolver:
    """Class-body annotations also keep builtin generics (`list["Address"]`, `list[ItemOut]`):
    ORM relationships and response schemas are read from them."""

    _NAMES = frozenset({"list", "set", "frozenset", "tuple", "dict", "type"})

    def __init__(self, outer):
        self.outer = outer

    def __call__(self, name: str) -> Optional[Value]:
        value = self.outer(name)
        if value is None and name in self._NAMES:
            return Ref(f"builtins.{name}", "")
        return value


def class_info(node: cst.ClassDef, resolve) -> ClassInfo:
    info = ClassInfo(
        name=node.name.value,
        bases=tuple(v for a in node.bases if (v := to_value(a.value, resolve)) is not None),
        keywords=tuple(
            (a.keyword.value, v) for a in node.keywords
            if a.keyword is not None and (v := to_value(a.value, resolve)) is not None
        ),
    )
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
    for stmt in body:
        if isinstance(stmt, cst.FunctionDef):
            method = function_info(stmt, resolve)
            info.methods[method.name] = method
            if method.name == "__init__":
                info.self_attrs.update(_self_assignments(stmt, resolve))
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and (value := to_value(small.value, resolve)) is not None:
                    for target in small.targets:
                        if isinstance(target.target, cst.Name):
                            info.attrs[target.target.value] = value
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    name = small.target.value
                    annotation = to_value(small.annotation.annotation, _BuiltinsResolver(resolve))
                    if annotation is not None:
                        info.annotations[name] = annotation
                    if small.value is not None and (value := to_value(small.value, resolve)) is not None:
                        info.attrs[name] = value
    return info


def _self_assignments(init: cst.FunctionDef, resolve) -> dict[str, Value]:
    params = param_bindings(init.params, resolve)
    bindings: dict[str, Value] = dict(params)
    local = _LocalResolver(resolve, bindings)
    out: dict[str, Value] = {}
    body = init.body.body if isinstance(init.body, cst.IndentedBlock) else ()
    for stmt in body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, cst.Assign):
                continue
            value = to_value(small.value, local)
            for target in small.targets:
                t = target.target
                if (isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name)
                        and t.value.value == "self" and value is not None):
                    out[t.attr.value] = value
                elif isinstance(t, cst.Name) and value is not None:
                    bindings[t.value] = value
    return out


def extract_facts(module: cst.Module, path: str) -> ModuleFacts:
    names = module_names(module)
    resolve = _ModuleResolver(path, names)
    facts = ModuleFacts(path, names=frozenset(names))
    symbols = facts.symbols
    for stmt in _flatten(module.body):
        if isinstance(stmt, cst.FunctionDef):
            symbols[stmt.name.value] = function_info(stmt, resolve)
        elif isinstance(stmt, cst.ClassDef):
            symbols[stmt.name.value] = class_info(stmt, resolve)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    symbols.update(import_bindings(small, path))
                elif isinstance(small, cst.Assign):
                    value = to_value(small.value, resolve)
                    for target in small.targets:
                        if isinstance(target.target, cst.Name) and value is not None:
                            symbols[target.target.value] = value
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    if small.value is not None:
                        value = to_value(small.value, resolve)
                    else:
                        annotation = to_value(small.annotation.annotation, resolve)
                        value = Param(annotation, None) if annotation is not None else None
                    if value is not None:
                        symbols[small.target.value] = value
    return facts


__all__ = ["ClassInfo", "FuncInfo", "ModuleFacts", "Symbol", "extract_facts", "function_info",
           "class_info", "param_bindings", "module_names", "Call"]
