"""A small app for checking one behaviour at a time; lines the tests look for carry `# here: NAME`."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from sqlalchemy import ForeignKey, String, select, text
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Parent(Base):
    __tablename__ = "probe_parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    children: Mapped[list["Child"]] = relationship(back_populates="parent")


class Child(Base):
    __tablename__ = "probe_children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("probe_parents.id"))
    parent: Mapped[Parent] = relationship(back_populates="children")


def here(name: str) -> int:
    """The line of this file marked `# here: name`."""
    for lineno, line in enumerate(Path(__file__).read_text().splitlines(), start=1):
        if line.rstrip().endswith(f"# here: {name}"):
            return lineno
    raise LookupError(name)


def build(url: str, http_middleware: bool = False):
    engine = create_async_engine(url)
    factory = async_sessionmaker(engine, expire_on_commit=False)
    expiring = async_sessionmaker(engine)  # noqa: SQA205 (expire_on_commit=True on purpose)
    started = asyncio.Event()

    @asynccontextmanager
    async def lifespan(app):
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)
    if http_middleware:
        # BaseHTTPMiddleware runs the endpoint in a task of its own.
        @app.middleware("http")
        async def add_header(request, call_next):
            response = await call_next(request)
            response.headers["x-probe"] = "1"
            return response

    async def get_session():
        async with factory() as session:
            yield session

    @app.post("/parents")
    async def create_parent(children: int = 2, session: AsyncSession = Depends(get_session)):
        parent = Parent(name="p", children=[Child() for _ in range(children)])
        session.add(parent)
        await session.commit()
        return {"id": parent.id}

    @app.get("/lazy/{pid}")
    async def lazy(pid: int, session: AsyncSession = Depends(get_session)):
        parent = await session.get(Parent, pid)
        return len(parent.children)  # noqa: SQA401  # here: lazy

    @app.get("/run-sync/{pid}")
    async def run_sync(pid: int, session: AsyncSession = Depends(get_session)):
        parent = await session.get(Parent, pid)
        return await session.run_sync(lambda _s: len(parent.children))  # here: run_sync

    @app.get("/run-sync-many")
    async def run_sync_many(session: AsyncSession = Depends(get_session)):
        parents = (await session.scalars(select(Parent))).all()

        def count(_s):
            return sum(len(p.children) for p in parents)  # here: n_plus_one

        return await session.run_sync(count)

    @app.get("/expired/{pid}")
    async def expired(pid: int):
        async with expiring() as session:
            parent = await session.get(Parent, pid)
            parent.name = "renamed"
            await session.commit()
            return parent.name  # here: expired

    @app.get("/explicit/{pid}")
    async def explicit(pid: int):
        async with expiring() as session:
            parent = await session.get(Parent, pid)
            parent.name = "again"
            await session.commit()
            await session.refresh(parent)
            await session.refresh(parent, ["children"])
            one = await parent.awaitable_attrs.children
            eager = (await session.scalars(select(Parent).options(selectinload(Parent.children)))).all()
            return {"name": parent.name, "n": len(one), "total": sum(len(p.children) for p in eager)}

    @app.get("/leak-and-wait")
    async def leak_and_wait(wait: float = 0):
        session = factory()  # noqa: SQA303
        await session.execute(text("SELECT 1"))  # here: leak_and_wait
        started.set()
        await asyncio.sleep(wait)
        return {}

    @app.get("/leak")
    async def leak():
        session = factory()  # noqa: SQA303
        await session.execute(text("SELECT 1"))  # here: leak
        return {}

    @app.get("/cpu")
    async def cpu():
        # A fixed amount of work, not a wall-clock deadline: time the OS keeps the loop thread
        # off the CPU is not counted as a stall.
        total = sum(i * i for i in range(6_000_000))  # here: cpu_loop
        return {"total": total}

    app.state.started = started
    return app, engine
