"""Every static rule, one module each. Add a new rule's class to RULES."""
from __future__ import annotations

from ..rule import Rule
from .sqa201_query_on_async_session import QueryOnAsyncSession
from .sqa202_missing_await import MissingAwait
from .sqa203_await_on_sync_method import AwaitOnSyncMethod
from .sqa204_sessionmaker_for_async import SessionmakerForAsync
from .sqa205_expire_on_commit import ExpireOnCommit
from .sqa206_refresh_pending import RefreshPending

RULES: tuple[type[Rule], ...] = (
    QueryOnAsyncSession,
    MissingAwait,
    AwaitOnSyncMethod,
    SessionmakerForAsync,
    ExpireOnCommit,
    RefreshPending,
)
