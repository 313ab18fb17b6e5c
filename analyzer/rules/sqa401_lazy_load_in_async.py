from __future__ import annotations

import libcst as cst

from ..loading import TracksLoads
from ..rule import Rule

_MODELS = """\
from sqlalchemy import ForeignKey, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload, joinedload

class Base(DeclarativeBase):
    pass

class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    addresses: Mapped[list["Address"]] = relationship(back_populates="user")
    orders: Mapped[list["Order"]] = relationship(lazy="selectin")

class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user: Mapped["User"] = relationship(back_populates="addresses")

class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
"""


class LazyLoadInAsync(TracksLoads, Rule):
    code = "SQA401"
    name = "lazy-load-in-async"
    message = "lazy relationship read in async code raises MissingGreenlet"
    explain = """\
What it does: in async code, flags reading a relationship attribute on an ORM object that the same
function loaded (`await session.get(Model, id)`, `await session.scalar(select(Model)...)`,
`(await session.execute(select(Model))).scalars().first()/.all()` and the elements of those in a
loop), when the relationship is lazy "select" (the default) and the query had no eager option for it
(`selectinload`, `joinedload`, `subqueryload`, `immediateload`, also chained).

Why it breaks: a lazy load runs SQL on first attribute access, synchronously, which the asyncio
extension cannot do outside a greenlet:
    sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_only() here. Was IO attempted in an unexpected place?

Instead: load it with the query (`select(User).options(selectinload(User.addresses))`, or
`session.get(User, id, options=[selectinload(User.addresses)])`), configure the relationship with
`lazy="selectin"`, or await it explicitly: `await user.awaitable_attrs.addresses` (AsyncAttrs).
Objects whose loading the analyzer cannot see (parameters, values returned by other functions) are
not flagged.
"""
    valid = (
        _MODELS + """
async def with_eager(session: AsyncSession, user_id: int):
    stmt = select(User).where(User.id == user_id).options(selectinload(User.addresses))
    user = (await session.execute(stmt)).scalar_one()
    return [a.id for a in user.addresses]
""",
        _MODELS + """
async def selectin_configured(session: AsyncSession, user_id: int):
    user = await session.get(User, user_id)
    return len(user.orders)  # lazy="selectin": loaded with the user
""",
        _MODELS + """
async def awaitable(session: AsyncSession, user_id: int):
    user = await session.get(User, user_id)
    return await user.awaitable_attrs.addresses
""",
        _MODELS + """
async def not_loaded_here(user: User):
    return user.addresses  # a parameter: the analyzer cannot see how it was loaded

def sync_code(session, user_id):
    user = session.get(User, user_id)
    return user.addresses  # sync code: lazy loading works
""",
        _MODELS + """
async def chained(session: AsyncSession):
    stmt = select(Address).options(joinedload(Address.user).selectinload(User.addresses))
    for address in (await session.scalars(stmt)).all():
        print(address.user.addresses)
""",
    )
    invalid = (
        _MODELS + """
async def by_id(session: AsyncSession, user_id: int):
    user = await session.get(User, user_id)
    return user.addresses  # error: SQA401
""",
        _MODELS + """
async def listing(session: AsyncSession):
    result = await session.execute(select(User).order_by(User.id))
    for user in result.scalars().all():
        print(user.addresses)  # error: SQA401
""",
        _MODELS + """
async def scalar(session: AsyncSession, address_id: int):
    address = await session.scalar(select(Address).where(Address.id == address_id))
    return address.user  # error: SQA401
""",
        _MODELS + """
async def wrong_option(session: AsyncSession):
    stmt = select(Address).options(selectinload(Address.user))
    for address in await session.scalars(stmt):
        names = [a.id for a in address.user.addresses]  # error: SQA401
""",
    )

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if not self.tracker.frames or not self.ctx.in_async:
            return
        found = self.tracker.lazy_read(node)
        if found is None:
            return
        loaded, rel = found
        model = loaded.model.name
        what = "assigning the lazy collection" if id(node) in self.tracker.targets else "reading the lazy relationship"
        self.report(node, f"{what} `{model}.{rel.name}` in async code (the object came from {loaded.origin} "
                          f"without an eager option for it) lazy-loads: MissingGreenlet; add "
                          f"`selectinload({model}.{rel.name})` to the query's options or "
                          f"`await obj.awaitable_attrs.{rel.name}`")
