"""Just enough of the Postgres frontend/backend protocol (version 3) for `warroom export` and
`warroom report` to read and append without asyncio or asyncpg.

Importing asyncio and asyncpg costs about 100 ms, a third of a whole export process, while
the export's statements take a few milliseconds. So for the plain case this speaks the
protocol over a blocking socket: a TCP host, the user, password and database written in the
URL, a server that declines TLS, and trust, password, md5 or SCRAM-SHA-256 authentication.
Whatever is not that plain raises NotPlain before anything is read, and bot/readonly.py
connects with asyncpg instead, which settles it as it always did: a server that offers TLS
(asyncpg's default sslmode `prefer` would use it), any PG* environment variable asyncpg
reads, a password asked for but not in the URL (asyncpg looks in ~/.pgpass), Kerberos/GSS.

Results come in the text format, with the session's DateStyle ISO and TimeZone UTC, and are
decoded by type to what asyncpg gives for the same columns (bot/store/raw.py's columns are
integers, text, booleans, timestamptz and json/jsonb; any other type raises NotPlain).
tests/store/test_raw.py checks that both give equal records and identical postmortems.
"""

from __future__ import annotations

import _socket  # socket.py's own core: `import socket` alone costs 5-50 ms (its enums)
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


class NotPlain(Exception):
    """Not a case this module vouches for: connect with asyncpg instead."""


class PgError(Exception):
    """An ErrorResponse from the server: `code` is its SQLSTATE."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(fields.get("M", "unknown error"))
        self.code = fields.get("C", "")


@dataclass(frozen=True)
class WireParams:
    host: str
    port: int
    user: str
    password: str | None
    database: str


def wire_params(dsn: str, environ: Mapping[str, str]) -> WireParams | None:
    """The parameters of a `postgresql://user[:password]@host[:port]/database` DSN when asyncpg
    would connect to them as written; None for anything else (defaults asyncpg would fill in
    from the environment or the OS user, unix sockets, IPv6 brackets, several hosts)."""
    if any(name.upper().startswith("PG") for name in environ):
        return None
    rest = dsn.removeprefix("postgresql://")
    userinfo, at, location = rest.rpartition("@")
    hostport, slash, database = location.partition("/")
    if not at or not slash or not database or "/" in database:
        return None
    user, colon, password = userinfo.partition(":")
    host, _, port = hostport.partition(":")
    if not user or not host or host.startswith(("[", "/")) or "%" in host:
        return None
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return None
    return WireParams(
        host,
        int(port) if port else 5432,
        _unquote(user),
        _unquote(password) if colon else None,
        _unquote(database),
    )


def _unquote(text: str) -> str:
    if "%" not in text:
        return text
    from urllib.parse import unquote  # as asyncpg decodes the URL's parts

    return unquote(text)


# Type OIDs of the columns read, and how their text becomes what asyncpg returns.
_INTEGERS = {20, 21, 23}  # int8, int2, int4
_TEXTS = {25, 1043, 1042, 19, 114, 3802}  # text, varchar, bpchar, name, json, jsonb
_BOOL, _TIMESTAMPTZ = 16, 1184


def _decoder(oid: int) -> Any:
    if oid in _INTEGERS:
        return lambda raw: int(raw)
    if oid in _TEXTS:
        return lambda raw: raw.decode("utf-8")
    if oid == _BOOL:
        return lambda raw: raw == b"t"
    if oid == _TIMESTAMPTZ:
        # '2026-03-02 09:00:00.5+00' under DateStyle ISO, TimeZone UTC. 'infinity' and BC
        # dates raise ValueError: the command then runs the usual way.
        return lambda raw: datetime.fromisoformat(raw.decode("ascii"))
    raise NotPlain(f"column type {oid}")


Rows = list[tuple[Any, ...]]


# Network byte order, without the struct module (one import fewer).
def _i32(value: int) -> bytes:
    return value.to_bytes(4, "big", signed=True)


def _i16(value: int) -> bytes:
    return value.to_bytes(2, "big", signed=True)


def _int(data: bytes, pos: int, size: int) -> int:
    return int.from_bytes(data[pos : pos + size], "big", signed=True)


def _connected(host: str, port: int, timeout: float) -> Any:
    """socket.create_connection, on _socket: each address in turn, the last error raised;
    TCP_NODELAY as asyncio sets it."""
    error: OSError | None = None
    for family, kind, proto, _, address in _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            return sock
        except OSError as failed:
            sock.close()
            error = failed
    raise error or OSError(f"no address for {host}")


_PROTOCOL_3 = 196608
_SSL_REQUEST = _i32(8) + _i32(80877103)
_SESSION = {"client_encoding": "UTF8", "DateStyle": "ISO", "TimeZone": "UTC"}


class PgWire:
    """One blocking connection: `query` for SQL without parameters (several statements make
    one round trip), `execute` for one statement with text parameters."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self._buffer = b""

    @classmethod
    def connect(cls, params: WireParams, timeout: float = 60.0) -> PgWire:
        """Raises NotPlain (use asyncpg), PgError (refused by the server) or OSError."""
        sock = _connected(params.host, params.port, timeout)
        conn = cls(sock)
        try:
            sock.sendall(_SSL_REQUEST)
            answer = conn._read_exact(1)
            if answer != b"N":  # 'S': asyncpg's sslmode=prefer would use TLS
                raise NotPlain(f"SSLRequest answered {answer!r}")
            startup = {"user": params.user, "database": params.database, **_SESSION}
            body = _i32(_PROTOCOL_3)
            body += b"".join(_cstr(k) + _cstr(v) for k, v in startup.items()) + b"\0"
            sock.sendall(_i32(len(body) + 4) + body)
            conn._authenticate(params)
            conn._until_ready()
            sock.settimeout(None)  # as asyncpg: no timeout on statements
        except BaseException:
            sock.close()
            raise
        return conn

    def query(self, sql: str) -> list[Rows]:
        """The rows of each statement that returns rows, in order (simple query protocol)."""
        self.sock.sendall(_message(b"Q", _cstr(sql)))
        return self._results()

    def execute(self, sql: str, params: Sequence[str | None]) -> list[Rows]:
        """One statement with text parameters (types inferred by the server), in one round
        trip: Parse, Bind, Describe, Execute, Sync."""
        bind = b"\0\0" + _i16(0) + _i16(len(params))
        for value in params:
            if value is None:
                bind += _i32(-1)
            else:
                data = value.encode("utf-8")
                bind += _i32(len(data)) + data
        bind += _i16(0)
        self.sock.sendall(
            _message(b"P", b"\0" + _cstr(sql) + _i16(0))
            + _message(b"B", bind)
            + _message(b"D", b"P\0")
            + _message(b"E", b"\0" + _i32(0))
            + _message(b"S", b"")
        )
        return self._results()

    def close(self) -> None:
        try:
            self.sock.sendall(_message(b"X", b""))
        except OSError:
            pass
        finally:
            self.sock.close()

    # -- messages --------------------------------------------------------------------------

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _read(self) -> tuple[bytes, bytes]:
        header = self._read_exact(5)
        length = _int(header, 1, 4)
        return header[:1], self._read_exact(length - 4)

    def _results(self) -> list[Rows]:
        """Every statement's rows until ReadyForQuery; an ErrorResponse raises after it, so
        that the connection stays in step."""
        results: list[Rows] = []
        decoders: list[Any] = []
        error: PgError | None = None
        while True:
            kind, body = self._read()
            if kind == b"D":
                count = _int(body, 0, 2)
                pos, row = 2, []
                for decode in decoders[:count]:
                    size = _int(body, pos, 4)
                    pos += 4
                    if size < 0:
                        row.append(None)
                    else:
                        row.append(decode(body[pos : pos + size]))
                        pos += size
                results[-1].append(tuple(row))
            elif kind == b"T":
                decoders = [_decoder(oid) for oid in _field_types(body)]
                results.append([])
            elif kind == b"E":
                error = PgError(_fields(body))
            elif kind == b"Z":
                if error is not None:
                    raise error
                return results
            # '1' ParseComplete, '2' BindComplete, 'C' CommandComplete, 'n' NoData,
            # 'I' EmptyQueryResponse, 'N' NoticeResponse, 'S' ParameterStatus: nothing to keep.

    def _until_ready(self) -> None:
        while True:
            kind, body = self._read()
            if kind == b"E":
                raise PgError(_fields(body))
            if kind == b"Z":
                return

    def _authenticate(self, params: WireParams) -> None:
        scram = None
        while True:
            kind, body = self._read()
            if kind == b"E":
                raise PgError(_fields(body))
            if kind != b"R":
                raise NotPlain(f"unexpected message {kind!r} during authentication")
            code = _int(body, 0, 4)
            if code == 0:  # AuthenticationOk
                return
            password = params.password
            if password is None:
                raise NotPlain("a password is asked for and the URL has none")
            if code == 3:  # cleartext, as asyncpg sends it
                self.sock.sendall(_message(b"p", _cstr(password)))
            elif code == 5:  # md5
                import hashlib

                inner = hashlib.md5((password + params.user).encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
                self.sock.sendall(_message(b"p", _cstr("md5" + outer)))
            elif code == 10:  # SASL: the mechanisms offered
                mechanisms = body[4:].split(b"\0")
                if b"SCRAM-SHA-256" not in mechanisms or not password.isascii():
                    # Channel binding only comes with TLS; a non-ASCII password would need
                    # SASLprep, which asyncpg applies.
                    raise NotPlain("SASL without SCRAM-SHA-256, or a non-ASCII password")
                scram = Scram(password)
                first = scram.client_first().encode()
                self.sock.sendall(_message(b"p", _cstr("SCRAM-SHA-256") + _i32(len(first)) + first))
            elif code == 11 and scram is not None:  # SASLContinue
                final = scram.client_final(body[4:].decode())
                self.sock.sendall(_message(b"p", final.encode()))
            elif code == 12 and scram is not None:  # SASLFinal
                scram.verify_server(body[4:].decode())
            else:
                raise NotPlain(f"authentication method {code}")


class Scram:
    """SCRAM-SHA-256 without channel binding (RFC 5802, RFC 7677), as libpq words it: the
    user name is left empty, the server takes the startup message's."""

    def __init__(self, password: str, nonce: str | None = None, user: str = "") -> None:
        if nonce is None:
            import secrets

            nonce = secrets.token_urlsafe(18)
        self.password = password
        self.nonce = nonce
        self.bare = f"n={user},r={nonce}"  # a user is given only to check RFC 7677's example
        self._server_signature = b""

    def client_first(self) -> str:
        return "n,," + self.bare

    def client_final(self, server_first: str) -> str:
        import base64
        import hashlib
        import hmac

        attrs = dict(part.split("=", 1) for part in server_first.split(","))
        nonce, salt, rounds = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not nonce.startswith(self.nonce) or nonce == self.nonce:
            raise PgError({"M": "SCRAM: the server's nonce does not extend ours"})
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, rounds)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self.bare},{server_first},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._server_signature = hmac.digest(server_key, auth_message, "sha256")
        return f"{without_proof},p={base64.b64encode(proof).decode()}"

    def verify_server(self, server_final: str) -> None:
        import base64
        import hmac

        attrs = dict(part.split("=", 1) for part in server_final.split(","))
        given = base64.b64decode(attrs.get("v", ""))
        if not self._server_signature or not hmac.compare_digest(given, self._server_signature):
            raise PgError({"M": "SCRAM: the server's signature does not match"})


def _cstr(text: str) -> bytes:
    return text.encode("utf-8") + b"\0"


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + _i32(len(body) + 4) + body


def _fields(body: bytes) -> dict[str, str]:
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[part[:1].decode()] = part[1:].decode("utf-8", "replace")
    return fields


def _field_types(body: bytes) -> list[int]:
    count = _int(body, 0, 2)
    pos, oids = 2, []
    for _ in range(count):
        pos = body.index(b"\0", pos) + 1  # the column's name
        oids.append(_int(body, pos + 6, 4))
        pos += 18  # table oid, column number, type oid, size, modifier, format
    return oids
