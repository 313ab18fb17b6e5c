"""The reference app works: its correct routes behave, on aiosqlite and on PostgreSQL."""
import asyncio

import httpx

from .bookshop import serve


async def _crud(client: httpx.AsyncClient) -> None:
    author = (await client.post("/authors", json={"name": "Ursula"})).json()
    book = await client.post(f"/authors/{author['id']}/books", json={"title": "Earthsea", "price_cents": 900})
    assert book.status_code == 201, book.text
    book_id = book.json()["id"]

    got = (await client.get(f"/authors/{author['id']}")).json()
    assert [b["title"] for b in got["books"]] == ["Earthsea"]
    assert (await client.get(f"/authors/{author['id']}/titles")).json() == ["Earthsea"]
    listed = (await client.get("/books")).json()
    assert any(b["id"] == book_id and b["author"]["name"] == "Ursula" for b in listed)
    assert (await client.get(f"/books/{book_id}")).json()["author"]["id"] == author["id"]

    patched = await client.patch(f"/books/{book_id}", json={"price_cents": 1200})
    assert patched.json()["price_cents"] == 1200
    csv = await client.get("/export/books.csv")
    assert f"{book_id},Earthsea,1200" in csv.text
    stats = (await client.get("/stats")).json()
    assert stats["authors"] >= 1 and stats["books"] >= 1
    assert (await client.delete(f"/books/{book_id}")).status_code == 204
    assert (await client.get(f"/books/{book_id}")).status_code == 404
    assert (await client.get("/authors/999999")).status_code == 404


def test_correct_routes_work(bookshop):
    async def scenario():
        async with serve(bookshop, select="SQR303") as (client, _monitor):
            await _crud(client)
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            signup = await client.post("/signup", json={"email": "a@b.c", "password": "pw"})
            assert signup.status_code == 201

    asyncio.run(scenario())
