from __future__ import annotations

import libcst as cst

from ..callgraph import BlockingCalls
from ..rule import Rule


class BlockingCallInAsync(Rule):
    code = "SQA502"
    name = "blocking-call-in-async"
    message = "a blocking call in async code stalls the event loop"
    explain = """\
What it does: in the body of an `async def`, flags blocking calls: sync database drivers
(`psycopg2.connect`, `psycopg.connect`, `sqlite3.connect`, `pymysql.connect`, `MySQLdb.connect`),
`time.sleep`, `requests.*` and `requests.Session()` methods, `urllib.request.urlopen`, sync `httpx`
(`httpx.get`, `httpx.Client()` methods; `httpx.AsyncClient` is fine), also when they are made by a
project sync function the async code calls, a few calls deep: the message names the chain
(`helper() -> fetch() -> requests.get`). Any import alias counts (`from time import sleep as nap`).

Why it breaks: the event loop runs one thing at a time; a blocking call holds it for its whole
duration, so every other request, timer and health check waits. Nothing raises: latency climbs
and throughput collapses under load (the runtime checker reports it as SQR501 loop-blocked).

Instead: use the async equivalent (`await asyncio.sleep()`, `httpx.AsyncClient`, asyncpg /
psycopg's AsyncConnection through an async engine), or hand the sync function to a thread by
reference: `await run_in_threadpool(fn, arg)`, `await asyncio.to_thread(fn, arg)`,
`await loop.run_in_executor(None, fn, arg)`. Sync `def` routes already run in a thread pool.
"""
    valid = (
        """\
import asyncio
import time

import httpx

async def pause_and_fetch(url):
    await asyncio.sleep(1)
    async with httpx.AsyncClient() as client:
        return await client.get(url)

def sync_worker():
    time.sleep(1)  # not async: fine
""",
        """\
import asyncio
import requests
from fastapi.concurrency import run_in_threadpool

def fetch(url):
    return requests.get(url, timeout=5)

async def handler(url):
    first = await run_in_threadpool(fetch, url)
    second = await asyncio.to_thread(requests.get, url)
    loop = asyncio.get_running_loop()
    third = await loop.run_in_executor(None, lambda: requests.get(url))
    return first, second, third
""",
        """\
from fastapi import FastAPI
import time

app = FastAPI()

def format_row(row):
    return {"id": row.id}

@app.get("/slow")
def slow():
    time.sleep(0.5)  # a sync route: FastAPI runs it in a thread pool
    return format_row(None)

@app.get("/rows")
async def rows():
    return [format_row(r) for r in []]  # a sync helper that does not block
""",
    )
    invalid = (
        """\
import time

async def handler():
    time.sleep(1)  # error: SQA502
""",
        """\
from time import sleep as nap
import requests

async def handler(url):
    nap(0.5)  # error: SQA502
    return requests.get(url).json()  # error: SQA502
""",
        """\
import httpx
import requests

async def handler(url):
    with httpx.Client() as client:
        r = client.get(url)  # error: SQA502
    session = requests.Session()
    return session.post(url, json=r.json())  # error: SQA502
""",
        """\
import psycopg2
import requests

def fetch(url):
    return requests.get(url, timeout=5)

def helper(url):
    return fetch(url).json()

async def route(url):
    data = helper(url)  # error: SQA502
    conn = psycopg2.connect("dbname=app")  # error: SQA502
    return data, conn
""",
    )

    def __init__(self, ctx):
        super().__init__(ctx)
        self.calls = BlockingCalls(ctx.index)

    def visit_Call(self, node: cst.Call) -> None:
        if not self.ctx.in_async:
            return
        callee = self.ctx.value(node.func)
        if callee is None:
            return
        name = self.calls.library_call(callee)
        if name is not None:
            self.report(node, f"blocking call `{name}` in async code stalls the event loop; {_instead(name)}")
            return
        func = self.ctx.index.function(callee)
        if func is None or func.is_async:
            return
        chain = self.calls.chain(func)
        if chain is not None:
            self.report(node, f"`{func.name}()` blocks the event loop: {' -> '.join(chain)}; "
                              f"call it with `await run_in_threadpool({func.name}, ...)` or make it async")


def _instead(name: str) -> str:
    if name == "time.sleep":
        return "use `await asyncio.sleep(...)`"
    if name.startswith(("requests.", "httpx.", "urllib.")):
        return "use `httpx.AsyncClient`, or run the call in a thread (`await asyncio.to_thread(...)`)"
    return "use an async driver (asyncpg, psycopg's AsyncConnection, aiosqlite) or `await asyncio.to_thread(...)`"
