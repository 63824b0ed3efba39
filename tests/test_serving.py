"""Publish safely and serve analysts and BI tools: write-audit-publish, crash safety, readers
during publish, the PostgreSQL mirror, exports, SQLAlchemy access and the analyst CLI."""
from __future__ import annotations

import csv
import json
import shutil
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from ingest import pipeline
from ingest.exports import FACTS_XLSX_NAME, XLSX_NAME, export_all, exports_dir
from ingest.publish import last_publish, previous_path, publish, rollback

from conftest import MARTS, cached_venv, curated_copy, file_sha256, make_settings, query, table_fingerprints, write_curated


def _env(settings):
    return dict(os.environ, GOVWH_DATA_DIR=str(settings.data_dir), GOVWH_WAREHOUSE=str(settings.warehouse),
                GOVWH_CURATED_DIR=str(settings.curated_dir), PYTHONUNBUFFERED="1")


@pytest.mark.slow
def test_kill_9_mid_build_leaves_the_serving_file_unchanged(warehouse_copy):
    served = file_sha256(warehouse_copy.warehouse)
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "run", "--direct", "--force"], env=_env(warehouse_copy),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        for line in proc.stdout:
            if line.startswith("[build] dbt build"):
                time.sleep(2.0)  # dbt is now writing the private build file
                break
        os.killpg(proc.pid, signal.SIGKILL)  # the pipeline and its dbt child, mid-build
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert file_sha256(warehouse_copy.warehouse) == served
    pipeline.run_all(warehouse_copy, force=True)  # the next run recovers: the stale build file is discarded
    assert last_publish(warehouse_copy)["action"] == "publish"


READER = textwrap.dedent("""
    import sys, time, duckdb
    path, seconds = sys.argv[1], float(sys.argv[2])
    errors, counts, end = [], set(), time.time() + seconds
    while time.time() < end:
        try:
            con = duckdb.connect(path, read_only=True)
            counts.add(con.execute("select count(*) from marts.fct_indicator_scores").fetchone()[0])
            con.close()
        except Exception as exc:
            errors.append(repr(exc))
    print("ERRORS", len(errors), errors[:3])
    print("COUNTS", sorted(counts))
""")


def _two_passing_builds(settings) -> tuple:
    """The copy's own build, and a SYNTHETIC variant of it (one extra table) with its own receipt,
    so that alternate publishes really replace the serving file (the same content twice is a no-op)."""
    import shutil

    from ingest.publish import write_receipt

    a = settings.build_dir / "governance.duckdb"
    other = settings.data_dir / "build-b"
    shutil.copytree(settings.build_dir, other)
    b = other / "governance.duckdb"
    con = duckdb.connect(str(b))
    con.execute("create table marts.marker as select 1 as x")
    con.close()
    write_receipt(b)
    return a, b


def test_a_reader_in_another_process_sees_no_error_during_publish(warehouse_copy):
    builds = _two_passing_builds(warehouse_copy)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(warehouse_copy.warehouse), "6"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    published = 0
    deadline = time.time() + 4
    while time.time() < deadline or published < 5:  # at least five publishes, however busy the machine
        publish(warehouse_copy, builds[published % 2])
        published += 1
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert "ERRORS 0 []" in out
    (expected,) = duckdb.connect(str(warehouse_copy.warehouse), read_only=True).execute(
        "select count(*) from marts.fct_indicator_scores").fetchone()
    assert f"COUNTS [{expected}]" in out


def test_rollback_restores_the_previous_file(warehouse_copy):
    from ingest.publish import write_receipt

    previous_sha = file_sha256(warehouse_copy.warehouse)
    built = warehouse_copy.build_dir / "governance.duckdb"
    con = duckdb.connect(str(built))
    con.execute("create table marts.marker as select 1 as x")  # a visibly different build (synthetic)
    con.close()
    write_receipt(built)  # stands in for the dbt build that would have produced it
    publish(warehouse_copy)
    assert file_sha256(previous_path(warehouse_copy)) == previous_sha
    assert file_sha256(warehouse_copy.warehouse) != previous_sha
    rollback(warehouse_copy)
    tables = duckdb.connect(str(warehouse_copy.warehouse), read_only=True).execute(
        "select count(*) from information_schema.tables where table_name = 'marker'").fetchone()
    assert tables == (0,)
    assert last_publish(warehouse_copy)["action"] == "rollback"


# ------------------------------------------------------------------ PostgreSQL
def _pg_fingerprint(dsn):
    import psycopg

    with psycopg.connect(dsn) as con, con.cursor() as cur:
        cur.execute("select table_name from information_schema.tables where table_schema = 'marts' order by 1")
        out = {}
        for (name,) in cur.fetchall():
            cur.execute(f'select count(*), md5(coalesce(string_agg(t::text, \'|\' order by t::text), \'\')) '
                        f'from marts."{name}" t')
            out[name] = cur.fetchone()
        return out


def _marts_yaml() -> dict:
    import yaml

    from ingest.config import DBT_PROJECT_DIR

    models = []  # one YAML per mart (models/marts/<mart>.yml)
    for path in sorted((DBT_PROJECT_DIR / "models" / "marts").glob("*.yml")):
        models += yaml.safe_load(path.read_text(encoding="utf-8"))["models"]
    return {"models": models}


def _unindexed() -> set[str]:
    """The marts whose keys the YAML marks as not indexed in DuckDB (meta.keys_indexed)."""
    return {m["name"] for m in _marts_yaml()["models"]
            if ((m.get("config") or {}).get("meta") or {}).get("keys_indexed") is False}


def _declared_keys(file: str = "") -> set[tuple]:
    """The primary and foreign keys the dbt YAML declares on the marts (model constraints), read
    from the file itself: (table, 'p', columns) and (table, 'f', columns, referenced table, columns)."""
    import re

    out = set()
    for model in _marts_yaml()["models"]:
        for c in model.get("constraints") or []:
            if file and model["name"] in _unindexed() and (file == "build" or c["type"] == "primary_key"):
                continue  # a fact table's key the file does not index
            if c["type"] == "primary_key":
                out.add((model["name"], "p", tuple(c["columns"])))
            elif c["type"] == "foreign_key":
                (to,) = re.fullmatch(r"ref\('(\w+)'\)", c["to"]).groups()
                out.add((model["name"], "f", tuple(c["columns"]), to, tuple(c["to_columns"])))
    return out


def _duckdb_keys(db: Path, manifest: dict | None = None) -> set[tuple]:
    from ingest.publish import table_keys

    con = duckdb.connect(str(db), read_only=True)
    try:
        keys = table_keys(con, con.execute("select current_database()").fetchone()[0], "marts", manifest)
    finally:
        con.close()
    out = {(t, "p", tuple(k["primary"])) for t, k in keys.items() if k["primary"]}
    return out | {(t, "f", tuple(c), ref, tuple(rc)) for t, k in keys.items() for c, ref, rc in k["foreign"]}


def test_served_tables_carry_the_keys_dbt_declares_and_the_build_enforced(built_warehouse):
    """BI tools infer joins from keys: every key declared in the marts YAML is in the build file
    (dbt enforces them) and in the serving file, with the same columns, types and NOT NULLs, but
    the four fact tables' and mart_scores_current_provinces' (one row per figure): their keys are checked by dbt's tests, not indexed in the build (DuckDB
    holds a key's index in memory: at 100x the build ran out of memory), the serving file has their
    foreign keys, and the exports and the mirror read all of them from the published manifest."""
    from ingest.publish import published_manifest

    declared = _declared_keys()
    primary = {k[0] for k in declared if k[1] == "p"}
    assert len(primary) == 21 and len(declared) == 21 + 20  # as the README says
    assert {"dim_province", "dim_component", "fct_rankings", "mart_streaks"} <= primary
    assert _unindexed() == {"fct_observations", "fct_indicator_scores", "fct_rankings", "fct_subindicator_values",
                            "mart_scores_current_provinces"}
    assert ("fct_rankings", "f", ("indicator_code", "component_code"), "dim_component",
            ("indicator_code", "component_code")) in declared
    in_build, in_serving = _declared_keys("build"), _declared_keys("serving")
    assert len(in_build) == 16 + 12 and len(in_serving) == 16 + 20
    assert ("fct_rankings", "p", ("ranking_id",)) not in in_serving
    assert _duckdb_keys(built_warehouse.build_dir / "governance.duckdb") == in_build
    assert _duckdb_keys(built_warehouse.warehouse) == in_serving
    assert _duckdb_keys(built_warehouse.warehouse, published_manifest(built_warehouse.warehouse)) == declared
    columns = ("select table_name, column_name, data_type, is_nullable from duckdb_columns() "
               "where schema_name = 'marts' order by all")
    con = duckdb.connect(str(built_warehouse.build_dir / "governance.duckdb"), read_only=True)
    try:
        in_build = con.execute(columns).fetchall()
    finally:
        con.close()
    served = query(built_warehouse, columns)
    assert served == in_build and ("dim_province", "province_key", "VARCHAR", False) in served
    # SQLAlchemy (duckdb-engine, as Superset uses it) reflects the foreign keys; its primary-key query
    # joins pg_catalog.pg_index, which DuckDB leaves empty, so it finds none (the README says so)
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.pool import NullPool

    engine = create_engine(f"duckdb:///{built_warehouse.warehouse}?access_mode=read_only", poolclass=NullPool)
    try:
        reflected = inspect(engine).get_foreign_keys("fct_rankings", schema="marts")
    finally:
        engine.dispose()
    assert [(f["constrained_columns"], f["referred_table"], f["referred_columns"]) for f in reflected] == [
        (["indicator_code", "component_code"], "dim_component", ["indicator_code", "component_code"])]
    # the keys hold in what is served: a join on them loses no row
    assert query(built_warehouse, "select count(*) from marts.fct_rankings r join marts.dim_component c "
                                  "using (indicator_code, component_code)") == \
        query(built_warehouse, "select count(*) from marts.fct_rankings")


def test_postgres_mirror_is_identical_on_republish_documented_and_read_only(built_warehouse, postgres, monkeypatch):
    import psycopg

    monkeypatch.setenv("GOVWH_PG_READER_PASSWORD", "synthetic-test-password")
    first = pipeline.mirror(built_warehouse, postgres, reader_login="bi_reader")
    assert first["tables"] == MARTS
    before = _pg_fingerprint(postgres)
    pipeline.mirror(built_warehouse, postgres, reader_login="bi_reader")  # its keys dropped and added again
    assert _pg_fingerprint(postgres) == before
    with psycopg.connect(postgres) as con, con.cursor() as cur:  # the serving file's keys, as PostgreSQL keys
        cur.execute("select c.relname, k.contype, pg_get_constraintdef(k.oid) from pg_constraint k "
                    "join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = 'marts' and k.contype in ('p', 'f')")
        in_postgres = set(cur.fetchall())

    def definition(key):
        if key[1] == "p":
            return (key[0], "p", f"PRIMARY KEY ({', '.join(key[2])})")
        return (key[0], "f", f"FOREIGN KEY ({', '.join(key[2])}) REFERENCES marts.{key[3]}({', '.join(key[4])})")

    assert in_postgres == {definition(k) for k in _declared_keys()}  # the fact tables' primary keys too
    assert len(in_postgres) == len(_declared_keys())
    from sqlalchemy import create_engine, inspect  # what a BI tool's reflection of the mirror sees

    engine = create_engine(postgres.replace("postgresql://", "postgresql+psycopg://"))
    try:
        seen = inspect(engine)
        assert seen.get_pk_constraint("mart_province_scorecard", schema="marts")["constrained_columns"] == [
            "province_key", "year"]
        assert [(f["constrained_columns"], f["referred_table"]) for f in
                seen.get_foreign_keys("mart_province_scorecard", schema="marts")] == [(["province_key"], "dim_province")]
    finally:
        engine.dispose()
    duck = table_fingerprints(built_warehouse.warehouse)
    assert before["fct_rankings"][0] == duck["marts.fct_rankings"][0]
    with psycopg.connect(postgres) as con, con.cursor() as cur:
        cur.execute("select col_description('marts.fct_rankings'::regclass, "
                    "(select attnum from pg_attribute where attrelid = 'marts.fct_rankings'::regclass "
                    "and attname = 'rank_label'))")
        assert cur.fetchone()[0] == 'The rank as "12 of 63".'
        cur.execute("select obj_description('marts.mart_scores_current_provinces'::regclass)")
        assert cur.fetchone()[0].startswith("NOT AN OFFICIAL RANKING")
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(postgres.replace("postgres@", "bi_reader@")).close()  # no password: refused
    reader_dsn = postgres.replace("postgres@", "bi_reader:synthetic-test-password@")
    with psycopg.connect(reader_dsn) as con, con.cursor() as cur:
        cur.execute("select province_name, score_2dp from mart_pci_provincial_ranking where year = 2016 and rank = 1")
        assert cur.fetchone()[0] == "Đà Nẵng"  # unqualified: the login's search_path is marts
        cur.execute("show statement_timeout")
        assert cur.fetchone() == ("2min",)
        cur.execute("select unit_name from marts.fct_rankings where indicator_code = 'pci' and year = 2016 "
                    "and component_code = 'overall' and rank = 1")
        assert cur.fetchone() == ("Đà Nẵng",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            cur.execute("insert into marts.dim_indicator (indicator_code) values ('x')")
    with psycopg.connect(reader_dsn) as con, con.cursor() as cur:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cur.execute("drop table marts.fct_rankings")
    # locked down beyond the tables: no temporary tables, no large objects written, an idle
    # transaction ended after a minute, at most 20 sessions
    for statement in ("create temporary table scratch (x int)", "select lo_from_bytea(0, 'x')",
                      "select lo_create(0)", "select lo_creat(-1)"):
        with psycopg.connect(reader_dsn) as con, con.cursor() as cur:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                cur.execute(statement)
    with psycopg.connect(reader_dsn) as con, con.cursor() as cur:
        cur.execute("show idle_in_transaction_session_timeout")
        assert cur.fetchone() == ("1min",)
        cur.execute("select rolconnlimit from pg_roles where rolname = 'bi_reader'")
        assert cur.fetchone() == (20,)


@pytest.mark.postgres
def test_compose_postgres_init_lets_the_bi_login_into_the_warehouse_only_and_a_new_password_applies(tmp_path):
    """docker/postgres-init.sh (what Compose's PostgreSQL runs on its first start) on a fresh
    cluster: bi_reader connects to the warehouse's database and to no other; `govwh mirror
    --reader-only` (what the init container runs at every start) applies a changed password."""
    import psycopg

    from conftest import pg_cluster

    from ingest.config import REPO_ROOT

    with pg_cluster() as dsn:
        host, port = dsn.split("@")[1].split("/")[0].split(":")
        env = {**os.environ, "PGHOST": host, "PGPORT": port, "POSTGRES_USER": "postgres", "POSTGRES_DB": "postgres",
               "BI_READER_PASSWORD": "synthetic-first-password"}
        proc = subprocess.run(["bash", str(REPO_ROOT / "docker" / "postgres-init.sh")], env=env, capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr
        reader = f"postgresql://bi_reader:synthetic-first-password@{host}:{port}"
        with psycopg.connect(f"{reader}/governance") as con:
            assert con.execute("show statement_timeout").fetchone() == ("2min",)
        for other in ("postgres", "template1"):
            with pytest.raises(psycopg.OperationalError, match=f'permission denied for database "{other}"'):
                psycopg.connect(f"{reader}/{other}").close()
        admin = dsn.rsplit("/", 1)[0] + "/governance"
        setup = subprocess.run([sys.executable, "-m", "ingest", "mirror", "--reader-only", "--dsn", admin,
                                "--reader-login", "bi_reader"], capture_output=True, text=True,
                               env={**os.environ, "GOVWH_PG_READER_PASSWORD": "synthetic-second-password"})
        assert setup.returncode == 0 and "reader login bi_reader set up" in setup.stdout, setup.stderr
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(f"{reader}/governance").close()
        with psycopg.connect(f"postgresql://bi_reader:synthetic-second-password@{host}:{port}/governance") as con:
            assert con.execute("show idle_in_transaction_session_timeout").fetchone() == ("1min",)


# ------------------------------------------------------------------ exports and SQL clients
def test_exports_describe_themselves_types_descriptions_and_keys(warehouse_copy):
    """datapackage.json types every CSV column (province code "01" stays text for a reader that
    follows it), describes it and names the keys; each Parquet file carries its descriptions; the
    workbook has a `columns` sheet, autofilters, widths and the descriptions on the header cells."""
    from openpyxl import load_workbook

    settings = warehouse_copy
    export_all(settings)
    folder = exports_dir(settings)
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    resources = {r["name"]: r for r in package["resources"]}
    assert len(resources) == MARTS
    for name, resource in resources.items():
        with open(folder / resource["path"], encoding="utf-8-sig", newline="") as f:
            assert next(csv.reader(f)) == [field["name"] for field in resource["schema"]["fields"]], name
    fields = {f["name"]: f for f in resources["dim_province"]["schema"]["fields"]}
    assert fields["province_code"]["type"] == "string" and fields["province_key"]["constraints"] == {"required": True}
    assert resources["dim_province"]["schema"]["primaryKey"] == ["province_key"]
    rank_label = next(f for f in resources["fct_rankings"]["schema"]["fields"] if f["name"] == "rank_label")
    assert rank_label["description"] == 'The rank as "12 of 63".'
    declared = {(n, "f", tuple(k["fields"]), k["reference"]["resource"], tuple(k["reference"]["fields"]))
                for n, r in resources.items() for k in r["schema"].get("foreignKeys", [])}
    declared |= {(n, "p", tuple(r["schema"]["primaryKey"])) for n, r in resources.items() if "primaryKey" in r["schema"]}
    assert declared == _declared_keys()  # the fact tables' primary keys too, from the published manifest
    assert resources["fct_observations"]["schema"]["primaryKey"] == ["observation_id"]
    # a reader that follows the schema keeps "01" (pandas' guess, without it, is the number 1)
    types = {"string": "VARCHAR", "integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE",
             "datetime": "TIMESTAMP"}
    path = str(folder / "csv" / "dim_province.csv")
    with duckdb.connect() as con:  # its own connection: another test may have left the default one busy
        typed = con.execute("select province_code from read_csv(?, header = true, columns = ?) "
                            "where province_name = 'Hà Nội'", [path, {n: types[f["type"]] for n, f in fields.items()}]).fetchall()
        meta = dict(con.execute("select key::varchar, decode(value) from parquet_kv_metadata(?)",
                                [str(folder / "parquet" / "fct_rankings.parquet")]).fetchall())
    assert typed == [("01",)]
    # the Frictionless library validates every CSV file against it: types, required cells, primary and
    # foreign keys; the same package with one column mistyped is refused (SYNTHETIC tampering)
    import frictionless

    report = frictionless.validate(folder / "datapackage.json")
    assert report.valid, report.flatten(["resourceName", "rowNumber", "fieldName", "message"])[:5]
    assert package["licenses"] and len(package["sources"]) == len(query(settings, "select 1 from marts.dim_publication"))
    wrong = json.loads(json.dumps(package))
    next(f for f in wrong["resources"][[r["name"] for r in wrong["resources"]].index("dim_province")]["schema"]["fields"]
         if f["name"] == "province_name")["type"] = "integer"
    wrong["resources"] = [r for r in wrong["resources"] if r["name"] == "dim_province"]
    (folder / "wrong.json").write_text(json.dumps(wrong), encoding="utf-8")
    refused = frictionless.validate(folder / "wrong.json")
    assert not refused.valid and "type-error" in {e.type for task in refused.tasks for e in task.errors}
    assert json.loads(meta["columns"])["rank_label"] == 'The rank as "12 of 63".'
    assert json.loads(meta["primary_key"]) == ["ranking_id"] and meta["description"].startswith("Grain:")
    import pyarrow.parquet as pq  # each Parquet field carries its own description (in the stored Arrow schema)

    schema = pq.read_schema(folder / "parquet" / "dim_province.parquet")
    assert {f.name: f.metadata[b"description"].decode() for f in schema} == \
        {name: f["description"] for name, f in fields.items()}
    assert schema.field("province_code").metadata[b"description"] == 'GSO two-digit province code, as a string ("01").'.encode()
    book = load_workbook(folder / XLSX_NAME)
    columns = list(book["columns"].iter_rows(values_only=True))
    assert columns[0] == ("table", "column", "type", "required", "key", "description")
    assert ("fct_rankings", "rank_label", "VARCHAR", False, None, 'The rank as "12 of 63".') in columns
    assert ("dim_province", "province_key", "VARCHAR", True, "primary", fields["province_key"]["description"]) in columns
    assert len(columns) - 1 == sum(len(r["schema"]["fields"]) for r in resources.values())
    sheet = book["dim_province"]
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(fields)).column_letter}{sheet.max_row}"
    assert sheet["A1"].comment.text == fields["province_key"]["description"]
    assert all(10 <= sheet.column_dimensions[sheet.cell(1, j).column_letter].width <= 61 for j in range(1, len(fields) + 1))


def test_exports_csv_round_trips_vietnamese_and_xlsx_has_every_mart(warehouse_copy):
    built_warehouse = warehouse_copy  # exports are written into the data folder: a private copy
    result = export_all(built_warehouse)
    folder = exports_dir(built_warehouse)
    assert result["marts"] == MARTS
    raw = (folder / "csv" / "dim_province.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    with open(folder / "csv" / "dim_province.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    con = duckdb.connect(str(built_warehouse.warehouse), read_only=True)
    expected = con.execute("select province_key, province_name, official_name from marts.dim_province").fetchall()
    con.close()
    assert {(r["province_key"], r["province_name"], r["official_name"]) for r in rows} == set(expected)
    assert any(r["province_name"] == "Thừa Thiên Huế" or r["official_name"] == "Thành phố Huế" for r in rows)
    assert len(list((folder / "parquet").glob("*.parquet"))) == MARTS
    from openpyxl import load_workbook

    book = load_workbook(folder / XLSX_NAME, read_only=True)
    assert len(book.sheetnames) == MARTS - 4 + 2 and book.sheetnames[-2:] == ["sources", "columns"]  # - 4 facts
    assert not any(name.startswith("fct_") for name in book.sheetnames)
    assert not (folder / FACTS_XLSX_NAME).exists() and result["workbooks"] == [XLSX_NAME]
    first = next(book["dim_province"].iter_rows(min_row=2, max_row=2, values_only=True))
    assert first[2] == "Hà Nội"
    ranking = book["mart_pci_provincial_ranking"]
    header = next(ranking.iter_rows(min_row=1, max_row=1, values_only=True))
    leader = [r for r in ranking.iter_rows(min_row=2, values_only=True)
              if r[header.index("year")] == 2016 and r[header.index("rank")] == 1]
    assert [(r[header.index("province_name")], round(r[header.index("score")], 2)) for r in leader] == [("Đà Nẵng", 70.0)]


def test_sqlalchemy_duckdb_engine_reads_read_only_and_releases_the_file(warehouse_copy):
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    url = f"duckdb:///{warehouse_copy.warehouse}"
    engine = create_engine(url, connect_args={"read_only": True}, poolclass=NullPool)
    with engine.connect() as con:
        leader = con.execute(text("select province_name from marts.mart_pci_provincial_ranking "
                                  "where year = 2016 and rank = 1")).scalar()
        assert leader == "Đà Nẵng"
        with pytest.raises(Exception, match="read-only"):
            con.execute(text("create table marts.x (a int)"))
    publish(warehouse_copy)  # NullPool released the file: publishing works with the engine alive
    engine.dispose()


# ------------------------------------------------------------------ the analyst CLI
def _govwh(settings, *args):
    exe = os.path.join(os.path.dirname(sys.executable), "govwh")
    return subprocess.run([exe, *args], env=_env(settings), capture_output=True, text=True, timeout=120)


def test_cli_rank_profile_sql_status(built_warehouse):
    out = _govwh(built_warehouse, "rank", "--indicator", "pci", "--year", "2016", "--top", "3")
    assert out.returncode == 0, out.stderr
    assert "1 of 63" in out.stdout and "Đà Nẵng" in out.stdout and "70.00" in out.stdout and "▲1" in out.stdout
    out = _govwh(built_warehouse, "rank", "--indicator", "par_index", "--year", "2023", "--level", "ministry")
    assert "Bộ Tư pháp" in out.stdout and "17 of 17" in out.stdout
    out = _govwh(built_warehouse, "profile", "quang ninh")
    assert out.returncode == 0, out.stderr
    assert "Quảng Ninh (GSO 22" in out.stdout and "65.60 (2 of 63)" in out.stdout
    out = _govwh(built_warehouse, "sql", "select count(*) as n from marts.dim_province")
    assert out.returncode == 0 and "87" in out.stdout
    out = _govwh(built_warehouse, "sql", "delete from marts.dim_province")
    assert out.returncode == 1 and "read-only" in out.stderr
    out = _govwh(built_warehouse, "status")
    assert out.returncode == 0 and "last publish" in out.stdout and "complete" in out.stdout
    out = _govwh(built_warehouse, "profile", "Atlantis")
    assert out.returncode == 1 and "unknown province 'Atlantis'; nearest:" in out.stderr


@pytest.mark.slow
def test_a_failing_dbt_test_in_a_full_run_leaves_the_serving_file_unchanged(warehouse_copy, tmp_path):
    """Synthetic: a curated page claims the 2023 ministerial average was 70.00. The table is
    complete (17 of 17), so the reconciliation test fails inside dbt build: nothing is published."""
    from ingest.errors import PipelineError

    folder = curated_copy(tmp_path)
    write_curated(folder, "synthetic-wrong-average", "PAR INDEX,ministry,2023,(average of 17 ministries),70.00,,,,\n")
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    served = file_sha256(settings.warehouse)
    with pytest.raises(PipelineError, match=r"dbt build failed .*assert_published_averages_reconcile"):
        pipeline.run_all(settings)
    assert file_sha256(settings.warehouse) == served


@pytest.mark.slow
def test_formula_leading_text_is_neutralised_in_csv_and_xlsx(warehouse_copy, tmp_path):
    """SYNTHETIC notes that a spreadsheet would run as formulas (OWASP's CSV injection cases)."""
    folder = curated_copy(tmp_path)
    notes = ['=HYPERLINK("http://evil.example","click")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3"]
    rows = "".join(f'SIPAS,province,2012,{unit},{score},,,,"{note.replace(chr(34), chr(34) * 2)}"\n'
                   for unit, score, note in zip(["Quảng Ninh", "Hà Nội", "Đà Nẵng", "Cần Thơ"],
                                                ["80.00", "79.00", "78.00", "77.00"], notes))
    write_curated(folder, "zz-formulas", rows)
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    pipeline.run_all(settings)
    assert export_all(settings, xlsx_facts=True)["workbooks"] == [XLSX_NAME, FACTS_XLSX_NAME]
    out = exports_dir(settings)
    with open(out / "csv" / "fct_observations.csv", encoding="utf-8-sig", newline="") as f:
        mine = [r for r in csv.DictReader(f) if r["publication_id"] == "curated-zz-formulas"]
    assert sorted(r["note"] for r in mine) == sorted("'" + n for n in notes)
    assert sorted(r["value"] for r in mine) == ["77.0", "78.0", "79.0", "80.0"]  # numbers untouched
    import re
    import zipfile

    from openpyxl import load_workbook

    with zipfile.ZipFile(out / FACTS_XLSX_NAME) as book_zip:  # no formula anywhere, in any sheet
        for name in book_zip.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<f[ >/]", book_zip.read(name)), name
    book = load_workbook(out / FACTS_XLSX_NAME, read_only=True)
    sheet = book["fct_observations"]
    header = [c.value for c in next(sheet.iter_rows(min_row=1, max_row=1))]
    pub, note, value = header.index("publication_id"), header.index("note"), header.index("value")
    found = []
    for row in sheet.iter_rows(min_row=2, values_only=True):  # cell values typed as the file types them
        if row[pub] == "curated-zz-formulas":
            assert isinstance(row[note], str) and isinstance(row[value], (int, float))
            found.append(row[note])
    assert sorted(found) == sorted("'" + n for n in notes)


def test_mirror_blocked_by_an_idle_bi_session_gives_up_with_its_pid(built_warehouse, postgres):
    """A real BI session left idle in a transaction holds a lock on a mirrored table: the mirror
    waits a bounded time per try, gives up naming the session, and leaves the tables as they were."""
    import psycopg

    from conftest import assert_one_line_error, govwh

    pipeline.mirror(built_warehouse, postgres, reader_login="bi_reader")
    before = _pg_fingerprint(postgres)
    bi = psycopg.connect(postgres, application_name="synthetic-bi-tool")
    bi.execute("select count(*) from marts.fct_rankings").fetchone()  # now idle in transaction, holding a lock
    bi_pid = bi.info.backend_pid
    try:
        started = time.monotonic()
        proc = govwh(built_warehouse, "mirror", "--dsn", postgres)
        elapsed = time.monotonic() - started
        assert_one_line_error(proc, rf"PostgreSQL mirror gave up after 3 tries of 5s each: a session holds a lock on "
                                    rf"schema marts \(pid {bi_pid} \(user postgres, synthetic-bi-tool, idle in "
                                    r"transaction, transaction since 20.*\)\); the mirrored tables are unchanged")
        assert elapsed < 60
        with psycopg.connect(postgres) as reader:  # a new reader is not stuck behind the mirror
            reader.execute("set statement_timeout = '5s'")
            assert reader.execute("select count(*) from marts.dim_province").fetchone() == (87,)
        assert _pg_fingerprint(postgres) == before
    finally:
        bi.close()
    proc = govwh(built_warehouse, "mirror", "--dsn", postgres)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------ a serving file any client can open
def _duckdb_client(version: str) -> Path:
    """A separate Python environment with an older DuckDB from PyPI (as a BI tool or the CLI ships)."""
    from ingest.config import REPO_ROOT

    return cached_venv(REPO_ROOT / ".cache" / "duckdb-clients" / version, f"duckdb=={version}", timeout=600) / "python"


@pytest.mark.slow
@pytest.mark.parametrize("version", ["1.4.5", "1.5.6"])
def test_duckdb_1x_clients_open_the_serving_file(built_warehouse, version):
    python = _duckdb_client(version)
    script = ("import sys, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); "
              "print(duckdb.__version__, c.execute(\"select rank, province_name, score_2dp::varchar from "
              "marts.mart_pci_provincial_ranking where year = 2016 order by rank limit 2\").fetchall())")
    out = subprocess.run([str(python), "-c", script, str(built_warehouse.warehouse)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"{version} [(1, 'Đà Nẵng', '70.00'), (2, 'Quảng Ninh', '65.60')]"


def test_the_serving_file_holds_the_marts_only_documented_and_self_contained(built_warehouse, tmp_path):
    moved = tmp_path / "elsewhere.duckdb"
    shutil.copyfile(built_warehouse.warehouse, moved)  # a copy on another machine: no path inside points back
    con = duckdb.connect(str(moved), read_only=True)
    try:
        schemas = con.execute("select distinct schema_name from duckdb_tables() where database_name = 'elsewhere'").fetchall()
        views = con.execute("select count(*) from duckdb_views() where not internal").fetchone()
        undocumented = con.execute("select table_name from duckdb_tables() where comment is null").fetchall()
        column_docs = con.execute("select count(*), count(comment) from duckdb_columns() where schema_name = 'marts'").fetchone()
        label = con.execute("select comment from duckdb_columns() where table_name = 'fct_rankings' "
                            "and column_name = 'rank_label'").fetchone()
        typed = con.execute("select data_type from duckdb_columns() where table_name = 'mart_pci_provincial_ranking' "
                            "and column_name = 'score_2dp'").fetchone()
    finally:
        con.close()
    assert schemas == [("marts",)] and views == (0,) and undocumented == []
    assert column_docs[0] == column_docs[1] > 300
    assert label == ('The rank as "12 of 63".',)
    assert typed == ("DECIMAL(9,2)",)


def test_sqlalchemy_inspection_lists_columns_and_reads_a_table(built_warehouse):
    """What a BI tool does first through duckdb-engine: list tables and columns, then read one."""
    from sqlalchemy import MetaData, Table, create_engine, inspect, select
    from sqlalchemy.pool import NullPool

    engine = create_engine(f"duckdb:///{built_warehouse.warehouse}", connect_args={"read_only": True},
                           poolclass=NullPool)
    inspector = inspect(engine)
    assert "mart_pci_provincial_ranking" in inspector.get_table_names(schema="marts")
    columns = {c["name"]: c for c in inspector.get_columns("mart_pci_provincial_ranking", schema="marts")}
    assert {"year", "rank", "province_name", "score_2dp"} <= set(columns)
    assert str(columns["score_2dp"]["type"]) == "NUMERIC(9, 2)"
    table = Table("mart_pci_provincial_ranking", MetaData(), schema="marts", autoload_with=engine)
    with engine.connect() as con:
        row = con.execute(select(table.c.province_name, table.c.score_2dp)
                          .where(table.c.year == 2016, table.c.rank == 1)).one()
    assert (row[0], str(row[1])) == ("Đà Nẵng", "70.00")
    engine.dispose()


@pytest.mark.slow
def test_dbt_docs_from_any_directory_on_a_copy_of_the_build(warehouse_copy, tmp_path):
    built = warehouse_copy.build_dir / "governance.duckdb"
    before = file_sha256(built)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_")}
    env.update({"GOVWH_DATA_DIR": str(warehouse_copy.data_dir), "GOVWH_WAREHOUSE": str(warehouse_copy.warehouse)})
    cwd = tmp_path / "somewhere-else"
    cwd.mkdir()
    proc = subprocess.run([sys.executable, "-m", "ingest", "docs"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    catalog = json.loads((warehouse_copy.data_dir / "docs" / "catalog.json").read_text())
    assert "model.governance.fct_rankings" in catalog["nodes"]
    # one file that opens from file:// (the manifest and catalogue inside it), opening on the project's own overview
    site = (warehouse_copy.data_dir / "docs" / "static_index.html").read_text(encoding="utf-8")
    assert "The open data warehouse of Vietnam" in site and "model.governance.fct_rankings" in site
    assert "The open data warehouse of Vietnam" not in (warehouse_copy.data_dir / "docs" / "index.html").read_text()
    manifest = json.loads((warehouse_copy.data_dir / "docs" / "manifest.json").read_text())
    assert manifest["docs"]["doc.governance.__overview__"]["block_contents"].startswith("# Vietnam's public-governance")
    assert file_sha256(built) == before  # documented from a copy, never opened read-write
    assert not list(cwd.iterdir())  # nothing left in the working directory (no target/, logs/, .user.yml)
