"""A minimal bookshop-like app, the benchmark's stand-in while fixtures/refapp is absent.

Same routes and database variable as the reference app's correct routes, so the benchmark
drives either one unchanged.
"""
import os
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, relationship, selectinload

engine = create_async_engine(os.getenv("BOOKSHOP_DATABASE_URL", "sqlite+aiosqlite:///./bench.db"))
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    books: Mapped[list["Book"]] = relationship(back_populates="author")


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    price_cents: Mapped[int] = mapped_column(default=0)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


class AuthorIn(BaseModel):
    name: str


class BookIn(BaseModel):
    title: str
    price_cents: int = 0


class BookOut(BaseModel):
    id: int
    title: str
    price_cents: int
    model_config = {"from_attributes": True}


class AuthorOut(BaseModel):
    id: int
    name: str
    model_config = {"from_attributes": True}


class AuthorWithBooks(AuthorOut):
    books: list[BookOut]


class BookWithAuthor(BookOut):
    author: AuthorOut


@asynccontextmanager
async def lifespan(app):
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


async def get_session():
    async with SessionLocal() as session:
        yield session


@app.post("/authors", response_model=AuthorOut, status_code=201)
async def create_author(payload: AuthorIn, session: AsyncSession = Depends(get_session)):
    author = Author(name=payload.name)
    session.add(author)
    await session.commit()
    return author


@app.post("/authors/{author_id}/books", response_model=BookOut, status_code=201)
async def create_book(author_id: int, payload: BookIn, session: AsyncSession = Depends(get_session)):
    book = Book(title=payload.title, price_cents=payload.price_cents, author_id=author_id)
    session.add(book)
    await session.commit()
    return book


@app.get("/authors/{author_id}", response_model=AuthorWithBooks)
async def get_author(author_id: int, session: AsyncSession = Depends(get_session)):
    author = await session.get(Author, author_id, options=[selectinload(Author.books)])
    if author is None:
        raise HTTPException(status_code=404)
    return author


@app.get("/authors/{author_id}/titles", response_model=list[str])
async def author_titles(author_id: int, session: AsyncSession = Depends(get_session)):
    author = await session.get(Author, author_id)
    if author is None:
        raise HTTPException(status_code=404)
    return [book.title for book in await author.awaitable_attrs.books]


@app.get("/books/{book_id}", response_model=BookWithAuthor)
async def get_book(book_id: int, session: AsyncSession = Depends(get_session)):
    book = await session.get(Book, book_id, options=[joinedload(Book.author)])
    if book is None:
        raise HTTPException(status_code=404)
    return book
