"""Every static rule, one module each. Add a new rule's class to RULES."""
from __future__ import annotations

from ..rule import Rule
from .sqa201_query_on_async_session import QueryOnAsyncSession

RULES: tuple[type[Rule], ...] = (
    QueryOnAsyncSession,
)
