"""Publish safely and serve analysts and BI tools: write-audit-publish, crash safety, readers
during publish, the PostgreSQL mirror, exports, SQLAlchemy access and the analyst CLI."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest

from ingest import pipeline
from ingest.exports import XLSX_NAME, export_all, exports_dir
from ingest.publish import last_publish, previous_path, publish, rollback

from conftest import curated_copy, file_sha256, make_settings, table_fingerprints, write_curated


def _env(settings):
    return dict(os.environ, GOVWH_DATA_DIR=str(settings.data_dir), GOVWH_WAREHOUSE=str(settings.warehouse),
                GOVWH_CURATED_DIR=str(settings.curated_dir), PYTHONUNBUFFERED="1")


def test_kill_9_mid_build_leaves_the_serving_file_unchanged(warehouse_copy):
    served = file_sha256(warehouse_copy.warehouse)
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "run", "--direct"], env=_env(warehouse_copy),
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
    pipeline.run_all(warehouse_copy)  # the next run recovers: the stale build file is discarded
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


def test_a_reader_in_another_process_sees_no_error_during_publish(warehouse_copy):
    reader = subprocess.Popen([sys.executable, "-c", READER, str(warehouse_copy.warehouse), "6"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    published = 0
    deadline = time.time() + 4
    while time.time() < deadline:
        publish(warehouse_copy)
        published += 1
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    assert "ERRORS 0 []" in out
    (expected,) = duckdb.connect(str(warehouse_copy.warehouse), read_only=True).execute(
        "select count(*) from marts.fct_indicator_scores").fetchone()
    assert f"COUNTS [{expected}]" in out
    assert published >= 5


def test_rollback_restores_the_previous_file(warehouse_copy):
    publish(warehouse_copy)  # serving and previous now both exist
    previous_sha = file_sha256(previous_path(warehouse_copy))
    con = duckdb.connect(str(warehouse_copy.build_dir / "governance.duckdb"))
    con.execute("create table marts.marker as select 1 as x")  # a visibly different build (synthetic)
    con.close()
    publish(warehouse_copy)
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


def test_postgres_mirror_is_identical_on_republish_documented_and_read_only(built_warehouse, postgres):
    import psycopg

    first = pipeline.mirror(built_warehouse, postgres, reader_login="bi_reader")
    assert first["tables"] == 21
    before = _pg_fingerprint(postgres)
    pipeline.mirror(built_warehouse, postgres, reader_login="bi_reader")
    assert _pg_fingerprint(postgres) == before
    duck = table_fingerprints(built_warehouse.warehouse)
    assert before["fct_rankings"][0] == duck["marts.fct_rankings"][0]
    with psycopg.connect(postgres) as con, con.cursor() as cur:
        cur.execute("select col_description('marts.fct_rankings'::regclass, "
                    "(select attnum from pg_attribute where attrelid = 'marts.fct_rankings'::regclass "
                    "and attname = 'rank_label'))")
        assert cur.fetchone()[0] == 'The rank as "12 of 63".'
        cur.execute("select obj_description('marts.mart_scores_current_provinces'::regclass)")
        assert cur.fetchone()[0].startswith("NOT AN OFFICIAL RANKING")
    reader_dsn = postgres.replace("postgres@", "bi_reader@")
    with psycopg.connect(reader_dsn) as con, con.cursor() as cur:
        cur.execute("select unit_name from marts.fct_rankings where indicator_code = 'pci' and year = 2016 "
                    "and component_code = 'overall' and rank = 1")
        assert cur.fetchone() == ("Đà Nẵng",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            cur.execute("insert into marts.dim_indicator (indicator_code) values ('x')")
    with psycopg.connect(reader_dsn) as con, con.cursor() as cur:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cur.execute("drop table marts.fct_rankings")


# ------------------------------------------------------------------ exports and SQL clients
def test_exports_csv_round_trips_vietnamese_and_xlsx_has_every_mart(built_warehouse, tmp_path):
    result = export_all(built_warehouse)
    folder = exports_dir(built_warehouse)
    assert result["marts"] == 21
    raw = (folder / "csv" / "dim_province.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM that makes Excel read UTF-8
    with open(folder / "csv" / "dim_province.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    con = duckdb.connect(str(built_warehouse.warehouse), read_only=True)
    expected = con.execute("select province_key, province_name, official_name from marts.dim_province").fetchall()
    con.close()
    assert {(r["province_key"], r["province_name"], r["official_name"]) for r in rows} == set(expected)
    assert any(r["province_name"] == "Thừa Thiên Huế" or r["official_name"] == "Thành phố Huế" for r in rows)
    assert len(list((folder / "parquet").glob("*.parquet"))) == 21
    from openpyxl import load_workbook

    book = load_workbook(folder / XLSX_NAME, read_only=True)
    assert len(book.sheetnames) == 22 and "sources" in book.sheetnames
    first = next(book["dim_province"].iter_rows(min_row=2, max_row=2, values_only=True))
    assert first[2] == "Hà Nội"


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
