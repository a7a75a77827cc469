"""A PostgreSQL-wire endpoint for governed SQL: psql, psycopg, JDBC, SQLAlchemy and BI tools connect.

The protocol's messages are decoded and encoded by pygwire (a maintained sans-I/O codec with the
protocol's state machine); this module runs the sockets and the sessions. A client logs in with
a meshkit token as its password (any user name), or with the user name and password of a
``[governance.subjects.NAME]`` entry that declares ``password`` (a reference). Its purpose comes
from the connection's settings (``options=-c meshkit.purpose=marketing``) or from
``SET meshkit.purpose = 'marketing'``. Each statement is one governed query, planned, decided,
rewritten and audited exactly as ``meshkit query`` does (channel ``pg``); catalog queries answer
from the session's catalog (``pgcatalog``); transaction and session commands are acknowledged,
and nothing else runs. Results go out in text format, encoded per batch by Arrow compute.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import socket
import socketserver
import struct
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
from pygwire import BackendConnection
from pygwire.constants import TransactionStatus
from pygwire.messages import (
    AuthenticationCleartextPassword,
    AuthenticationOk,
    BackendKeyData,
    Bind,
    BindComplete,
    CancelRequest,
    Close,
    CloseComplete,
    CommandComplete,
    Describe,
    EmptyQueryResponse,
    ErrorResponse,
    Execute,
    FieldDescription,
    Flush,
    GSSEncRequest,
    GSSResponse,
    NoData,
    ParameterDescription,
    ParameterStatus,
    Parse,
    ParseComplete,
    PasswordMessage,
    PortalSuspended,
    Query,
    ReadyForQuery,
    RowDescription,
    SSLRequest,
    SSLResponse,
    StartupMessage,
    Sync,
    Terminate,
)
from sqlglot import exp

from meshkit.core.errors import MeshkitError, UserError
from meshkit.engines.duckdb import DuckDBEngine
from meshkit.governance.decision import Subject
from meshkit.governance.exceptions import AccessDeniedError
from meshkit.governance.governor import Governor
from meshkit.governance.query import GovernedSQL
from meshkit.serving.pgcatalog import (
    SERVER_VERSION,
    SessionCatalog,
    catalog_dialect,
    is_catalog_query,
    parse_postgres,
)
from meshkit.serving.pgtypes import data_rows, text_sql, type_oid

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

log = logging.getLogger(__name__)
CHANNEL = "pg"
PURPOSE_SETTING = "meshkit.purpose"
#: Rows per ``DataRow`` burst.
BURST_ROWS = 65_536
#: Session settings a client may set (and read back); anything else is not a statement we run.
SETTINGS = {
    "application_name": "", "client_encoding": "UTF8", "datestyle": "ISO, MDY", "timezone": "UTC",
    "extra_float_digits": "1", "search_path": "public", "statement_timeout": "0",
    "standard_conforming_strings": "on", "client_min_messages": "notice", "intervalstyle": "postgres",
    "bytea_output": "hex", "default_transaction_read_only": "on", "transaction_read_only": "on",
    "transaction isolation level": "read committed", "transaction_isolation": "read committed",
    "integer_datetimes": "on", "server_encoding": "UTF8", "server_version": SERVER_VERSION,
    "max_identifier_length": "63", "lc_collate": "C", "lock_timeout": "0",
    "idle_in_transaction_session_timeout": "0", "jit": "off", PURPOSE_SETTING: "",
}  # fmt: skip
_REPORTED = ("server_version", "server_encoding", "client_encoding", "DateStyle", "TimeZone",
             "integer_datetimes", "standard_conforming_strings", "application_name")  # fmt: skip
_TRANSACTION = re.compile(r"^\s*(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT)\b[^;]*;?\s*$", re.I)
_SET = re.compile(r"^\s*SET\s+(?:SESSION\s+|LOCAL\s+)?([\w.]+)\s*(?:=|\bTO\b)\s*(.*?)\s*;?\s*$", re.I | re.S)
_SET_OTHER = re.compile(r"^\s*SET\s+(SESSION\s+CHARACTERISTICS|TRANSACTION)\b[^;]*;?\s*$", re.I)
_SHOW = re.compile(r"^\s*SHOW\s+([\w. ]+?)\s*;?\s*$", re.I)
_ACKNOWLEDGED = re.compile(
    r"^\s*(DISCARD\s+ALL|RESET\s+ALL|DEALLOCATE\b[^;]*|CLOSE\s+ALL|SAVEPOINT\s+\S+|RELEASE\s+(SAVEPOINT\s+)?\S+)\s*;?\s*$",
    re.I,
)
_OPTION = re.compile(r"(?:-c\s*|--)([\w.]+)=((?:\\ |\S)*)")
_PARAM = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$(\d+)")
_NUMERIC_OIDS = {20, 21, 23, 700, 701, 1700, 26}


@dataclass
class _Result:
    """What a statement gives: a command tag, and rows (their columns, and ``DataRow`` messages per batch)."""

    tag: str
    #: ``(name, type oid)`` of each column; ``None`` for a statement without rows.
    fields: list[tuple[str, int]] | None = None
    #: The rows, their values as text.
    batches: list[pa.RecordBatch] = field(default_factory=list)
    sent: int = 0

    @property
    def rows(self) -> int:
        return sum(b.num_rows for b in self.batches)


def _encoded(conn, sql: str, tag: str = "SELECT") -> _Result:
    """Run ``sql`` on the DuckDB connection ``conn``, its rows encoded as ``DataRow`` messages."""
    described = conn.execute(f"DESCRIBE {sql}").fetchall()
    types = [str(r[1]) for r in described]
    fields = [(str(r[0]), type_oid(t)) for r, t in zip(described, types, strict=True)]
    if not types:
        return _Result(tag, fields)
    return _Result(tag, fields, list(conn.execute(text_sql(sql, types)).to_arrow_reader(BURST_ROWS)))


def _table_result(table: pa.Table, tag: str = "SELECT") -> _Result:
    """An Arrow table (a catalog answer, a setting) as rows to send."""
    with DuckDBEngine(options={"config": {"enable_external_access": False}}) as engine:
        engine.conn.register("__mk_answer", table)
        return _encoded(engine.conn, "SELECT * FROM __mk_answer", tag)


@dataclass
class _Portal:
    sql: str
    result: _Result | None = None


@dataclass
class _Session:
    subject: Subject
    database: str
    settings: dict[str, str]
    statements: dict[str, tuple[str, list[int]]] = field(default_factory=dict)
    portals: dict[str, _Portal] = field(default_factory=dict)
    catalog: SessionCatalog | None = None
    failed: bool = False
    in_transaction: bool = False

    @property
    def purpose(self) -> str | None:
        return self.settings.get(PURPOSE_SETTING) or None


def startup_settings(params: dict[str, str]) -> dict[str, str]:
    """The session settings of a startup packet: ``options`` (``-c name=value``) and parameters."""
    settings = {k.lower(): v for k, v in params.items() if k.lower() in SETTINGS}
    for name, value in _OPTION.findall(params.get("options", "")):
        if name.lower() in SETTINGS:
            settings[name.lower()] = value.replace("\\ ", " ")
    return settings


def substitute(sql: str, values: list[str | None], oids: list[int]) -> str:
    """``sql`` with ``$n`` replaced by the bound values as literals."""

    def literal(match: re.Match) -> str:
        if match.group(1) is None:
            return match.group(0)
        index = int(match.group(1)) - 1
        if not 0 <= index < len(values):
            raise UserError(f"The statement has no value for parameter ${index + 1}.")
        value = values[index]
        if value is None:
            return "NULL"
        oid = oids[index] if index < len(oids) else 0
        if oid in _NUMERIC_OIDS and re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", value):
            return value
        return "'" + value.replace("'", "''") + "'"

    return _PARAM.sub(literal, sql)


def _param_text(raw: bytes | None, fmt: int, oid: int) -> str | None:
    if raw is None:
        return None
    if fmt == 0:
        return bytes(raw).decode()
    binary = {20: "!q", 21: "!h", 23: "!i", 700: "!f", 701: "!d", 16: "?"}
    if oid in binary:
        value = struct.unpack(binary[oid], bytes(raw))[0]
        return ("true" if value else "false") if oid == 16 else str(value)
    if oid in (25, 1043, 0, 705):
        return bytes(raw).decode()
    raise UserError(f"Parameters of type {oid} in binary format are not supported; send them as text.")


class PgSessionHandler(socketserver.BaseRequestHandler):
    """One client connection."""

    server: GovernedPgServer

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
        self.conn = BackendConnection(strict=False)
        self.session: _Session | None = None
        self.params: dict[str, str] = {}
        self.out = bytearray()

    # ------------------------------------------------------------------ I/O

    def _send(self, *messages) -> None:
        for message in messages:
            self.out += self.conn.send(message)

    def _flush(self) -> None:
        if self.out:
            self.request.sendall(self.out)
            self.out.clear()

    def handle(self) -> None:
        try:
            while True:
                data = self.request.recv(1 << 16)
                if not data:
                    return
                for message in self.conn.receive(data):
                    if not self._dispatch(message):
                        self._flush()
                        return
                self._flush()
        except (ConnectionError, OSError):
            return
        except Exception:  # noqa: BLE001 - a protocol failure closes this connection only
            log.warning("PostgreSQL connection closed on an error: %s", traceback.format_exc(limit=3))
        finally:
            if self.session and self.session.catalog:
                self.session.catalog.close()

    def _dispatch(self, message) -> bool:
        """Handle one message; ``False`` ends the connection."""
        if isinstance(message, SSLRequest):
            self._send(SSLResponse(accepted=False))
            return True
        if isinstance(message, GSSEncRequest):
            self._send(GSSResponse(accepted=False))
            return True
        if isinstance(message, CancelRequest):
            return False
        if isinstance(message, StartupMessage):
            self.params = dict(message.params)
            self._send(AuthenticationCleartextPassword())
            return True
        if isinstance(message, PasswordMessage):
            return self._login(message.password)
        if isinstance(message, Terminate):
            return False
        if self.session is None:
            self._error(UserError("Log in first."), fatal=True)
            return False
        if isinstance(message, Query):
            self._simple(message.query_string)
        elif isinstance(message, Sync):
            self.session.failed = False
            self._ready()
        elif isinstance(message, Flush):
            pass
        elif self.session.failed:
            return True  # the extended protocol skips messages until Sync after an error
        elif isinstance(message, Parse):
            self.session.statements[message.statement] = (message.query, list(message.param_types))
            self._send(ParseComplete())
        elif isinstance(message, Bind):
            self._answering(self._bind, message)
        elif isinstance(message, Describe):
            self._answering(self._describe, message)
        elif isinstance(message, Execute):
            self._answering(self._execute, message)
        elif isinstance(message, Close):
            (self.session.statements if message.kind == "S" else self.session.portals).pop(message.name, None)
            self._send(CloseComplete())
        else:
            self._error(UserError(f"The {type(message).__name__} message is not supported."))
        return True

    # ------------------------------------------------------------------ login

    def _login(self, password: str | bytes) -> bool:
        password = password.decode() if isinstance(password, bytes) else password
        user = self.params.get("user", "")
        subject = self.server.authenticate(user, password)
        if subject is None:
            self._error(UserError(f"Password authentication failed for user `{user}`.",
                                  hint="Give a meshkit token as the password."), code="28P01", fatal=True)  # fmt: skip
            return False
        settings = dict(SETTINGS) | startup_settings(self.params)
        self.session = _Session(subject, self.params.get("database") or "meshkit", settings)
        self._send(AuthenticationOk())
        for name in _REPORTED:
            self._send(ParameterStatus(name=name, value=settings.get(name.lower(), "")))
        self._send(BackendKeyData(process_id=secrets.randbelow(1 << 31), secret_key=secrets.token_bytes(4)))
        self._ready()
        return True

    def _ready(self) -> None:
        status = (
            TransactionStatus.IN_TRANSACTION
            if self.session and self.session.in_transaction
            else TransactionStatus.IDLE
        )
        if self.session and self.session.failed:
            status = TransactionStatus.IN_FAILED_TRANSACTION
        self._send(ReadyForQuery(status=status))

    # ------------------------------------------------------------------ simple protocol

    def _simple(self, sql: str) -> None:
        if not sql.strip().strip(";").strip():
            self._send(EmptyQueryResponse())
        else:
            try:
                result = self._run(sql)
                if result.fields is not None:
                    self._send(self._row_description(result.fields))
                self._send_result(result, 0)
            except Exception as exc:  # noqa: BLE001 - every error reaches the client as an ErrorResponse
                self._error(exc)
                self.session.failed = False
        self._ready()

    # ------------------------------------------------------------------ extended protocol

    def _answering(self, step, message) -> None:
        try:
            step(message)
        except Exception as exc:  # noqa: BLE001 - every error reaches the client as an ErrorResponse
            self._error(exc)
            self.session.failed = True

    def _bind(self, message: Bind) -> None:
        sql, oids = self.session.statements.get(message.statement, (None, []))
        if sql is None:
            raise UserError(f"The prepared statement `{message.statement}` does not exist.")
        formats = list(message.param_formats) or [0]
        values = [_param_text(v, formats[i] if len(formats) > 1 else formats[0], oids[i] if i < len(oids) else 0)
                  for i, v in enumerate(message.param_values)]  # fmt: skip
        self.session.portals[message.portal] = _Portal(substitute(sql, values, oids) if values else sql)
        self._send(BindComplete())

    def _describe(self, message: Describe) -> None:
        if message.kind == "S":
            sql, oids = self.session.statements.get(message.name, (None, []))
            if sql is None:
                raise UserError(f"The prepared statement `{message.name}` does not exist.")
            self._send(ParameterDescription(type_oids=[o or 25 for o in oids] or self._param_oids(sql)))
            result = self._run(substitute(sql, [None] * 100, [])) if "$" in sql else self._run(sql)
        else:
            portal = self._portal(message.name)
            result = portal.result = self._run(portal.sql)
        self._send(self._row_description(result.fields) if result.fields is not None else NoData())

    @staticmethod
    def _param_oids(sql: str) -> list[int]:
        numbers = [int(m.group(1)) for m in _PARAM.finditer(sql) if m.group(1)]
        return [25] * (max(numbers) if numbers else 0)

    def _execute(self, message: Execute) -> None:
        portal = self._portal(message.portal)
        if portal.result is None:
            portal.result = self._run(portal.sql)
        self._send_result(portal.result, message.max_rows)

    def _portal(self, name: str) -> _Portal:
        if name not in self.session.portals:
            raise UserError(f"The portal `{name}` does not exist.")
        return self.session.portals[name]

    # ------------------------------------------------------------------ statements

    def _run(self, sql: str) -> _Result:
        session = self.session
        if match := _TRANSACTION.match(sql):
            word = match.group(1).upper()
            session.in_transaction = word in ("BEGIN", "START")
            return _Result(
                {"START": "START TRANSACTION", "END": "COMMIT", "ABORT": "ROLLBACK"}.get(
                    word.split()[0], word.split()[0]
                )
            )
        if _SET_OTHER.match(sql) or _ACKNOWLEDGED.match(sql):
            return _Result(sql.split()[0].upper())
        if (match := _SET.match(sql)) and match.group(1).lower() in SETTINGS:
            name, value = match.group(1).lower(), match.group(2).strip().strip("'\"")
            session.settings[name] = "" if value.upper() == "DEFAULT" else value
            if name == PURPOSE_SETTING and session.catalog is not None:
                session.catalog.close()
                session.catalog = None
            return _Result("SET")
        if (match := _SHOW.match(sql)) and match.group(1).lower() in SETTINGS:
            name = match.group(1).lower()
            return _table_result(pa.table({name.replace(" ", "_"): [session.settings.get(name, "")]}), "SHOW")
        tree = parse_postgres(catalog_dialect(sql))
        if tree is not None and isinstance(tree, exp.Query) and is_catalog_query(tree):
            if session.catalog is None:
                session.catalog = SessionCatalog(
                    self.server.governed, session.subject, session.purpose, session.database
                )
            return _table_result(session.catalog.run(tree))
        governed = self.server.governed
        plan = governed.plan(sql, session.subject, session.purpose, channel=CHANNEL)
        with governed.connection(plan) as conn:
            return _encoded(conn, plan.sql)

    @staticmethod
    def _row_description(fields: list[tuple[str, int]]) -> RowDescription:
        return RowDescription(fields=[FieldDescription(name=name, type_oid=oid, type_size=-1, type_modifier=-1,
                                                       format_code=0) for name, oid in fields])  # fmt: skip

    def _send_result(self, result: _Result, max_rows: int) -> None:
        if result.fields is None:
            self._send(CommandComplete(tag=result.tag))
            return
        total = result.rows
        count = total - result.sent if max_rows <= 0 else min(max_rows, total - result.sent)
        skip, left = result.sent, count
        for batch in result.batches:
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            part = batch.slice(skip, min(left, batch.num_rows - skip))
            skip, left = 0, left - part.num_rows
            self.out += data_rows(part)
            if len(self.out) > (1 << 20):
                self._flush()
            if left == 0:
                break
        result.sent += count
        if result.sent < total:
            self._send(PortalSuspended())
        else:
            self._send(CommandComplete(tag=f"{result.tag} {count}" if result.tag == "SELECT" else result.tag))

    # ------------------------------------------------------------------ errors

    def _error(self, exc: BaseException, *, code: str | None = None, fatal: bool = False) -> None:
        fields = {"S": "FATAL" if fatal else "ERROR", "V": "FATAL" if fatal else "ERROR"}
        if isinstance(exc, AccessDeniedError):
            fields |= {"C": code or "42501", "M": str(exc)}
        elif isinstance(exc, MeshkitError):
            fields |= {"C": code or ("42000" if exc.exit_code == 1 else "22023"), "M": exc.message}
            if getattr(exc, "hint", None):
                fields["H"] = exc.hint
        else:
            ref = uuid.uuid4().hex[:12]
            log.error("PostgreSQL endpoint failed (ref %s): %s", ref,
                      self.server.meshkit.redactor.redact(traceback.format_exc()))  # fmt: skip
            fields |= {
                "C": "XX000",
                "M": f"The server could not answer (ref {ref}); its log has the details.",
            }
        self._send(ErrorResponse(fields=fields))


class GovernedPgServer(socketserver.ThreadingTCPServer):
    """Serves governed SQL over the PostgreSQL protocol on ``host:port`` (port 0: a free one)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, meshkit: Meshkit, host: str = "127.0.0.1", port: int = 0, governed: GovernedSQL | None = None
    ):
        self.meshkit = meshkit
        self.governed = governed or GovernedSQL(meshkit, Governor(meshkit))
        super().__init__((host, port), PgSessionHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def authenticate(self, user: str, password: str) -> Subject | None:
        """The subject a login names: a token as the password, or a subject's own password."""
        governor = self.governed.governor
        if subject := governor.subject_for_token(password):
            return subject
        entry = governor.subjects().get(user)
        if entry and entry.get("password") is not None:
            expected = str(self.meshkit.resolve(entry["password"]))
            if hmac.compare_digest(expected.encode(), password.encode()):
                return Subject(user=entry.get("user", user), role=entry.get("role"), team=entry.get("team"))
        return None

    def start(self) -> threading.Thread:
        """Serve on a daemon thread; ``shutdown()`` stops it."""
        thread = threading.Thread(target=self.serve_forever, name="meshkit-pg", daemon=True)
        thread.start()
        return thread
