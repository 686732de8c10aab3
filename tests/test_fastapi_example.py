"""pgjet.fastapi and the example app (examples/fastapi_app), driven through httpx against
real servers: CRUD, errors, concurrent requests sharing the pool, warm-up, health."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException

import pgjet
from pgjet.fastapi import (
    POOL_STATE_KEY,
    ConnectionDep,
    TransactionDep,
    database_status,
    health_endpoint,
    open_pool,
    pool_lifespan,
)
from pgjet.testing import Cluster

from .conftest import find_installation

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fastapi_app" / "app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pgjet_fastapi_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def database_url(cluster: Any) -> str:
    name = f"fastapi_{uuid.uuid4().hex[:12]}"
    cluster.create_database(name)
    return str(cluster.dsn(database=name))


class Running:
    """An app with its lifespan entered, and an httpx client speaking ASGI to it."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def pool(self) -> pgjet.Pool:
        pool = getattr(self.app.state, POOL_STATE_KEY)
        assert isinstance(pool, pgjet.Pool)
        return pool

    def all_idle(self) -> bool:
        return self.pool.get_idle_size() == self.pool.get_size()


async def settle(pool: pgjet.Pool) -> None:
    # Releases finish in a task of their own; give them a moment.
    for _ in range(100):
        if pool.get_idle_size() == pool.get_size():
            return
        await asyncio.sleep(0.01)


async def running(app: FastAPI, raise_app_exceptions: bool = True) -> AsyncIterator[Running]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://app") as client,
    ):
        yield Running(app, client)


@pytest.fixture
async def notes(database_url: str) -> AsyncIterator[Running]:
    app = load_example().create_app(database_url, min_size=2, max_size=3)
    async for r in running(app):
        yield r


# -- the example app --------------------------------------------------------------------


async def test_crud(notes: Running) -> None:
    c = notes.client
    created = await c.post("/notes", json={"title": "first", "body": "hello"})
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["title"] == "first" and note["body"] == "hello" and note["id"] >= 1
    second = (await c.post("/notes", json={"title": "second"})).json()
    assert second["body"] == ""

    assert (await c.get(f"/notes/{note['id']}")).json() == note
    listed = (await c.get("/notes")).json()
    assert [n["title"] for n in listed] == ["first", "second"]
    assert [n["title"] for n in (await c.get("/notes", params={"offset": 1})).json()] == ["second"]

    updated = await c.put(f"/notes/{note['id']}", json={"title": "first!", "body": "edited"})
    assert updated.status_code == 200
    assert updated.json() == {**note, "title": "first!", "body": "edited"}

    deleted = await c.delete(f"/notes/{note['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert [n["id"] for n in (await c.get("/notes")).json()] == [second["id"]]
    await settle(notes.pool)
    assert notes.all_idle()


async def test_missing_notes_are_404(notes: Running) -> None:
    c = notes.client
    for response in (
        await c.get("/notes/999"),
        await c.put("/notes/999", json={"title": "x"}),
        await c.delete("/notes/999"),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": "no note 999"}
    await settle(notes.pool)
    assert notes.all_idle()


async def test_validation_errors_are_422_and_touch_nothing(notes: Running) -> None:
    c = notes.client
    bad = [
        await c.post("/notes", json={"title": ""}),
        await c.post("/notes", json={"body": "no title"}),
        await c.post("/notes", content=b"not json", headers={"content-type": "application/json"}),
        await c.get("/notes/not-a-number"),
        await c.get("/notes", params={"limit": 0}),
    ]
    assert [r.status_code for r in bad] == [422] * len(bad)
    assert bad[0].json()["detail"][0]["loc"] == ["body", "title"]
    assert (await c.get("/notes")).json() == []


async def test_duplicate_title_is_409_and_rolls_back(notes: Running) -> None:
    c = notes.client
    a = (await c.post("/notes", json={"title": "a", "body": "1"})).json()
    b = (await c.post("/notes", json={"title": "b", "body": "2"})).json()
    dup = await c.post("/notes", json={"title": "a"})
    assert dup.status_code == 409 and "exists" in dup.json()["detail"]
    clash = await c.put(f"/notes/{b['id']}", json={"title": "a", "body": "changed"})
    assert clash.status_code == 409
    assert (await c.get(f"/notes/{b['id']}")).json() == b
    assert len((await c.get("/notes")).json()) == 2
    await settle(notes.pool)
    assert notes.all_idle()
    assert a["id"] != b["id"]


async def test_concurrent_requests_share_the_pool(notes: Running) -> None:
    c = notes.client
    responses = await asyncio.gather(
        *(c.post("/notes", json={"title": f"t{i}"}) for i in range(30))
    )
    assert [r.status_code for r in responses] == [201] * 30
    assert len({r.json()["id"] for r in responses}) == 30
    reads = await asyncio.gather(*(c.get(f"/notes/{r.json()['id']}") for r in responses))
    assert sorted(r.json()["title"] for r in reads) == sorted(f"t{i}" for i in range(30))
    pool = notes.pool
    assert pool.get_size() <= pool.get_max_size() == 3
    assert pool.get_stats()["requests_num"] >= 60
    await settle(pool)
    assert notes.all_idle()


async def test_health_ok(notes: Running) -> None:
    response = await notes.client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["latency_ms"] >= 0
    assert body["pool"]["min_size"] == 2 and body["pool"]["max_size"] == 3
    assert body["pool"]["size"] >= 2


async def test_health_fails_while_the_server_is_stopped_and_recovers() -> None:
    # A cluster of its own: stopping the session's cluster would break other tests.
    async with Cluster(find_installation("pg18")) as cluster:
        app = load_example().create_app(cluster.dsn(), min_size=1, health_timeout=1.0)
        async for r in running(app):
            assert (await r.client.get("/health")).status_code == 200
            await asyncio.to_thread(cluster.stop)
            started = time.monotonic()
            down = await r.client.get("/health")
            assert time.monotonic() - started < 5
            assert down.status_code == 503
            detail = down.json()["detail"]
            assert detail["status"] == "unavailable" and detail["error"]
            await asyncio.to_thread(cluster.start)
            for _ in range(60):
                up = await r.client.get("/health")
                if up.status_code == 200:
                    break
                await asyncio.sleep(0.25)
            assert up.status_code == 200, up.text
            assert (await r.client.post("/notes", json={"title": "back"})).status_code == 201


# -- the helpers on their own ------------------------------------------------------------


async def test_open_pool_warms_every_min_size_connection(cluster: Any, database_url: str) -> None:
    setup = await pgjet.connect(database_url)
    await setup.execute("CREATE TABLE warmed (pid int)")
    async with open_pool(
        database_url,
        min_size=3,
        max_size=4,
        warm_up_query="INSERT INTO warmed VALUES (pg_backend_pid())",
    ) as pool:
        assert pool.get_size() >= 3
        pids = await setup.fetchval("SELECT count(DISTINCT pid) FROM warmed")
        assert pids == 3
    assert pool.is_closing()
    # Closed for real: no session of this database is left but ours.
    left = await setup.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid()"
    )
    for _ in range(50):
        if left == 0:
            break
        await asyncio.sleep(0.02)
        left = await setup.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    assert left == 0
    await setup.close()


async def test_failing_warm_up_fails_start_up(database_url: str) -> None:
    with pytest.raises(pgjet.UndefinedTableError):
        async with open_pool(database_url, min_size=1, warm_up_query="SELECT * FROM nope"):
            pytest.fail("the pool must not be handed out")
    with pytest.raises(ValueError, match="wait_timeout"):
        async with open_pool(database_url, wait_timeout=0):
            pass


def transaction_app(database_url: str) -> FastAPI:
    async def schema(pool: pgjet.Pool) -> None:
        await pool.execute("CREATE TABLE IF NOT EXISTS log (msg text)")
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS pairs (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
        )

    app = FastAPI(lifespan=pool_lifespan(database_url, min_size=1, max_size=2, on_open=schema))

    @app.post("/log/{msg}")
    async def log(msg: str, conn: TransactionDep) -> dict[str, str]:
        await conn.execute("INSERT INTO log VALUES ($1)", msg)
        if msg == "refuse":
            raise HTTPException(400, "refused after the insert")
        if msg == "crash":
            raise RuntimeError("a bug after the insert")
        return {"logged": msg}

    @app.post("/pairs/{x}")
    async def pair(x: int, conn: TransactionDep) -> dict[str, int]:
        # Checked only at COMMIT, which runs after this function has returned.
        await conn.execute("INSERT INTO pairs VALUES ($1), ($1)", x)
        return {"inserted": 2}

    @app.get("/log")
    async def read(conn: ConnectionDep) -> list[str]:
        return [r["msg"] for r in await conn.fetch("SELECT msg FROM log ORDER BY msg")]

    return app


async def test_transaction_dependency_commits_or_rolls_back(database_url: str) -> None:
    async for r in running(transaction_app(database_url), raise_app_exceptions=False):
        assert (await r.client.post("/log/kept")).json() == {"logged": "kept"}
        assert (await r.client.post("/log/refuse")).status_code == 400
        assert (await r.client.post("/log/crash")).status_code == 500
        assert (await r.client.get("/log")).json() == ["kept"]
        # The COMMIT fails: the client must not have been told "200 inserted".
        assert (await r.client.post("/pairs/7")).status_code == 500
        assert await r.pool.fetchval("SELECT count(*) FROM pairs") == 0
        await settle(r.pool)
        assert r.all_idle()
        assert not await r.pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
        )


async def test_without_the_lifespan_the_error_says_what_is_missing(database_url: str) -> None:
    app = transaction_app(database_url)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        with pytest.raises(RuntimeError, match="pool_lifespan"):
            await client.get("/log")


async def test_database_status_rejects_a_bad_timeout(database_url: str) -> None:
    with pytest.raises(ValueError, match="timeout"):
        health_endpoint(timeout=0)
    async with open_pool(database_url, min_size=1) as pool:
        with pytest.raises(ValueError, match="timeout"):
            await database_status(pool, timeout=-1)
        assert (await database_status(pool))["status"] == "ok"
