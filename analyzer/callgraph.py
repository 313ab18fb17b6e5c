"""Blocking calls: which library calls block the event loop, and which project sync functions make
one, a few calls deep (`helper() -> fetch() -> requests.get`).

Computed over the facts' per-function call lists, memoised per checked file (one instance per rule
instance): a project-wide memo would hide from the cache which modules a file's result read.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from .facts import ClassInfo, FuncInfo
from .values import Attr, Call, Param, Ref, Value

if TYPE_CHECKING:
    from .index import ProjectIndex

BLOCKING_FUNCTIONS = frozenset({
    "time.sleep",
    "psycopg2.connect", "psycopg.connect", "psycopg.Connection.connect", "sqlite3.connect",
    "pymysql.connect", "MySQLdb.connect", "MySQLdb.Connect", "pymssql.connect", "pyodbc.connect",
    "urllib.request.urlopen", "urllib.request.urlretrieve",
    "requests.get", "requests.post", "requests.put", "requests.patch", "requests.delete", "requests.head",
    "requests.options", "requests.request",
    "requests.api.get", "requests.api.post", "requests.api.put", "requests.api.patch", "requests.api.delete",
    "requests.api.head", "requests.api.options", "requests.api.request",
    "httpx.get", "httpx.post", "httpx.put", "httpx.patch", "httpx.delete", "httpx.head", "httpx.options",
    "httpx.request", "httpx.stream",
})
# Sync HTTP clients: calling one of their request methods blocks.
SYNC_CLIENTS = frozenset({"requests.Session", "requests.session", "requests.sessions.Session", "httpx.Client"})
CLIENT_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request", "send",
                            "stream"})

_MAX_DEPTH = 8


class BlockingCalls:
    def __init__(self, index: "ProjectIndex"):
        self.index = index
        self._chains: dict[int, Optional[tuple[str, ...]]] = {}

    def library_call(self, callee: Optional[Value]) -> Optional[str]:
        """The dotted name of a blocking library call (`requests.get`, `httpx.Client.get`), or None."""
        if callee is None:
            return None
        external = self.index.external_name(callee)
        if external is not None:
            return external if external in BLOCKING_FUNCTIONS else None
        if isinstance(callee, Attr) and callee.name in CLIENT_METHODS:
            client = self._client(callee.base)
            return f"{client}.{callee.name}" if client else None
        if isinstance(callee, Ref):  # `self.client.get` / a module-level client's method
            head, _, method = callee.target.rpartition(".")
            if method in CLIENT_METHODS and head:
                client = self._client(Ref(head, callee.origin))
                return f"{client}.{method}" if client else None
        return None

    def _client(self, value: Value, depth: int = 0) -> Optional[str]:
        """`requests.Session()` / `httpx.Client()` (also through a module or `self.x` binding)."""
        if depth > 3:
            return None
        if isinstance(value, Call):
            name = self.index.external_name(value.func)
            return _client_name(name) if name in SYNC_CLIENTS else None
        if isinstance(value, Param) and value.annotation is not None:
            name = self.index.external_name(value.annotation)
            return _client_name(name) if name in SYNC_CLIENTS else None
        if isinstance(value, Ref):
            resolved = self.index.resolve(value)
            symbol, attrs = resolved.symbol, resolved.attrs
            if isinstance(symbol, ClassInfo) and len(attrs) == 2 and attrs[0] == "__self__":
                bound = symbol.self_attrs.get(attrs[1])
                return self._client(bound, depth + 1) if bound is not None else None
            if symbol is not None and not attrs and not isinstance(symbol, (FuncInfo, ClassInfo)):
                return self._client(symbol, depth + 1)
        return None

    def chain(self, func: FuncInfo, depth: int = 0) -> Optional[tuple[str, ...]]:
        """For a project sync function that blocks: the call chain from it to the blocking call,
        e.g. ("fetch()", "requests.get"); None when it does not block (as far as the analyzer sees)."""
        if func.is_async:
            return None
        key = id(func)
        if key in self._chains:
            return self._chains[key]
        self._chains[key] = None  # recursion guard
        found: Optional[tuple[str, ...]] = None
        for callee in func.calls:
            name = self.library_call(callee)
            if name is not None:
                found = (f"{func.name}()", name)
                break
        if found is None and depth < _MAX_DEPTH:
            for callee in func.calls:
                inner = self.index.function(callee)
                if inner is None or inner is func:
                    continue
                rest = self.chain(inner, depth + 1)
                if rest is not None:
                    found = (f"{func.name}()",) + rest
                    break
        self._chains[key] = found
        return found


def _client_name(name: str) -> str:
    return "httpx.Client" if name.startswith("httpx") else "requests.Session"

