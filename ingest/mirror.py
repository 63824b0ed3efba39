"""Mirror the published marts into PostgreSQL, for BI tools that speak PostgreSQL.

One transaction per publish: the tables of schema `marts` are dropped, recreated and loaded
(COPY) inside it, so a BI user sees the old tables or the new ones, never a mix. Table and
column comments come from the dbt docs (the manifest saved at publish). A read-only role
(`govwh_reader`, NOLOGIN) gets USAGE and SELECT; grant it to BI logins. Re-publishing the same
warehouse gives identical tables.

    GOVWH_PG_DSN=postgresql://user@127.0.0.1:5432/governance python -m ingest mirror
"""
from __future__ import annotations

import logging
import time

import duckdb

from .config import Settings
from .errors import MirrorError
from .publish import marts_docs, published_manifest, quote_ident, table_keys

log = logging.getLogger(__name__)

# The mirror's transaction waits at most LOCK_TIMEOUT for a table lock (a BI session idle in a
# transaction holds one) and at most STATEMENT_TIMEOUT for any statement, then tries again, up
# to ATTEMPTS times; readers queue behind it for no longer than LOCK_TIMEOUT.
LOCK_TIMEOUT = "5s"
STATEMENT_TIMEOUT = "300s"
ATTEMPTS = 3
READER_STATEMENT_TIMEOUT = "120s"  # a BI login's queries end too

SCHEMA = "marts"
READER_ROLE = "govwh_reader"
READER_IDLE_TIMEOUT = "60s"  # a BI session left idle in a transaction never blocks the nightly mirror for long
READER_CONNECTION_LIMIT = 20
# Large-object functions that write (PostgreSQL grants them to PUBLIC): revoked in the mirror's
# database, so a read-only login cannot store data through them.
LO_WRITERS = ("lo_from_bytea(oid, bytea)", "lo_create(oid)", "lo_creat(integer)", "lo_put(oid, bigint, bytea)",
              "lowrite(integer, bytea)", "lo_truncate(integer, integer)", "lo_truncate64(integer, bigint)",
              "lo_unlink(oid)", "lo_import(text)", "lo_import(text, oid)")
PG_TYPES = {"VARCHAR": "text", "INTEGER": "integer", "BIGINT": "bigint", "DOUBLE": "double precision",
            "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp", "HUGEINT": "numeric"}


def pg_type(duckdb_type: str) -> str:
    """The PostgreSQL type for a DuckDB column type; DECIMAL keeps its precision and scale."""
    import re

    found = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", duckdb_type)
    if found:
        return f"numeric({int(found.group(1))}, {int(found.group(2))})"
    return PG_TYPES.get(duckdb_type, "text")


def reader_password() -> str | None:
    """The BI login's password: $GOVWH_PG_READER_PASSWORD, or the first line of the file named by
    $GOVWH_PG_READER_PASSWORD_FILE (a Docker/Kubernetes secret). Never a default in code."""
    import os

    from .errors import ConfigError

    path = os.environ.get("GOVWH_PG_READER_PASSWORD_FILE")
    if path:
        try:
            return open(path, encoding="utf-8").readline().strip() or None
        except OSError as exc:
            raise ConfigError(f"GOVWH_PG_READER_PASSWORD_FILE={path!r}: {exc.strerror}") from None
    return os.environ.get("GOVWH_PG_READER_PASSWORD") or None


def _reader_login(cur, login: str) -> None:
    """A BI login: member of the read-only role, search_path on the marts, a statement timeout,
    and the password from the environment when one is given."""
    from psycopg import sql

    cur.execute("select 1 from pg_roles where rolname = %s", [login])
    if cur.fetchone() is None:
        cur.execute(sql.SQL("create role {} login").format(sql.Identifier(login)))
    password = reader_password()
    if password:
        cur.execute(sql.SQL("alter role {} password {}").format(sql.Identifier(login), sql.Literal(password)))
    cur.execute(sql.SQL("alter role {} set search_path = {}, public").format(sql.Identifier(login),
                                                                          sql.Identifier(SCHEMA)))
    cur.execute(sql.SQL("alter role {} set statement_timeout = {}").format(sql.Identifier(login),
                                                                        sql.Literal(READER_STATEMENT_TIMEOUT)))
    cur.execute(sql.SQL("alter role {} set idle_in_transaction_session_timeout = {}").format(
        sql.Identifier(login), sql.Literal(READER_IDLE_TIMEOUT)))
    cur.execute(sql.SQL("alter role {} connection limit {}").format(sql.Identifier(login),
                                                                 sql.Literal(READER_CONNECTION_LIMIT)))
    cur.execute(sql.SQL("grant {} to {}").format(sql.Identifier(READER_ROLE), sql.Identifier(login)))
    _lock_down(cur)


def _lock_down(cur) -> None:
    """What PostgreSQL grants every role by default and a read-only login must not have, in the
    mirror's database: temporary tables and the large-object functions that write. (A role can
    still change its own password: PostgreSQL cannot forbid it; see the README.)"""
    from psycopg import sql

    cur.execute("select current_database()")
    (database,) = cur.fetchone()
    cur.execute(sql.SQL("revoke temporary on database {} from public").format(sql.Identifier(database)))
    for function in LO_WRITERS:  # fixed signatures, not user input
        cur.execute(sql.SQL("revoke execute on function {} from public").format(sql.SQL(function)))


def set_up_reader(dsn: str, login: str) -> None:
    """The BI login alone, without mirroring (`govwh mirror --reader-only`; the Compose init
    container runs it at every start, so a changed password applies then): its password from the
    environment, its settings, membership of the read-only role and the database's lockdown."""
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(dsn, connect_timeout=10, application_name="govwh-reader-setup") as pg:
            with pg.cursor() as cur:
                cur.execute("select 1 from pg_roles where rolname = %s", [READER_ROLE])
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("create role {} nologin").format(sql.Identifier(READER_ROLE)))
                _reader_login(cur, login)
    except psycopg.OperationalError as exc:
        raise MirrorError(f"cannot reach PostgreSQL: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _blockers(dsn: str) -> str:
    """Who holds up the mirror: sessions idle in a transaction, or holding locks on the schema."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=10) as pg:
            rows = pg.execute("""
                select a.pid, a.usename, a.application_name, a.state, a.xact_start
                from pg_stat_activity a
                where a.datname = current_database() and a.pid <> pg_backend_pid()
                  and (a.state like 'idle in transaction%%' or exists (
                       select 1 from pg_locks l join pg_class c on c.oid = l.relation
                       join pg_namespace n on n.oid = c.relnamespace
                       where l.pid = a.pid and n.nspname = %s))
                order by a.xact_start nulls last limit 3""", [SCHEMA]).fetchall()
    except psycopg.Error:
        return "the blocking session could not be identified"
    if not rows:
        return "no blocking session is left"
    return "; ".join(f"pid {pid} (user {user}, {app or 'no application name'}, {state}, transaction since "
                     f"{start:%Y-%m-%d %H:%M:%S})" if start else f"pid {pid} (user {user}, {state})"
                     for pid, user, app, state, start in rows)


def mirror(settings: Settings, dsn: str, reader_login: str | None = None, attempts: int = ATTEMPTS,
           lock_timeout: str = LOCK_TIMEOUT) -> dict:
    """Mirror the marts in one transaction; retried (bounded) when a reader's lock blocks it."""
    import psycopg

    for attempt in range(1, attempts + 1):
        try:
            return _mirror_once(settings, dsn, reader_login, lock_timeout)
        except psycopg.errors.LockNotAvailable:
            if attempt == attempts:
                raise MirrorError(f"PostgreSQL mirror gave up after {attempts} tries of {lock_timeout} each: a "
                                  f"session holds a lock on schema {SCHEMA} ({_blockers(dsn)}); the mirrored "
                                  "tables are unchanged. End that session (pg_terminate_backend) or its "
                                  "transaction, then run `govwh mirror`") from None
            log.warning("mirror blocked by a reader's lock (try %d of %d); retrying", attempt, attempts)
            time.sleep(2 * attempt)
        except psycopg.errors.QueryCanceled as exc:
            raise MirrorError(f"PostgreSQL mirror stopped: a statement ran over {STATEMENT_TIMEOUT} "
                              f"({str(exc).splitlines()[0]}); the mirrored tables are unchanged") from None
        except psycopg.OperationalError as exc:
            raise MirrorError(f"cannot reach PostgreSQL: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    raise AssertionError("unreachable")


def _add_keys(cur, keys: dict[str, dict]) -> None:
    """The serving file's primary keys, then its foreign keys (BI tools infer joins from them)."""
    from psycopg import sql

    columns = lambda names: sql.SQL(", ").join(sql.Identifier(c) for c in names)  # noqa: E731
    for table, entry in sorted(keys.items()):
        if entry["primary"]:
            cur.execute(sql.SQL("alter table {} add primary key ({})").format(
                sql.Identifier(SCHEMA, table), columns(entry["primary"])))
    for table, entry in sorted(keys.items()):
        for own, referenced, referenced_columns in entry["foreign"]:
            cur.execute(sql.SQL("alter table {} add foreign key ({}) references {} ({})").format(
                sql.Identifier(SCHEMA, table), columns(own), sql.Identifier(SCHEMA, referenced),
                columns(referenced_columns)))


def _mirror_once(settings: Settings, dsn: str, reader_login: str | None, lock_timeout: str) -> dict:
    import psycopg
    from psycopg import sql

    started = time.perf_counter()
    manifest = published_manifest(settings.warehouse)
    docs = marts_docs(manifest)
    duck = duckdb.connect(str(settings.warehouse), read_only=True)
    tables = []
    try:
        names = [r[0] for r in duck.execute("select table_name from information_schema.tables where "
                                            "table_schema = ? order by 1", [SCHEMA]).fetchall()]
        with psycopg.connect(dsn, connect_timeout=10, application_name="govwh-mirror") as pg:  # one transaction
            with pg.cursor() as cur:
                cur.execute("select set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)",
                            [lock_timeout, STATEMENT_TIMEOUT])
                cur.execute("select 1 from pg_roles where rolname = %s", [READER_ROLE])
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("create role {} nologin").format(sql.Identifier(READER_ROLE)))
                cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(SCHEMA)))
                # the last mirror's foreign keys go first: every table is replaced, referenced ones too
                cur.execute("select c.relname, k.conname from pg_constraint k join pg_class c on c.oid = k.conrelid "
                            "join pg_namespace n on n.oid = c.relnamespace where k.contype = 'f' and n.nspname = %s",
                            [SCHEMA])
                for table, constraint in cur.fetchall():
                    cur.execute(sql.SQL("alter table {} drop constraint {}").format(
                        sql.Identifier(SCHEMA, table), sql.Identifier(constraint)))
                for name in names:
                    columns = duck.execute("select column_name, data_type from information_schema.columns where "
                                           "table_schema = ? and table_name = ? order by ordinal_position",
                                           [SCHEMA, name]).fetchall()
                    qualified = sql.Identifier(SCHEMA, name)
                    cur.execute(sql.SQL("drop table if exists {}").format(qualified))
                    cur.execute(sql.SQL("create table {} ({})").format(qualified, sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(pg_type(t))) for c, t in columns)))
                    rows = duck.execute(f"select * from {quote_ident(SCHEMA)}.{quote_ident(name)} order by all").fetchall()
                    with cur.copy(sql.SQL("copy {} from stdin").format(qualified)) as copy:
                        for row in rows:
                            copy.write_row(row)
                    description, column_docs = docs.get(name, ("", {}))
                    if description:
                        cur.execute(sql.SQL("comment on table {} is {}").format(qualified, sql.Literal(description)))
                    for c, _t in columns:
                        if column_docs.get(c):
                            cur.execute(sql.SQL("comment on column {} is {}").format(
                                sql.Identifier(SCHEMA, name, c), sql.Literal(column_docs[c])))
                    tables.append((name, len(rows)))
                _add_keys(cur, table_keys(duck, duck.execute("select current_database()").fetchone()[0], SCHEMA, manifest))
                cur.execute(sql.SQL("grant usage on schema {} to {}").format(
                    sql.Identifier(SCHEMA), sql.Identifier(READER_ROLE)))
                cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(
                    sql.Identifier(SCHEMA), sql.Identifier(READER_ROLE)))
                if reader_login:
                    _reader_login(cur, reader_login)
    finally:
        duck.close()
    return {"tables": len(tables), "rows": sum(n for _, n in tables), "seconds": round(time.perf_counter() - started, 2)}
