"""Mirror the published marts into PostgreSQL, for BI tools that speak PostgreSQL.

One transaction per publish: the tables of schema `marts` are dropped, recreated and loaded
(COPY) inside it, so a BI user sees the old tables or the new ones, never a mix. Table and
column comments come from the dbt docs (the manifest saved at publish). A read-only role
(`govwh_reader`, NOLOGIN) gets USAGE and SELECT; grant it to BI logins. Re-publishing the same
warehouse gives identical tables.

    GOVWH_PG_DSN=postgresql://user@127.0.0.1:5432/governance python -m ingest mirror
"""
from __future__ import annotations

import json
import time

import duckdb

from .config import Settings
from .publish import manifest_path

SCHEMA = "marts"
READER_ROLE = "govwh_reader"
PG_TYPES = {"VARCHAR": "text", "INTEGER": "integer", "BIGINT": "bigint", "DOUBLE": "double precision",
            "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp", "HUGEINT": "numeric"}


def _docs(settings: Settings) -> dict[str, tuple[str, dict[str, str]]]:
    path = manifest_path(settings)
    if not path.exists():
        return {}
    manifest = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node.get("schema") == SCHEMA:
            out[node["name"]] = (node.get("description", ""),
                                 {c: m.get("description", "") for c, m in node.get("columns", {}).items()})
    return out


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def mirror(settings: Settings, dsn: str, reader_login: str | None = None) -> dict:
    import psycopg
    from psycopg import sql

    started = time.perf_counter()
    docs = _docs(settings)
    duck = duckdb.connect(str(settings.warehouse), read_only=True)
    tables = []
    try:
        names = [r[0] for r in duck.execute("select table_name from information_schema.tables where "
                                            "table_schema = ? order by 1", [SCHEMA]).fetchall()]
        with psycopg.connect(dsn) as pg:  # one transaction: commits on success, rolls back on error
            with pg.cursor() as cur:
                cur.execute("select 1 from pg_roles where rolname = %s", [READER_ROLE])
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("create role {} nologin").format(sql.Identifier(READER_ROLE)))
                cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(SCHEMA)))
                for name in names:
                    columns = duck.execute("select column_name, data_type from information_schema.columns where "
                                           "table_schema = ? and table_name = ? order by ordinal_position",
                                           [SCHEMA, name]).fetchall()
                    qualified = sql.Identifier(SCHEMA, name)
                    cur.execute(sql.SQL("drop table if exists {}").format(qualified))
                    cur.execute(sql.SQL("create table {} ({})").format(qualified, sql.SQL(", ").join(
                        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(PG_TYPES.get(t, "text"))) for c, t in columns)))
                    rows = duck.execute(f"select * from {SCHEMA}.{_ident(name)} order by all").fetchall()
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
                cur.execute(sql.SQL("grant usage on schema {} to {}").format(
                    sql.Identifier(SCHEMA), sql.Identifier(READER_ROLE)))
                cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(
                    sql.Identifier(SCHEMA), sql.Identifier(READER_ROLE)))
                if reader_login:
                    cur.execute("select 1 from pg_roles where rolname = %s", [reader_login])
                    if cur.fetchone() is None:
                        cur.execute(sql.SQL("create role {} login").format(sql.Identifier(reader_login)))
                    cur.execute(sql.SQL("grant {} to {}").format(sql.Identifier(READER_ROLE),
                                                                 sql.Identifier(reader_login)))
    finally:
        duck.close()
    return {"tables": len(tables), "rows": sum(n for _, n in tables), "seconds": round(time.perf_counter() - started, 2)}
