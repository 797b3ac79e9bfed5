"""Engines and sessions: a blocking engine for jobs and the CLI, an async one for requests on the event loop.

Requests run on the event loop with no thread hand-off: the async engine (asyncpg on PostgreSQL, aiosqlite on
SQLite) drives the same ORM code through SQLAlchemy's greenlet bridge, the mechanism its AsyncSession is built
on (`run_on_loop`). SQLite is tuned so several processes can write safely.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple, ParamSpec, TypeVar

import asyncpg
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    DateTime,
    FromClause,
    MetaData,
    Select,
    Table,
    UpdateBase,
    cast,
    create_engine,
    event,
    literal_column,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, configure_mappers, sessionmaker
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.sql.visitors import replacement_traverse
from sqlalchemy.types import TypeDecorator
from sqlalchemy.util.concurrency import await_, greenlet_spawn, in_greenlet

from essc.kit.errors import EsscError

_P = ParamSpec("_P")
_T = TypeVar("_T")
_Model = TypeVar("_Model", bound="Base")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


Session = OrmSession


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A blocking engine (psycopg, pysqlite) for jobs, the CLI and migrations."""
    url = normalise_url(url)
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _tune_sqlite(engine)
        return engine
    _postgres_pool_defaults(kwargs)
    # Hot statements read timestamps straight from the driver: have it hand them over in UTC.
    kwargs.setdefault("connect_args", {}).setdefault("options", "-c TimeZone=UTC")
    return create_engine(url, **kwargs)


def make_async_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """The engine of requests on the event loop: asyncpg on PostgreSQL, aiosqlite on SQLite."""
    url = async_url(url)
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _tune_sqlite(engine.sync_engine)
        return engine
    _postgres_pool_defaults(kwargs)
    kwargs.setdefault("connect_args", {}).setdefault("server_settings", {"TimeZone": "UTC"})
    return create_async_engine(url, **kwargs)


def _postgres_pool_defaults(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No pre-ping: it is a round trip per checkout on the hottest paths. A connection found dead raises a
    # disconnect error, on which SQLAlchemy invalidates the whole pool, so one request fails, not every one.
    kwargs.setdefault("pool_pre_ping", False)


def _tune_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys and write-intent transactions, for pysqlite and aiosqlite alike."""

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own BEGIN handling would start deferred transactions that fail on lock upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection: Any) -> None:
        # Take the write lock up front so concurrent writers queue on busy_timeout instead of failing.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def run_on_loop(function: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run blocking-style ORM code on the event loop: each statement it sends is awaited, not waited for."""
    return await greenlet_spawn(functools.partial(function, *args, **kwargs))


def on_loop() -> bool:
    """True inside run_on_loop: sessions made now must use the event loop's engine."""
    return in_greenlet()


def wait_on_loop(awaitable: Awaitable[_T]) -> _T:
    """Await from code running under run_on_loop (a Redis call, an executor job)."""
    return await_(awaitable)


def make_session_factory(
    engine: Engine, session_class: type[OrmSession] = OrmSession, *, stand_alone: bool = False
) -> sessionmaker[OrmSession]:
    """Sessions on `engine`; `stand_alone` marks sessions whose every statement commits by itself."""
    return sessionmaker(
        bind=engine,
        class_=session_class,
        autoflush=False,
        expire_on_commit=False,
        info={_STAND_ALONE: True} if stand_alone else None,
    )


# Session.info: the session's statements run in autocommit (PostgreSQL), so a hot statement needs no
# transaction of the session's and can take a pooled connection for itself (HotStatement).
_STAND_ALONE = "essc.stand_alone"


class DatabaseUnavailable(EsscError):
    status = 503
    code = "database_unavailable"
    title = "The database cannot be reached or is at capacity"


# Failures of reaching the database at all, not of the request: refused or dropped connections, a server
# at max_connections or shutting down, the pool's checkout timing out, and what PostgreSQL calls operational
# (a statement timeout, a deadlock victim). Each is worth a retry; none is the caller's fault.
_UNREACHABLE = (
    ConnectionError,
    sa_exc.TimeoutError,
    sa_exc.OperationalError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.PostgresConnectionError,
    # asyncpg's own state broken, as on a connection the server dropped amid an exchange ("cannot switch
    # to state 12"): the connection is taken out of the pool (forget_if_lost) and a retry gets a new one.
    asyncpg.exceptions.InternalClientError,
)


def _unreachable(exc: BaseException | None) -> bool:
    if isinstance(exc, asyncpg.exceptions.InterfaceError):
        return "connection is closed" in str(exc)  # asyncpg's word for a connection the server dropped
    return isinstance(exc, _UNREACHABLE)


def unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The named 503 for a failure to reach the database (retry shortly), or None for any other error."""
    # SQLAlchemy wraps a driver's error (DBAPIError.orig); its asyncpg adapter wraps asyncpg's in turn
    # (the adapted error's __cause__): "too many clients" reaches a request as a bare DBAPIError.
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else None
    wrapped = (exc, orig, orig.__cause__ if orig is not None else None)
    if any(_unreachable(e) for e in wrapped) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    ):
        return DatabaseUnavailable(
            f"the database cannot serve this request now ({type(exc).__name__}); try again shortly (a retry "
            "with the same Idempotency-Key answers what the first attempt did, if it did anything)",
            retry_after=1,
        )
    return None


class WritesInReadOnlyWork(RuntimeError):
    """Work declared to only read (`requires(..., work=Work.READS_ONLY)`) tried to change something."""


class ReadingSession(OrmSession):
    """A session that refuses to write: a flush with changes or a DML statement raises before it is sent.

    Work that only reads needs no transaction: PostgreSQL runs each statement in its own snapshot under READ
    COMMITTED inside one as well, so a read loses nothing and saves the BEGIN and COMMIT round trips. A unit
    of work on this session refuses to audit too (essc.core.uow).
    """

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise WritesInReadOnlyWork("rows were changed in work declared to only read")
        super().flush(objects)

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(statement, "is_dml", False):
            raise WritesInReadOnlyWork(f"{type(statement).__name__} sent in work declared to only read")
        return super().execute(statement, *args, **kwargs)


class WritesOutsideTheStatement(RuntimeError):
    """Work declared to write in one statement (`requires(..., one_statement=True)`) wrote another way."""


class OneStatementSession(OrmSession):
    """A session for work whose every change is one data-modifying statement, committed by itself.

    On PostgreSQL a statement outside a transaction is atomic on its own: a resolution that spends its code
    and inserts its usage and audit rows in one statement needs no BEGIN and COMMIT round trips. ORM changes
    would go out as further statements, each committed alone, so a flush with changes raises before it is
    sent.
    """

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if self.new or self.dirty or self.deleted:
            raise WritesOutsideTheStatement("rows were changed outside the one statement the work declared")
        super().flush(objects)


def _statements_stand_alone(engine: Engine) -> tuple[Engine, bool]:
    """PostgreSQL in autocommit (each statement commits by itself); SQLite keeps its local transactions."""
    if engine.dialect.name == "sqlite":
        return engine, False
    return engine.execution_options(isolation_level="AUTOCOMMIT"), True


def make_reading_factory(engine: Engine) -> sessionmaker[OrmSession]:
    """Sessions of work that only reads (ReadingSession), without BEGIN and COMMIT round trips."""
    bound, stand_alone = _statements_stand_alone(engine)
    return make_session_factory(bound, ReadingSession, stand_alone=stand_alone)


def make_single_statement_factory(engine: Engine) -> sessionmaker[OrmSession]:
    """Sessions for work made of single statements that each stand alone: no BEGIN and COMMIT round trips.

    Code using these sessions still calls commit() where a write must last (SQLite's transactions).
    """
    bound, stand_alone = _statements_stand_alone(engine)
    return make_session_factory(bound, stand_alone=stand_alone)


def make_one_statement_factory(engine: Engine) -> sessionmaker[OrmSession]:
    """Sessions of work that writes in one statement (OneStatementSession), in autocommit on PostgreSQL."""
    bound, stand_alone = _statements_stand_alone(engine)
    return make_session_factory(bound, OneStatementSession, stand_alone=stand_alone)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone, so it is re-attached on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def async_url(url: str) -> str:
    """The same database through the event loop's drivers: asyncpg, aiosqlite."""
    url = normalise_url(url)
    if url.startswith("sqlite:") or url.startswith("sqlite+pysqlite:"):
        return "sqlite+aiosqlite:" + url.split(":", 1)[1]
    return re.sub(r"^postgresql\+\w+://", "postgresql+asyncpg://", url)


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class: hot-path writes on it skip the ORM's bulk-persistence machinery."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a Table")
    return table


def insert_ignoring_conflicts(session: OrmSession, table: FromClause, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL; returns the rows actually inserted."""
    if not rows:
        return 0
    if not isinstance(table, Table):
        raise TypeError(f"expected a Table, got {type(table).__name__}")
    dialect = session.get_bind().dialect.name
    statement = _conflict_free_inserts.get((dialect, table.name))
    if statement is None:
        insert = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
        # Count what RETURNING gives back: drivers do not report reliable row counts for these statements.
        statement = HotStatement(
            insert.on_conflict_do_nothing().returning(*table.primary_key.columns), columns_from_params=True
        )
        _conflict_free_inserts[(dialect, table.name)] = statement
    if len(rows) == 1:
        return len(statement.execute(session, rows[0]).rows)
    return len(session.execute(statement.statement, rows).all())


# Built once per dialect and table: claims and nonces insert on every request.
_conflict_free_inserts: dict[tuple[str, str], HotStatement] = {}


def affected_rows(result: object) -> int:
    """Rows an UPDATE or DELETE touched (single statements report them reliably on SQLite and psycopg)."""
    return int(getattr(result, "rowcount", 0) or 0)


def unattached(model: type[_Model], row: Sequence[Any]) -> _Model:
    """An instance of `model` from a hot statement's row of all its table's columns, in the table's order.

    It is not the session's: a change to it would never be flushed, so it serves reads only (what an UPDATE
    ... RETURNING gave back). An instance of the same row the session loaded before keeps its old values.
    """
    return unattached_of(model, zip(_column_keys(model), row, strict=True))


def unattached_of(model: type[_Model], values: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> _Model:
    """An instance of `model` holding `values` (column name, value), not the session's (see `unattached`).

    The values are set as the ORM's own loading sets them, in the instance's dict: the constructor's
    attribute events cost several times more (about 26 µs against 4 for an authorization's 18 columns).
    """
    instance: _Model = _instance_maker(model)()
    instance.__dict__.update(values)
    return instance


@functools.cache
def _column_keys(model: type[Base]) -> tuple[str, ...]:
    return tuple(table_of(model).columns.keys())


@functools.cache
def _instance_maker(model: type[_Model]) -> Callable[[], _Model]:
    configure_mappers()  # a class's attributes read its values only once its mappers are configured
    maker: Callable[[], _Model] = manager_of_class(model).new_instance
    return maker


class HotResult(NamedTuple):
    """What a hot statement gave back: its rows (empty without RETURNING) and how many it touched or read."""

    rows: list[tuple[Any, ...]]
    affected: int


_TRANSACTION_CONNECTION = "essc.transaction_connection"


def _transaction_connection(session: OrmSession) -> Connection:
    """The connection of the session's current transaction, asked of the session once per transaction."""
    # Session.connection() walks the session's transaction state on every call: a hot path makes several.
    held = session.info.get(_TRANSACTION_CONNECTION)
    transaction = session.get_transaction()
    if held is not None and transaction is not None and held[0] is transaction:
        connection: Connection = held[1]
        return connection
    connection = session.connection()
    # The transaction object is held, so a later one cannot be mistaken for it; a commit or rollback ends it.
    session.info[_TRANSACTION_CONNECTION] = (session.get_transaction(), connection)
    return connection


# What a hot statement can be: a SELECT, or an INSERT, UPDATE or DELETE.
_Hot = Select[*tuple[Any, ...]] | UpdateBase


class HotStatement:
    """A statement of the hottest paths, built once in Core and run on PostgreSQL on the driver's own cursor.

    Per execution SQLAlchemy computes a cache key, processes every parameter and builds a result object; on
    a statement that PostgreSQL answers from a prepared plan that costs more than the statement itself. The
    SQL is SQLAlchemy's own compilation for the dialect, so it is the same statement either way. Parameters
    are passed as the driver takes them (aware UTC datetimes, bytes, str) and rows come back as plain tuples
    (the engine sets the session's TimeZone to UTC). SQLite, the embedded one-node store, keeps the Core path
    with its type processing (its datetimes are strings).
    """

    def __init__(self, statement: _Hot, *, columns_from_params: bool = False) -> None:
        self.statement = statement
        # An INSERT without explicit values names the columns its parameters give, as Core would.
        self.columns_from_params = columns_from_params
        # The driver's SQL, by driver and INSERT columns
        self._compiled: dict[tuple[str, tuple[str, ...]], _DriverSql] = {}
        self.writes = bool(getattr(statement, "is_dml", False))

    def execute(
        self, session: OrmSession, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> HotResult:
        """Run with one parameter set (rows returned) or several (an executemany: no rows)."""
        if self.writes and isinstance(session, ReadingSession):
            # Sent past the session, so its own check (ReadingSession.execute) would not see it.
            raise WritesInReadOnlyWork(f"{type(self.statement).__name__} sent in work declared to only read")
        if session.info.get(_STAND_ALONE):
            engine = session.get_bind()
            if isinstance(engine, Engine) and engine.dialect.driver == "asyncpg":
                return self._stand_alone(engine, params)
        connection = _transaction_connection(session)
        dialect = connection.dialect
        if dialect.name != "postgresql":
            result = connection.execute(self.statement, params)
            if not result.returns_rows:
                return HotResult([], affected_rows(result))
            rows = [tuple(row) for row in result]
            return HotResult(rows, len(rows))  # pysqlite counts no rows for a statement with RETURNING
        compiled = self._compiled_for(dialect, params)
        if dialect.driver == "asyncpg":
            try:
                return compiled.run_asyncpg(connection, params)
            except BaseException as exc:
                forget_if_lost(connection.engine, connection.connection, exc)
                raise
        return compiled.run_psycopg(connection, params)

    def _compiled_for(
        self, dialect: Dialect, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> _DriverSql:
        first = params if isinstance(params, Mapping) else params[0]
        columns = tuple(first) if self.columns_from_params else ()
        compiled = self._compiled.get((dialect.driver, columns))
        if compiled is None:
            compiled = self._compiled[(dialect.driver, columns)] = _DriverSql.compile(
                self.statement, dialect, columns
            )
        return compiled

    def _stand_alone(
        self, engine: Engine, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> HotResult:
        """Run on a pooled driver connection of its own, outside any transaction (the session autocommits).

        The session's own connection would cost a session transaction, a Connection and the switch to
        autocommit and back on every request: more than twice the driver's work (measured in
        bench/bench_qr.py). The connection goes back to the pool as soon as the statement is done.
        """
        compiled = self._compiled_for(engine.dialect, params)
        pooled = engine.raw_connection()
        try:
            return compiled.run_on_driver(pooled.driver_connection, params)
        except BaseException as exc:
            forget_if_lost(engine, pooled, exc)
            raise
        finally:
            pooled.close()


def changing_row(table: Table, *conditions: ColumnElement[bool], **values: Any) -> HotStatement:
    """A state change of `table` built once, in Core, that hands back the whole row (UPDATE ... RETURNING)."""
    return HotStatement(update(table).where(*conditions).values(**values).returning(*table.columns))


# A string constant written in SQL as it is between quotes: no quote, backslash or percent sign to escape.
_PLAIN_CONSTANT = re.compile(r"[^'\\%\x00-\x1f]*")


def _written_constant(bind: BindParameter[Any]) -> ColumnElement[Any] | None:
    """A literal of the statement as SQL of its own, or None if it is left a parameter.

    Literal strings and integers only (not a bool, a time or bytes), and strings that need no escaping:
    what is written is then the same whatever the connection's settings.
    """
    if bind.required or bind.callable is not None or bind.type._isnull:
        return None  # a parameter of the caller's, or one whose cast only the driver knows
    value = bind.value
    if type(value) is int:
        return cast(literal_column(str(value)), bind.type).label(None)
    if type(value) is str and _PLAIN_CONSTANT.fullmatch(value):
        return cast(literal_column(f"'{value}'"), bind.type).label(None)
    return None


def _constants_written_in(statement: _Hot) -> _Hot:
    """The statement with its constants written in its SQL, not sent as parameters on every execution.

    An audited statement has some twenty (actions, JSON keys, statuses); as parameters the driver encoded
    and PostgreSQL decoded every one of them each time. Each is written with its cast, as a parameter is.
    """

    def written_in(element: Any) -> Any:
        return _written_constant(element) if isinstance(element, BindParameter) else None

    written: _Hot = replacement_traverse(statement, {}, written_in)  # type: ignore[call-overload]
    return written


class _DriverSql:
    """A statement as the PostgreSQL driver takes it: SQLAlchemy's SQL, its literals, the order of binds."""

    def __init__(self, sql: str, literals: dict[str, Any], positions: tuple[str, ...], returns: bool) -> None:
        self.sql = sql
        self.literals = literals
        self.positions = positions
        self.returns_rows = returns

    @classmethod
    def compile(cls, statement: _Hot, dialect: Dialect, columns: tuple[str, ...]) -> _DriverSql:
        written = _constants_written_in(statement)
        compiled = written.compile(dialect=dialect, column_keys=list(columns) or None)
        # Other literals in the statement (`.values(applied=True)`, a time) are parameters of its SQL.
        literals = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and bind.callable is None
        }
        positions = tuple(compiled.positiontup or ())
        returns = isinstance(statement, Select) or bool(getattr(compiled, "effective_returning", None))
        return cls(str(compiled), literals, positions, returns)

    def _with_literals(self, params: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**self.literals, **params} if self.literals else params

    def run_psycopg(
        self, connection: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> HotResult:
        driver = connection.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            if isinstance(params, Mapping):
                cursor.execute(self.sql, self._with_literals(params))
                rows = cursor.fetchall() if cursor.description is not None else []
                return HotResult(rows, cursor.rowcount)
            cursor.executemany(self.sql, [self._with_literals(p) for p in params])
            return HotResult([], cursor.rowcount)

    def run_asyncpg(
        self, connection: Connection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> HotResult:
        adapted: Any = connection.connection.dbapi_connection
        # The adapter opens its transaction with the first statement it sends itself: a statement sent past
        # it must open it too, or it would run (and commit) on its own.
        if adapted._transaction is None and not adapted.autocommit:
            await_(adapted._start_transaction())
        return self.run_on_driver(adapted.driver_connection, params)

    def run_on_driver(
        self, driver: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> HotResult:
        """Run on an asyncpg connection as it is (in its transaction, if one is open on it)."""
        if isinstance(params, Mapping):
            merged = self._with_literals(params)
            args = [merged[name] for name in self.positions]
            if self.returns_rows:
                records = await_(driver.fetch(self.sql, *args))
                return HotResult([tuple(record) for record in records], len(records))
            status: str = await_(driver.execute(self.sql, *args))
            return HotResult([], _status_count(status))
        batches = [[merged[name] for name in self.positions] for merged in map(self._with_literals, params)]
        await_(driver.executemany(self.sql, batches))
        return HotResult([], len(batches))  # asyncpg reports no count for a batch; each row is one statement


def forget_if_lost(engine: Engine, pooled: Any, error: BaseException) -> None:
    """After an error on a pooled connection: a connection that is gone takes its generation out of the pool.

    What SQLAlchemy does for the statements it runs itself: after a restart or failover every connection
    made before it is dead, and each would cost a request an error if handed out again.
    """
    driver = getattr(pooled, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    broken = isinstance(error, asyncpg.exceptions.InternalClientError)
    if broken or (callable(is_closed) and is_closed()):
        engine.pool._invalidate(pooled, error)


def _status_count(status: str) -> int:
    """The row count of a command tag such as `UPDATE 3` or `INSERT 0 1`."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isascii() and last.isdigit() else 0


_COMMIT_GUARDS = "essc.commit_guards"
_GUARDS_RAN = "essc.commit_guards_ran"


def guard_commit(session: OrmSession, guard: Callable[[OrmSession], None]) -> None:
    """Run `guard` in every transaction of the session just before it commits; raising stops the commit.

    A unit of work runs the guards first, before it appends its audit entries (commit_guards_first), so a
    refused commit writes none; any other commit runs them from the session's event.
    """
    session.info.setdefault(_COMMIT_GUARDS, []).append(guard)


@contextmanager
def commit_guards_first(session: OrmSession) -> Iterator[None]:
    """Run the session's commit guards now, for the commit made inside the block (not again at it)."""
    _run_guards(session)
    session.info[_GUARDS_RAN] = True
    try:
        yield
    finally:
        session.info.pop(_GUARDS_RAN, None)  # a block that failed before committing leaves nothing behind


# Listened to once for all sessions: registering a listener per session costs more than the check it runs.
@event.listens_for(OrmSession, "before_commit")
def _guards_before_commit(session: OrmSession) -> None:
    if not session.info.pop(_GUARDS_RAN, False):
        _run_guards(session)


def _run_guards(session: OrmSession) -> None:
    for guard in session.info.get(_COMMIT_GUARDS, ()):
        guard(session)
