"""The runtime checks' catalog: pure data, importable without sqlalchemy or starlette.

`sqlaguard rules` and `sqlaguard explain` read it, so it must stay import-free.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeCheck:
    code: str
    name: str
    summary: str
    explain: str
    default: bool = True


RUNTIME_CHECKS: tuple[RuntimeCheck, ...] = (
    RuntimeCheck(
        "SQR501",
        "loop-blocked",
        "The event loop stalled for at least the threshold (default 100 ms)",
        """\
What it does: watches the event loop from a helper thread; when the loop does not
come back within the threshold, it samples the loop thread's stack while the stall
lasts and reports the blocking line, the duration and the request.

Why it breaks: one blocked loop freezes every request the worker is serving, not
just the one that blocked.

Instead: await an async API, or move the work off the loop with
`await asyncio.to_thread(fn)` / `await run_in_threadpool(fn)`.
""",
    ),
    RuntimeCheck(
        "SQR502",
        "blocking-call",
        "A known blocking call made on the event-loop thread",
        """\
What it does: reports sync DB-API drivers (sqlite3, psycopg2, psycopg, pymysql), sync
SQLAlchemy Session/Connection execution, time.sleep and requests when they run on
the event-loop thread, even when they are fast.

Why it breaks: a query that takes a millisecond on a laptop takes seconds under
production load, and the whole server waits for it.

Instead: an async driver and AsyncSession, asyncio.sleep, httpx.AsyncClient, or
asyncio.to_thread for code that must stay sync.
""",
    ),
    RuntimeCheck(
        "SQR401",
        "lazy-load",
        "An implicit load (lazy relationship or expired attribute) during a request",
        """\
What it does: reports every implicit load during a request, with Model.attribute,
the SQL and the line of code that read the attribute.

Why it breaks: in async code the load cannot await, and SQLAlchemy raises
sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call
await_only() here.

Instead: load it eagerly, select(Model).options(selectinload(Model.attribute)), or
read it with `await obj.awaitable_attrs.attribute`.
""",
    ),
    RuntimeCheck(
        "SQR402",
        "n-plus-one",
        "The same lazy load repeated N times (default 5) in one request",
        """\
What it does: counts lazy loads of the same attribute from the same line in one
request and reports when they reach the threshold.

Why it breaks: one query per row turns a page of 100 rows into 101 round trips.

Instead: selectinload / joinedload the relationship in the query that loads the rows.
""",
    ),
    RuntimeCheck(
        "SQR301",
        "session-shared",
        "One AsyncSession used by two requests, or by two tasks at once",
        """\
What it does: records which request and task use each AsyncSession and reports a
session seen in two requests, or in two tasks at the same time.

Why it breaks: an AsyncSession is not safe for concurrent use. On asyncpg it raises
"This session is provisioning a new connection; concurrent operations are not
permitted"; on aiosqlite it can corrupt silently.

Instead: one session per request, from an async_sessionmaker in a yield dependency.
""",
    ),
    RuntimeCheck(
        "SQR303",
        "connection-leak",
        "Pool connections or sessions still open after the request finished",
        """\
What it does: after a request and its background tasks finish, reports pool
connections checked out during it that are still checked out, and sessions it
opened that were never closed.

Why it breaks: each leaked connection is gone from the pool until garbage
collection; under load the pool runs dry and requests time out with
"QueuePool limit of size 5 overflow 10 reached, connection timed out".

Instead: `async with factory() as session:` or a yield dependency.
""",
    ),
    RuntimeCheck(
        "SQR202",
        "coroutine-never-awaited",
        "A coroutine created during a request was never awaited",
        """\
What it does: reports Python's "coroutine ... was never awaited" RuntimeWarning raised
while a request is handled, with the line that created the coroutine.

Why it breaks: the call did nothing: a commit that never ran, a query never sent.

Instead: await it, or hand it to asyncio.create_task / asyncio.gather.
""",
    ),
)
