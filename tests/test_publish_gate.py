"""The publish gate, one run at a time, rollback that checks what it serves, and `govwh sql`
that really is read-only. Real processes, real DuckDB files; modified builds are SYNTHETIC."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import duckdb
import pytest

from ingest.publish import previous_path, receipt_path

from conftest import (MARTS, assert_one_line_error, assert_untouched, curated_copy, govwh, make_settings,
                      snapshot, write_curated)


def _build(settings):
    """The file a publish would serve: the build's serving file (marts only), tied to its receipt."""
    return settings.build_dir / "serving.duckdb"


@pytest.mark.slow
# ------------------------------------------------------------------ what `govwh publish` refuses
def test_publish_refuses_a_failed_build(warehouse_copy, tmp_path):
    """A real failed dbt build: a SYNTHETIC published average that cannot reconcile."""
    folder = curated_copy(tmp_path)
    write_curated(folder, "zz-wrong-average",
                  "PAR INDEX,ministry,2023,(average of 17 ministries),99.00,,,,synthetic wrong average\n")
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    before = snapshot(settings)
    proc = govwh(settings, "run", "--direct")
    assert_one_line_error(proc, r"dbt build failed \(1 failing nodes\): .*assert_published_averages_reconcile")
    proc = govwh(settings, "publish")
    assert_one_line_error(proc, r"not publishing .*build/governance\.duckdb: it has no build receipt, so its dbt "
                                r"build failed, was interrupted or never finished")
    assert_untouched(settings, before)


def test_publish_refuses_a_partial_build(warehouse_copy):
    """The disk filled mid-write: the file is cut short, or some marts never got written."""
    settings = warehouse_copy
    before = snapshot(settings)
    built = _build(settings)
    pristine = built.read_bytes()
    built.write_bytes(pristine[: len(pristine) // 2])
    proc = govwh(settings, "publish")
    assert_one_line_error(proc, r"the file changed after its build passed \(sha256 \w+, receipt \w+\): "
                                r"a partial or foreign file; the serving warehouse was not touched")
    built.write_bytes(pristine)
    con = duckdb.connect(str(built))
    for name in ("fct_rankings", "mart_streaks", "mart_year_summaries"):
        con.execute(f"drop table marts.{name}")
    con.execute("checkpoint")
    con.close()
    proc = govwh(settings, "publish")
    assert_one_line_error(proc, r"the file changed after its build passed")
    assert_untouched(settings, before)


def test_publish_refuses_a_build_from_another_run(warehouse_copy, built_warehouse, tmp_path):
    """Another passing build's file (with its own receipt elsewhere) dropped into this build folder,
    or dbt results from another invocation beside this file."""
    from ingest.publish import write_receipt

    settings = warehouse_copy
    before = snapshot(settings)
    other = tmp_path / "other-build"
    shutil.copytree(settings.build_dir, other)
    con = duckdb.connect(str(other / "governance.duckdb"))
    con.execute("create table marts.marker as select 1 as x")  # SYNTHETIC: a different build
    con.close()
    write_receipt(other / "governance.duckdb")
    shutil.copyfile(other / "serving.duckdb", _build(settings))  # the file, without its receipt
    proc = govwh(settings, "publish")
    assert_one_line_error(proc, r"the file changed after its build passed")

    shutil.copyfile(built_warehouse.build_dir / "serving.duckdb", _build(settings))
    results = settings.build_dir / "target" / "run_results.json"
    data = json.loads(results.read_text())
    data["metadata"]["invocation_id"] = "another-invocation"
    results.write_text(json.dumps(data))
    proc = govwh(settings, "publish")
    assert_one_line_error(proc, r"dbt's run_results\.json or manifest\.json are not the ones of this build")
    assert_untouched(settings, before)


def test_publish_refuses_a_build_that_left_out_models_or_data_tests(warehouse_copy):
    """dbt's unit tests may be left out of a build (GOVWH_DBT_UNIT_TESTS=0, the default: they test the
    SQL on fixed inputs); its models, seeds and data tests may not. SYNTHETIC: the build's dbt
    results edited as if `--exclude-resource-type test` had run, then receipted as the build step would."""
    from ingest.publish import write_receipt

    settings = warehouse_copy
    before = snapshot(settings)
    results_file = settings.build_dir / "target" / "run_results.json"
    data = json.loads(results_file.read_text(encoding="utf-8"))
    assert any(r["unique_id"].startswith("unit_test.") for r in data["results"])  # the shared build ran them
    data["args"]["exclude_resource_types"] = ["unit_test", "test"]
    data["results"] = [r for r in data["results"] if not r["unique_id"].startswith(("test.", "unit_test."))]
    results_file.write_text(json.dumps(data), encoding="utf-8")
    write_receipt(settings.build_dir / "governance.duckdb")
    assert_one_line_error(govwh(settings, "publish"), r"its dbt build left out every test \(--exclude-resource-type\)")
    data["args"]["exclude_resource_types"] = ["unit_test"]  # unit tests may be left out, the data tests not
    results_file.write_text(json.dumps(data), encoding="utf-8")
    write_receipt(settings.build_dir / "governance.duckdb")
    assert_one_line_error(govwh(settings, "publish"), r"\d+ dbt nodes never ran, e\.g\. test\.governance\.")
    assert_untouched(settings, before)


def test_publish_of_the_same_content_is_a_no_op(warehouse_copy):
    settings = warehouse_copy
    served_inode = settings.warehouse.stat().st_ino
    before = snapshot(settings)
    proc = govwh(settings, "publish")
    assert proc.returncode == 0, proc.stderr
    assert "[publish] nothing new: the build's content equals the serving warehouse published" in proc.stdout
    assert settings.warehouse.stat().st_ino == served_inode
    assert_untouched(settings, before)
    assert not previous_path(settings).exists()


def test_a_receipt_names_every_contracted_mart_with_its_rows(built_warehouse):
    receipt = json.loads(receipt_path(built_warehouse.build_dir / "governance.duckdb").read_text())
    assert len(receipt["marts"]) == MARTS and receipt["marts"]["dim_province"] == 87
    record = [json.loads(line) for line in built_warehouse.warehouse.with_name("publish_log.jsonl").read_text()
              .splitlines()][-1]
    assert record["build_id"] == receipt["build_id"] and record["content_digest"] == receipt["content_digest"]
    assert record["nodes"] == receipt["nodes"] > 100 and record["rows"] == receipt["marts"]


# ------------------------------------------------------------------ rollback checks what it serves
def test_rollback_refuses_a_tampered_previous(warehouse_copy):
    settings = warehouse_copy
    previous = previous_path(settings)
    shutil.copyfile(settings.warehouse, previous)  # a byte copy of a published file: allowed
    con = duckdb.connect(str(previous))
    con.execute("update marts.dim_indicator set name_en = 'tampered' where indicator_code = 'pci'")
    con.close()
    before = snapshot(settings)
    proc = govwh(settings, "rollback")
    assert_one_line_error(proc, r"rollback refused: .*governance\.duckdb\.previous \(sha256 \w+\) matches no "
                                r"warehouse in .*publish_log\.jsonl; it was changed after it was published")
    assert_untouched(settings, before)
    shutil.copyfile(settings.warehouse, previous)  # an untouched published file, but the one already served
    before = snapshot(settings)
    proc = govwh(settings, "rollback")
    assert_one_line_error(proc, r"rollback refused: .*governance\.duckdb\.previous is the warehouse already served "
                                r"\(sha256 \w+\); there is no older warehouse to go back to")
    assert_untouched(settings, before)


# ------------------------------------------------------------------ govwh sql is read-only
@pytest.mark.parametrize("statement", [
    "ATTACH '{previous}' AS p (READ_WRITE)",
    "COPY (select 1) TO '{outside}'",
    "select * from read_csv('/etc/passwd')",
    "select * from read_parquet('{parsed}')",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET memory_limit = '20GB'",
    "create table marts.x as select 1",
    "EXPORT DATABASE '{outside}'",
])
def test_govwh_sql_refuses_everything_but_reading_the_warehouse(statement, warehouse_copy, tmp_path):
    settings = warehouse_copy
    shutil.copyfile(settings.warehouse, previous_path(settings))
    before = snapshot(settings)
    parsed = next(settings.parsed_dir.rglob("*.parquet"))
    sql = statement.format(previous=previous_path(settings), outside=tmp_path / "stolen.csv", parsed=parsed)
    proc = govwh(settings, "sql", sql)
    assert_one_line_error(proc, r"query refused: govwh sql is read-only and sees only the warehouse's tables")
    assert not (tmp_path / "stolen.csv").exists()
    assert_untouched(settings, before)


def test_govwh_sql_reads_and_prints_data_as_inert_text(built_warehouse):
    proc = govwh(built_warehouse, "sql", "select province_name, '[red]x[/red]' as markup, chr(27) || '[31m' as esc "
                                         "from marts.mart_pci_provincial_ranking where year = 2016 and rank = 1")
    assert proc.returncode == 0, proc.stderr
    assert "Đà Nẵng" in proc.stdout and "[red]x[/red]" in proc.stdout and "\\x1b[31m" in proc.stdout
    assert "\x1b" not in proc.stdout


@pytest.mark.slow
# ------------------------------------------------------------------ one run at a time
def test_a_second_run_says_who_holds_the_lock_and_a_waiting_one_proceeds(warehouse_copy):
    settings = warehouse_copy
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_")}
    env.update({"GOVWH_DATA_DIR": str(settings.data_dir), "GOVWH_WAREHOUSE": str(settings.warehouse)})
    first = subprocess.Popen([sys.executable, "-m", "ingest", "run", "--direct", "--force"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = settings.data_dir / ".govwh.lock"
        deadline = time.time() + 60
        while time.time() < deadline and f'"pid": {first.pid}' not in (lock.read_text() if lock.exists() else ""):
            time.sleep(0.1)
        second = govwh(settings, "run", "--direct")
        assert_one_line_error(second, rf"another run holds the lock on .*\.govwh\.lock: pid {first.pid} "
                                      r"\(run --direct\) since 20\d\d-.*; wait for it to finish, or pass --wait SECONDS")
        waiting = govwh(settings, "--wait", "240", "publish")
        assert waiting.returncode == 0, waiting.stderr
    finally:
        out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    assert "[publish]" in out
    assert lock.read_text() == ""  # released
