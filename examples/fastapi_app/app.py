"""A notes service on pgjet: FastAPI, one pool per process, a connection per request.

Run it (with a PostgreSQL reachable at DATABASE_URL):

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        uvicorn --app-dir examples/fastapi_app app:app

The table is created at start-up. tests/test_fastapi_example.py drives this app.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Response
from pydantic import BaseModel, Field

import pgjet
from pgjet.fastapi import ConnectionDep, TransactionDep, health_endpoint, pool_lifespan

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title      text NOT NULL UNIQUE,
    body       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


class NoteIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=10_000)


class Note(NoteIn):
    id: int
    created_at: datetime


async def create_schema(pool: pgjet.Pool) -> None:
    await pool.execute(SCHEMA)


def create_app(
    dsn: str | None = None,
    *,
    min_size: int = 2,
    max_size: int = 5,
    health_timeout: float = 2.0,
) -> FastAPI:
    """The application; `dsn` defaults to $DATABASE_URL (unset: libpq's PG* variables)."""
    app = FastAPI(
        title="notes",
        lifespan=pool_lifespan(
            dsn or os.environ.get("DATABASE_URL"),
            min_size=min_size,
            max_size=max_size,
            on_open=create_schema,
            warm_up_query="SELECT id, title, body, created_at FROM notes WHERE id = 0",
        ),
    )
    app.add_api_route("/health", health_endpoint(timeout=health_timeout), methods=["GET"])

    @app.post("/notes", status_code=201)
    async def create_note(note: NoteIn, conn: TransactionDep) -> Note:
        try:
            row = await conn.fetchrow(
                "INSERT INTO notes (title, body) VALUES ($1, $2) RETURNING *",
                note.title,
                note.body,
            )
        except pgjet.UniqueViolationError:
            raise HTTPException(409, f"a note titled {note.title!r} exists") from None
        return Note(**dict(row))

    @app.get("/notes")
    async def list_notes(
        conn: ConnectionDep,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[Note]:
        rows = await conn.fetch("SELECT * FROM notes ORDER BY id LIMIT $1 OFFSET $2", limit, offset)
        return [Note(**dict(r)) for r in rows]

    @app.get("/notes/{note_id}")
    async def get_note(note_id: int, conn: ConnectionDep) -> Note:
        row = await conn.fetchrow("SELECT * FROM notes WHERE id = $1", note_id)
        if row is None:
            raise HTTPException(404, f"no note {note_id}")
        return Note(**dict(row))

    @app.put("/notes/{note_id}")
    async def update_note(note_id: int, note: NoteIn, conn: TransactionDep) -> Note:
        try:
            row = await conn.fetchrow(
                "UPDATE notes SET title = $2, body = $3 WHERE id = $1 RETURNING *",
                note_id,
                note.title,
                note.body,
            )
        except pgjet.UniqueViolationError:
            raise HTTPException(409, f"a note titled {note.title!r} exists") from None
        if row is None:
            raise HTTPException(404, f"no note {note_id}")
        return Note(**dict(row))

    @app.delete("/notes/{note_id}", status_code=204)
    async def delete_note(note_id: int, conn: ConnectionDep) -> Response:
        status = await conn.execute("DELETE FROM notes WHERE id = $1", note_id)
        if status == "DELETE 0":
            raise HTTPException(404, f"no note {note_id}")
        return Response(status_code=204)

    return app


app = create_app()
