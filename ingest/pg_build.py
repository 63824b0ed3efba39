"""The same dbt models on a PostgreSQL server: load the parsed layer, then `dbt build --target postgres`.

The embedded warehouse (DuckDB) stays the default. An organisation that already runs PostgreSQL
builds the very same models there:

    govwh build-postgres --dsn postgresql://user@host:5432/warehouse

1. load: every dbt source the project declares with a Parquet `external_location` (the parse
   step's tidy tables) becomes a table in PostgreSQL, in a schema named after the source
   (`vcci.pci_scores`, `undp.papi_scores`, `curated.observations`, `catalogue.publications`),
   replaced in one transaction with COPY. The list comes from the sources' YAML, not from here.
2. dbt build --target postgres: seeds, models, contracts and tests; the few DuckDB-only
   constructs sit behind `adapter.dispatch` macros (dbt_project/macros/portable.sql).

Credentials come from the DSN (psycopg's libpq syntax; PG* variables and ~/.pgpass fill what it
leaves out, as for any libpq client); the password goes to dbt through the environment, never on
its command line (give govwh the DSN in GOVWH_PG_BUILD_DSN rather than --dsn to keep it off
govwh's own). The TLS settings of the DSN (sslmode, sslrootcert) reach dbt too.

What it writes on the server: the four source schemas (replaced whole, `drop ... cascade`: a view
someone built on them goes too), dbt's schemas (staging, intermediate, marts, reference, semantic)
and the function `<schema>.governance_round`. The load is one transaction; dbt replaces each model
whole, but a failed build leaves the models before the failure rebuilt and the rest as they were.
Use a database of its own.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import duckdb
import yaml

from .config import Settings, tune
from .errors import BuildFailed, ConfigError, MirrorError, one_line
from .lock import run_lock
from .mirror import PG_TYPES, pg_type
from .pipeline import _dbt_build, _log_error, dbt_env

log = logging.getLogger(__name__)

TARGET = "postgres"
# read_parquet('<GOVWH_PARSED_DIR>/pci/*.parquet'): the glob after the parsed folder
_EXTERNAL = re.compile(r"read_parquet\('\{\{\s*env_var\('GOVWH_PARSED_DIR'[^}]*\}\}/([^']+)'\)")


def declared_sources(project_dir: Path) -> list[tuple[str, str, str]]:
    """(source, table, glob under the parsed folder) for every source table read from Parquet."""
    found = []
    for path in sorted(Path(project_dir, "models").rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for source in doc.get("sources") or []:
            for table in source.get("tables") or []:
                location = ((table.get("meta") or {}).get("external_location")
                            or (table.get("config") or {}).get("meta", {}).get("external_location"))
                if not location:
                    continue
                match = _EXTERNAL.fullmatch(location.strip())
                if not match or ".." in match.group(1):
                    raise ConfigError(f"{path}: source {source['name']}.{table['name']}: external_location "
                                      f"{location!r} is not read_parquet('<GOVWH_PARSED_DIR>/<glob>')")
                found.append((source["name"], table["name"], match.group(1)))
    if not found:
        raise ConfigError(f"{project_dir}: no dbt source is read from the parsed Parquet files")
    return found


def connection_env(dsn: str, env: dict | None = None) -> dict[str, str]:
    """The postgres profile's variables (profiles.yml) from a DSN: host, port, user, password,
    database, sslmode, sslrootcert; what the DSN leaves out comes from libpq's PG* variables (a
    password in PGPASSWORD included), then libpq's defaults."""
    import getpass
    import os

    from psycopg.conninfo import conninfo_to_dict

    env = os.environ if env is None else env
    try:
        parts = conninfo_to_dict(dsn)
    except Exception as exc:  # psycopg.ProgrammingError: an unreadable DSN
        raise ConfigError(f"the PostgreSQL DSN is not valid: {one_line(str(exc), 200)}") from None
    dbname = parts.get("dbname") or env.get("PGDATABASE")
    if not dbname:
        raise ConfigError("the PostgreSQL DSN names no database (postgresql://user@host:5432/<database>)")
    value = lambda key, var, default: str(parts.get(key) or env.get(var) or default)  # noqa: E731
    return {"GOVWH_PGT_HOST": value("host", "PGHOST", "127.0.0.1"), "GOVWH_PGT_PORT": value("port", "PGPORT", 5432),
            "GOVWH_PGT_USER": value("user", "PGUSER", getpass.getuser()),
            "GOVWH_PGT_PASSWORD": value("password", "PGPASSWORD", ""), "GOVWH_PGT_DBNAME": str(dbname),
            "GOVWH_PGT_SSLMODE": value("sslmode", "PGSSLMODE", "prefer"),
            "GOVWH_PGT_SSLROOTCERT": value("sslrootcert", "PGSSLROOTCERT", "")}


def load(settings: Settings, dsn: str) -> dict[str, int]:
    """The parsed Parquet tables into PostgreSQL, one schema per dbt source, in one transaction."""
    import psycopg
    from psycopg import sql

    rows_by_table: dict[str, int] = {}
    duck = tune(duckdb.connect())
    loading = "the connection"
    try:
        with psycopg.connect(dsn, connect_timeout=10, application_name="govwh-load") as pg, pg.cursor() as cur:
            for source, table, pattern in declared_sources(settings.dbt_project_dir):
                loading = f"{source}.{table}"
                files = sorted(settings.parsed_dir.glob(pattern))
                if not files:
                    raise BuildFailed(f"{settings.parsed_dir / pattern}: no parsed file for source {source}.{table}; "
                                      "run `govwh parse` (or `govwh run`) first")
                try:  # as dbt-duckdb reads them: read_parquet of the glob
                    relation = duck.read_parquet([str(f) for f in files])
                    columns = list(zip(relation.columns, (str(t) for t in relation.types)))
                except duckdb.Error as exc:
                    raise BuildFailed(f"{settings.parsed_dir / pattern}: the parsed files of source {source}.{table} "
                                      f"cannot be read ({one_line(str(exc), 200)}); run `govwh parse --force` or "
                                      "`govwh run --force`") from exc
                unknown = [f"{c} {t}" for c, t in columns if t not in PG_TYPES and not t.startswith("DECIMAL(")]
                if unknown:
                    raise BuildFailed(f"{settings.parsed_dir / pattern}: source {source}.{table} has columns of a type "
                                      f"the load does not map to PostgreSQL: {', '.join(unknown)}")
                qualified = sql.Identifier(source, table)
                cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(source)))
                cur.execute(sql.SQL("drop table if exists {} cascade").format(qualified))
                cur.execute(sql.SQL("create table {} ({})").format(qualified, sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(pg_type(t))) for c, t in columns)))
                count = 0
                rows = duck.execute("select * from read_parquet(?)", [[str(f) for f in files]])
                with cur.copy(sql.SQL("copy {} from stdin").format(qualified)) as copy:
                    while batch := rows.fetchmany(10_000):  # not the whole table in memory at once
                        for row in batch:
                            copy.write_row(row)
                        count += len(batch)
                if count == 0:
                    log.warning("%s: source %s.%s has no rows", settings.parsed_dir / pattern, source, table)
                rows_by_table[loading] = count
    except psycopg.Error as exc:
        raise MirrorError(f"loading the parsed tables into PostgreSQL failed at {loading}: "
                          f"{one_line(str(exc), 300) or type(exc).__name__} (nothing of this load was kept)") from exc
    finally:
        duck.close()
    return rows_by_table


def build(settings: Settings, dsn: str, say=print) -> dict:
    """Load the parsed layer, then dbt build --target postgres; one line per failure, the log kept."""
    connection = connection_env(dsn)  # an unusable DSN is refused before anything runs
    with run_lock(settings, "build-postgres"):  # the parsed files stay as they are while they are read
        return _build(settings, dsn, connection, say)


def _build(settings: Settings, dsn: str, connection: dict, say) -> dict:
    started = time.perf_counter()
    loaded = load(settings, dsn)
    load_seconds = time.perf_counter() - started
    say(f"[build-postgres] loaded {sum(loaded.values()):,} parsed rows into {len(loaded)} tables "
        f"({', '.join(loaded)}) in {load_seconds:.1f}s")
    out = settings.data_dir / "build-postgres"
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "dbt_build.log"
    results_path = out / "target" / "run_results.json"
    unused = out / "unused.duckdb"  # the duckdb target's file name, which the profile needs set
    env = {**dbt_env(settings, unused), **connection}
    say(f"[build-postgres] dbt build --target {TARGET}")
    dbt_started = time.perf_counter()
    proc, results, failed = _dbt_build(settings, unused, log_path, results_path, "--target", TARGET, env=env)
    dbt_seconds = time.perf_counter() - dbt_started
    if proc.returncode != 0 or results is None or failed:
        detail = "; ".join(f"{r['unique_id']}: {r['status']} ({one_line(r.get('message') or '', 200)})"
                           for r in failed[:5]) or f"dbt ended with code {proc.returncode}: {_log_error(log_path)}"
        raise BuildFailed(f"dbt build --target {TARGET} failed ({len(failed)} failing nodes): {detail}. "
                          f"Log: {log_path}")
    passed = sum(1 for r in results if r["status"] in ("success", "pass"))
    say(f"[build-postgres] {passed} models, seeds and tests passed in {dbt_seconds:.1f}s on PostgreSQL")
    return {"loaded": loaded, "load_seconds": round(load_seconds, 2), "dbt_seconds": round(dbt_seconds, 2),
            "passed": passed, "log": str(log_path)}


def _as_text(value) -> str | None:
    """One cell as text, the same from either database: numbers to 9 decimals (a mean's last bits
    differ between two engines' decimal arithmetic), dates in ISO form, booleans as true/false."""
    import datetime
    from decimal import Decimal

    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        text = f"{value:.9f}"
        return "0.000000000" if text == "-0.000000000" else text
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return str(value)


def differences(warehouse: Path, dsn: str, schema: str = "marts", rows: bool = False) -> dict:
    """Every table of schema in the DuckDB warehouse against the same table built on PostgreSQL,
    row for row after casting to text: {table: (rows only in DuckDB, rows only in PostgreSQL)} for
    the tables that differ, counts (or, with rows=True, the rows themselves as dicts of text). A
    table or column missing on one side counts as a difference."""
    from collections import Counter

    import psycopg
    from psycopg import sql

    from .publish import quote_ident

    out: dict = {}
    duck = duckdb.connect(str(warehouse), read_only=True)
    try:
        with psycopg.connect(dsn, connect_timeout=10, application_name="govwh-compare") as pg, pg.cursor() as cur:
            names = [r[0] for r in duck.execute("select table_name from information_schema.tables where "
                                                "table_schema = ? and table_type = 'BASE TABLE' order by 1",
                                                [schema]).fetchall()]
            cur.execute("select table_name from information_schema.tables where table_schema = %s and "
                        "table_type = 'BASE TABLE'", [schema])
            on_pg = {r[0] for r in cur.fetchall()}
            for name in sorted(set(names) | on_pg):
                if name not in on_pg or name not in names:
                    counts = (1, 0) if name not in on_pg else (0, 1)
                    out[name] = tuple(({"table": name},) * n for n in counts) if rows else counts
                    continue
                columns = [r[0] for r in duck.execute(
                    "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                    "order by ordinal_position", [schema, name]).fetchall()]
                cur.execute("select column_name from information_schema.columns where table_schema = %s and "
                            "table_name = %s", [schema, name])
                if {r[0] for r in cur.fetchall()} != set(columns):
                    out[name] = (({"columns": ",".join(columns)},), ({"columns": "differ"},)) if rows else (1, 1)
                    continue
                listed = ", ".join(quote_ident(c) for c in columns)
                left = Counter(tuple(map(_as_text, row)) for row in duck.execute(
                    f"select {listed} from {quote_ident(schema)}.{quote_ident(name)}").fetchall())
                cur.execute(sql.SQL("select {} from {}").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(schema, name)))
                right = Counter(tuple(map(_as_text, row)) for row in cur.fetchall())
                if left != right:
                    only_duck, only_pg = list((left - right).elements()), list((right - left).elements())
                    out[name] = ((tuple(dict(zip(columns, r)) for r in only_duck),
                                  tuple(dict(zip(columns, r)) for r in only_pg)) if rows
                                 else (len(only_duck), len(only_pg)))
    finally:
        duck.close()
    return out
