"""Every static rule, one module each. Add a new rule's class to RULES."""
from __future__ import annotations

from ..rule import Rule
from .sqa201_query_on_async_session import QueryOnAsyncSession
from .sqa301_shared_session_global import SharedSessionGlobal
from .sqa302_shared_session_app_state import SharedSessionAppState
from .sqa303_unclosed_session import UnclosedSession
from .sqa304_concurrent_session_use import ConcurrentSessionUse
from .sqa305_session_outlives_request import SessionOutlivesRequest

RULES: tuple[type[Rule], ...] = (
    QueryOnAsyncSession,
    SharedSessionGlobal,
    SharedSessionAppState,
    UnclosedSession,
    ConcurrentSessionUse,
    SessionOutlivesRequest,
)
