"""What happens to a session bound to a local name inside one function body: closed on every
path, closed only on the normal path, handed elsewhere (escapes), or never closed.

Read once per function that creates a session (rare), not per node.
"""
from __future__ import annotations

import libcst as cst

from .traverse import children

CLOSED = "closed"  # async with, or await close() in a finally
ESCAPES = "escapes"  # returned, stored, passed on, captured: its owner is elsewhere
CLOSED_NOT_FINALLY = "closed-not-finally"
OPEN = "open"

_CLOSERS = ("close", "aclose")
_NESTED = (cst.FunctionDef, cst.Lambda, cst.ClassDef)


class _Scan:
    def __init__(self, name: str):
        self.name = name
        self.closed = False
        self.escapes = False
        self.closed_elsewhere = False
        self.closed_in_handler = False  # `except: await s.close(); raise` plus a close after the try

    def is_name(self, node) -> bool:
        return isinstance(node, cst.Name) and node.value == self.name

    def run(self, body: cst.CSTNode) -> None:
        # (node, parent, in_finally, in_handler, nested)
        stack = [(body, None, False, False, False)]
        while stack and not self.escapes:
            node, parent, in_finally, in_handler, nested = stack.pop()
            if isinstance(node, cst.Name):
                if node.value == self.name and not self._harmless(node, parent, nested):
                    self.escapes = True
                continue
            if isinstance(node, cst.Await) and not nested and self._is_close(node.expression):
                if in_finally:
                    self.closed = True
                elif in_handler:
                    self.closed_in_handler = True
                else:
                    self.closed_elsewhere = True
            elif isinstance(node, cst.With) and node.asynchronous is not None and not nested:
                if any(self._uses(item.item) for item in node.items):
                    self.closed = True
            inner = nested or (isinstance(node, _NESTED) and node is not body)
            for child in children(node):
                if isinstance(node, cst.Try):
                    stack.append((child, node, in_finally or child is node.finalbody,
                                  in_handler or isinstance(child, cst.ExceptHandler), inner))
                else:
                    stack.append((child, node, in_finally, in_handler, inner))

    def _is_close(self, expr) -> bool:
        return (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
                and expr.func.attr.value in _CLOSERS and self.is_name(expr.func.value))

    def _uses(self, expr) -> bool:
        """`async with s:` / `async with s.begin():`"""
        if self.is_name(expr):
            return True
        return (isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute)
                and self.is_name(expr.func.value))

    def _harmless(self, node: cst.Name, parent, nested: bool) -> bool:
        if nested:
            return False  # a closure may run after this function returned
        if isinstance(parent, cst.Attribute) and parent.value is node:
            return True  # s.execute(...), s.add(...)
        if isinstance(parent, (cst.AssignTarget, cst.WithItem)):
            return True
        if isinstance(parent, cst.AnnAssign) and parent.target is node:
            return True
        if isinstance(parent, cst.Yield):
            return True  # a dependency yielding it is judged by whether it closes it
        return False


def session_fate(function: cst.FunctionDef, name: str) -> str:
    scan = _Scan(name)
    scan.run(function.body)
    if scan.escapes:
        return ESCAPES
    if scan.closed or (scan.closed_in_handler and scan.closed_elsewhere):
        return CLOSED
    if scan.closed_elsewhere or scan.closed_in_handler:
        return CLOSED_NOT_FINALLY
    return OPEN
