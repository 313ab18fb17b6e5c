"""Every static rule, one module each. Add a new rule's class to RULES."""
from __future__ import annotations

from ..rule import Rule
from .sqa201_query_on_async_session import QueryOnAsyncSession
from .sqa401_lazy_load_in_async import LazyLoadInAsync
from .sqa402_lazy_load_in_response import LazyLoadInResponse
from .sqa501_sync_session_in_async import SyncSessionInAsync
from .sqa502_blocking_call_in_async import BlockingCallInAsync

RULES: tuple[type[Rule], ...] = (
    QueryOnAsyncSession,
    LazyLoadInAsync,
    LazyLoadInResponse,
    SyncSessionInAsync,
    BlockingCallInAsync,
)
