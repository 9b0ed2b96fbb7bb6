"""A database of a bench run's own: on Postgres a new database on the given server (never one
of its existing databases), dropped afterwards; any other URL is used as given."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@contextlib.contextmanager
def scratch_database(url: str) -> Iterator[str]:
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        yield url
        return
    name = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        parsed.set(drivername="postgresql+psycopg2", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
