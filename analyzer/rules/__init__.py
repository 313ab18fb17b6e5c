"""Every static rule, one module each. Add a new rule's class to RULES."""
from __future__ import annotations

from ..rule import Rule
from .sqa101_sync_engine_in_async_app import SyncEngineInAsyncApp
from .sqa102_sync_driver_url import SyncDriverUrl
from .sqa103_sync_pool_with_async_engine import SyncPoolWithAsyncEngine
from .sqa104_engine_per_request import EnginePerRequest
from .sqa105_async_driver_in_sync_engine import AsyncDriverInSyncEngine
from .sqa106_asyncio_extra_missing import AsyncioExtraMissing
from .sqa201_query_on_async_session import QueryOnAsyncSession
from .sqa202_missing_await import MissingAwait
from .sqa203_await_on_sync_method import AwaitOnSyncMethod
from .sqa204_sessionmaker_for_async import SessionmakerForAsync
from .sqa205_expire_on_commit import ExpireOnCommit
from .sqa206_refresh_pending import RefreshPending
from .sqa301_shared_session_global import SharedSessionGlobal
from .sqa302_shared_session_app_state import SharedSessionAppState
from .sqa303_unclosed_session import UnclosedSession
from .sqa304_concurrent_session_use import ConcurrentSessionUse
from .sqa305_session_outlives_request import SessionOutlivesRequest
from .sqa401_lazy_load_in_async import LazyLoadInAsync
from .sqa402_lazy_load_in_response import LazyLoadInResponse
from .sqa501_sync_session_in_async import SyncSessionInAsync
from .sqa502_blocking_call_in_async import BlockingCallInAsync

RULES: tuple[type[Rule], ...] = (
    SyncEngineInAsyncApp,
    SyncDriverUrl,
    SyncPoolWithAsyncEngine,
    EnginePerRequest,
    AsyncDriverInSyncEngine,
    AsyncioExtraMissing,
    QueryOnAsyncSession,
    MissingAwait,
    AwaitOnSyncMethod,
    SessionmakerForAsync,
    ExpireOnCommit,
    RefreshPending,
    SharedSessionGlobal,
    SharedSessionAppState,
    UnclosedSession,
    ConcurrentSessionUse,
    SessionOutlivesRequest,
    LazyLoadInAsync,
    LazyLoadInResponse,
    SyncSessionInAsync,
    BlockingCallInAsync,
)
