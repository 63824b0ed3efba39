"""A night with nothing new does nothing: it fetches, sees that every input of the last publish
is unchanged, and stops, writing nothing. Any real change rebuilds. (Speed is measured by
`make bench`, not here.)"""
from __future__ import annotations

import pytest

import json
import re
import shutil

from ingest.config import DBT_PROJECT_DIR

from conftest import assert_untouched, curated_copy, govwh, make_settings, query, snapshot, write_curated

pytestmark = pytest.mark.slow  # each test runs its own pipeline or dbt build


def _mtimes(folder):
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_a_night_with_nothing_new_writes_nothing(warehouse_copy):
    settings = warehouse_copy
    before, parsed, build = snapshot(settings), _mtimes(settings.parsed_dir), _mtimes(settings.build_dir)
    proc = govwh(settings, "run", "--direct")
    assert proc.returncode == 0, proc.stderr
    assert "[check] nothing new since 20" in proc.stdout and "[build]" not in proc.stdout
    assert_untouched(settings, before)
    assert _mtimes(settings.parsed_dir) == parsed and _mtimes(settings.build_dir) == build
    forced = govwh(settings, "run", "--direct", "--force")
    assert forced.returncode == 0 and "[build]" in forced.stdout, forced.stderr


def test_a_changed_curated_file_rebuilds_and_publishes(warehouse_copy, tmp_path):
    folder = curated_copy(tmp_path)
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    write_curated(folder, "zz-new-page", "SIPAS,province,2012,Quảng Ninh,81.25,,,,synthetic\n")
    before = snapshot(settings)
    proc = govwh(settings, "run", "--direct")
    assert proc.returncode == 0, proc.stderr
    assert "[check]" not in proc.stdout and "[publish]" in proc.stdout
    assert snapshot(settings).serving_sha256 != before.serving_sha256
    assert query(settings, "select value from marts.fct_observations where publication_id = 'curated-zz-new-page'") \
        == [(81.25,)]
    # the copied folder's saved parse was used: the profile names the build file relative to its folder
    dbt_log = (settings.build_dir / "dbt_build.log").read_text(encoding="utf-8", errors="replace")
    assert "Unable to do partial parsing" not in dbt_log and re.search(r"Found \d+ models", dbt_log)
    record = json.loads(settings.warehouse.with_name("publish_log.jsonl").read_text().splitlines()[-1])
    assert record["input_fingerprint"] == json.loads((settings.data_dir / "last_build_inputs.json").read_text())[
        "fingerprint"]


def test_a_model_edit_rebuilds(warehouse_copy, tmp_path):
    """The same project elsewhere is no change; an edit to one of its models is, and rebuilds
    (a comment changes no table, so the publish then finds nothing new to serve)."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    settings = make_settings(warehouse_copy.data_dir, dbt_project_dir=project)
    same = govwh(settings, "run", "--direct")
    assert same.returncode == 0 and "[check] nothing new since 20" in same.stdout, same.stdout + same.stderr
    model = project / "models" / "marts" / "fct_rankings.sql"
    model.write_text(model.read_text() + "\n-- a comment is an edit too\n")
    before = snapshot(settings)
    edited = govwh(settings, "run", "--direct")
    assert edited.returncode == 0, edited.stderr
    assert "[check]" not in edited.stdout and "[build]" in edited.stdout
    assert "[publish] nothing new: the build's content equals the serving warehouse" in edited.stdout
    assert snapshot(settings).serving_sha256 == before.serving_sha256
    again = govwh(settings, "run", "--direct")  # the edit is now part of the last build's inputs
    assert "[check] nothing new since 20" in again.stdout, again.stdout + again.stderr


def test_a_fresh_folders_first_build_starts_from_the_projects_saved_parse(warehouse_copy, tmp_path, monkeypatch):
    """A build in a folder without dbt's saved parse of its own copies the one the last passing
    build of the project kept (.cache/dbt-parse/, here a private one) and re-parses only what
    differs; an unreadable cached parse only means a full parse, and the passing build replaces it."""
    from ingest import pipeline

    cache = tmp_path / "dbt-parse"
    cache.mkdir()
    monkeypatch.setattr(pipeline, "PARSE_CACHE", cache)
    settings = warehouse_copy
    target = settings.build_dir / "target"
    shutil.copyfile(target / "partial_parse.msgpack", cache / "partial_parse.msgpack")  # what the last build kept

    def fresh_build() -> str:
        shutil.rmtree(target)  # a folder's first build: no saved parse of its own
        pipeline.build(settings)
        return (settings.build_dir / "dbt_build.log").read_text(encoding="utf-8")

    log = fresh_build()
    assert "Starting full parse" not in log and "Unable to do partial parsing" not in log, log[:2000]
    assert "Partial parsing enabled" in (settings.build_dir / "logs" / "dbt.log").read_text(encoding="utf-8")
    (cache / "partial_parse.msgpack").write_bytes(b"SYNTHETIC: not a saved parse")
    fresh_build()  # dbt cannot use it: a full parse, and a passing build
    kept = (cache / "partial_parse.msgpack").read_bytes()
    assert kept == (target / "partial_parse.msgpack").read_bytes() and len(kept) > 100_000
    assert [p.name for p in cache.iterdir()] == ["partial_parse.msgpack"]  # no partial copy left beside it


def test_a_unit_test_moved_to_another_file_builds_after_one_full_parse(warehouse_copy, tmp_path, capsys):
    """dbt's partial parse keeps a unit test moved from one YAML file to another in both places ("dbt
    found two unit_tests with the name ..."), so an upgrade that moves one would fail every nightly
    build until someone deleted the saved parse: the build parses the project in full once and passes.
    The move is a SYNTHETIC edit of a copy of the project."""
    from ingest import pipeline
    from ingest.publish import read_receipt

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    name = "  - name: partial_tables_get_no_computed_ranks\n"
    [home] = [p for p in (project / "models").rglob("*.yml") if name in p.read_text(encoding="utf-8")]
    source = home.read_text(encoding="utf-8")
    start = source.index(name)
    end = source.find("\n  - name:", start + 1)
    block = source[start:] if end < 0 else source[start:end + 1]
    home.write_text(source.replace(block, ""), encoding="utf-8")
    (home.parent / "zz_moved_unit_test.yml").write_text("version: 2\n\nunit_tests:\n" + block, encoding="utf-8")
    settings = make_settings(warehouse_copy.data_dir, dbt_project_dir=project, dbt_unit_tests=True)
    assert (settings.build_dir / "target" / "partial_parse.msgpack").is_file()  # the last build's saved parse

    built = pipeline.build(settings)
    out = capsys.readouterr().out
    assert "[build] dbt's saved parse does not fit the edited project" in out
    first = (settings.build_dir / "dbt_build.stale-parse.log").read_text(encoding="utf-8")
    assert 'dbt found two unit_tests with the name "partial_tables_get_no_computed_ranks"' in first
    assert read_receipt(built)["build_id"]  # the second attempt passed every node
    results = json.loads((settings.build_dir / "target" / "run_results.json").read_text(encoding="utf-8"))
    moved = [r["status"] for r in results["results"] if r["unique_id"].endswith(".partial_tables_get_no_computed_ranks")]
    assert moved == ["pass"]
