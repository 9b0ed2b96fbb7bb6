"""bot/store/pgwire.py, the blocking Postgres client of `warroom export` and `warroom report`:
which URLs it takes, its SCRAM arithmetic, every password method against a server of the
test's own, and that whatever it does not vouch for (TLS offered, a password it does not
have, a type it does not decode) is NotPlain, so that asyncpg connects instead.
(tests/store/test_raw.py checks that it reads what asyncpg and SqlStore read.)"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pgserver import PrivatePostgres

from bot.store.pgwire import NotPlain, PgError, PgWire, Scram, WireParams, wire_params


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://u:p@h:5/db", WireParams("h", 5, "u", "p", "db")),
        ("postgresql://u@h/db", WireParams("h", 5432, "u", None, "db")),
        ("postgresql://u:@h/db", WireParams("h", 5432, "u", "", "db")),
        ("postgresql://u%40x:p%3Aw%2F@h:5432/d%20b", WireParams("h", 5432, "u@x", "p:w/", "d b")),
        ("postgresql://u:p@w@h/db", WireParams("h", 5432, "u", "p@w", "db")),
    ],
)
def test_a_plain_url_gives_its_parameters(dsn: str, expected: WireParams) -> None:
    assert wire_params(dsn, {"HOME": "/root"}) == expected


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://h/db",  # no user: asyncpg takes the OS user's
        "postgresql://u@h",  # no database: asyncpg takes the user's name
        "postgresql://u@h/",
        "postgresql://u@/db",  # no host: unix sockets
        "postgresql://u@%2Ftmp/db",
        "postgresql://u@[::1]:5432/db",
        "postgresql://u@h:x/db",
        "postgresql://u@h:0/db",
        "postgresql://u@h:70000/db",
        "postgresql://u@h/db/x",
    ],
)
def test_urls_asyncpg_would_complete_are_left_to_it(dsn: str) -> None:
    assert wire_params(dsn, {}) is None


@pytest.mark.parametrize("name", ["PGPASSWORD", "PGSSLMODE", "PGPASSFILE", "pgport"])
def test_any_pg_environment_variable_is_left_to_asyncpg(name: str) -> None:
    assert wire_params("postgresql://u:p@h/db", {name: "x"}) is None


def test_scram_sha_256_as_in_rfc_7677() -> None:
    scram = Scram("pencil", nonce="rOprNGfwEbeRWgbNEkqO", user="user")
    assert scram.client_first() == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = (
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    assert scram.client_final(server_first) == (
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    scram.verify_server("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    with pytest.raises(PgError, match="signature"):
        scram.verify_server("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")


def test_a_server_nonce_that_does_not_extend_ours_is_refused() -> None:
    scram = Scram("pencil", nonce="abc")
    with pytest.raises(PgError, match="nonce"):
        scram.client_final("r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    with pytest.raises(PgError, match="nonce"):
        Scram("pencil", nonce="abc").client_final("r=abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")


def test_a_server_that_offers_tls_is_left_to_asyncpg() -> None:
    """asyncpg's default sslmode, `prefer`, would encrypt: never fall back to plain text."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        asked: list[bytes] = []

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                asked.append(conn.recv(8))
                conn.sendall(b"S")

        thread = threading.Thread(target=answer)
        thread.start()
        with pytest.raises(NotPlain, match="SSLRequest"):
            PgWire.connect(WireParams("127.0.0.1", port, "u", "p", "db"), timeout=5)
        thread.join(5)
    assert asked == [bytes.fromhex("0000000804d2162f")]  # SSLRequest


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    """A server of this module's own, with a role per password method in pg_hba.conf."""
    if shutil.which("pg_config") is None:
        pytest.skip("pg_config not found: no Postgres binaries to start a private server")
    server = PrivatePostgres()
    server.start()
    try:
        admin = PgWire.connect(WireParams("127.0.0.1", server.port, "postgres", None, "postgres"))
        admin.query(
            "SET password_encryption = 'md5'; CREATE ROLE md LOGIN PASSWORD 'md-pw';"
            "SET password_encryption = 'scram-sha-256';"
            "CREATE ROLE sc LOGIN PASSWORD 'sc pw:@/';"
            "CREATE ROLE clear LOGIN PASSWORD 'clear-pw';"
            "CREATE ROLE uni LOGIN PASSWORD 'ü-pw'"
        )
        admin.close()
        (server.data / "pg_hba.conf").write_text(
            "host all md 127.0.0.1/32 md5\n"
            "host all sc 127.0.0.1/32 scram-sha-256\n"
            "host all uni 127.0.0.1/32 scram-sha-256\n"
            "host all clear 127.0.0.1/32 password\n"
            "host all all 127.0.0.1/32 trust\n"
        )
        server._run("pg_ctl", "-D", str(server.data), "-w", "reload")
        yield server
    finally:
        server.remove()


def _params(server: PrivatePostgres, user: str, password: str | None) -> WireParams:
    return WireParams("127.0.0.1", server.port, user, password, "postgres")


@pytest.mark.parametrize(
    ("user", "password"), [("md", "md-pw"), ("sc", "sc pw:@/"), ("clear", "clear-pw")]
)
def test_each_password_method_logs_in_and_a_wrong_password_is_the_servers_error(
    server: PrivatePostgres, user: str, password: str
) -> None:
    conn = PgWire.connect(_params(server, user, password))
    try:
        assert conn.query("SELECT current_user") == [[(user,)]]
    finally:
        conn.close()
    with pytest.raises(PgError) as refused:
        PgWire.connect(_params(server, user, password + "x"))
    assert refused.value.code == "28P01"  # invalid_password


@pytest.mark.parametrize(("user", "password"), [("sc", None), ("md", None), ("uni", "ü-pw")])
def test_a_password_it_does_not_have_or_would_have_to_prepare_is_left_to_asyncpg(
    server: PrivatePostgres, user: str, password: str | None
) -> None:
    """No password in the URL: asyncpg looks in ~/.pgpass; non-ASCII: asyncpg SASLpreps it."""
    with pytest.raises(NotPlain):
        PgWire.connect(_params(server, user, password))


def test_values_decode_as_asyncpg_gives_them_and_errors_keep_the_connection(
    server: PrivatePostgres,
) -> None:
    conn = PgWire.connect(_params(server, "postgres", None))
    try:
        rows = conn.query(
            "SELECT 1::int2, 2::int4, 3000000000::int8, 'ü'::varchar, NULL::text, true, false,"
            " '2026-03-02 09:00:00.5+02'::timestamptz, '{\"a\": [1, \"ü\"]}'::jsonb,"
            " '{\"b\":1}'::json; SELECT 1 WHERE false"
        )
        assert rows == [
            [
                (
                    1, 2, 3000000000, "ü", None, True, False,
                    datetime(2026, 3, 2, 7, 0, 0, 500000, tzinfo=UTC),
                    '{"a": [1, "ü"]}', '{"b":1}',
                )
            ],
            [],
        ]  # fmt: skip
        with pytest.raises(PgError) as missing:
            conn.query("SELECT 1; SELECT * FROM no_such_table")
        assert missing.value.code == "42P01"
        assert conn.execute("SELECT $1::int + 1, $2::text", ["41", None]) == [[(42, None)]]
        with pytest.raises(NotPlain, match="column type"):
            conn.query("SELECT 1.5::numeric")
    finally:
        conn.close()
