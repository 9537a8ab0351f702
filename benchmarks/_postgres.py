"""A fresh database for a benchmark on a PostgreSQL server of its own (the test server, usually)."""
from __future__ import annotations


async def fresh_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` on the server of ``server_url`` (any database of it);
    returns the new database's URL. The benchmark's rows meet nobody else's."""
    import asyncpg

    base = server_url.rsplit("/", 1)[0]
    admin = await asyncpg.connect(base.replace("postgresql://", "postgres://", 1) + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return f"{base}/{name}"
