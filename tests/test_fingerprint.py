"""Nothing skipped: the "nothing new" check compares today's inputs with what the published
build actually read (its receipt), never with what lay on disk when something was published.
And a documentation change is content: it is built, published and served. Real CLI runs of the
pipeline on copies of the session's warehouse; the curated page and the edits are SYNTHETIC."""
from __future__ import annotations

import pytest

import json
import os
import shutil
import subprocess
import sys
import time

from ingest.config import DBT_PROJECT_DIR
from ingest.publish import manifest_path, read_receipt

from conftest import curated_copy, govwh, make_settings, query, write_curated

pytestmark = pytest.mark.slow  # each test runs its own pipeline or dbt build

COLUMNS_DOCS = "models/marts/_marts__columns.md"  # the column descriptions several marts share
COLUMN = ("fct_rankings", "rank_label")
DESCRIPTION = '{% docs rank_label %}\nThe rank as "12 of 63".\n{% enddocs %}\n'


def _edit_description(project, text: str) -> None:
    """Give rank_label (fct_rankings' and every mart's that shares its docs block) a new
    description (a SYNTHETIC docs edit)."""
    path = project / COLUMNS_DOCS
    source = path.read_text(encoding="utf-8")
    assert source.count(DESCRIPTION) == 1
    path.write_text(source.replace(DESCRIPTION, DESCRIPTION.replace('The rank as "12 of 63".', text)),
                    encoding="utf-8")
    assert "description: '{{ doc(\"rank_label\") }}'" in (project / "models" / "marts" / "fct_rankings.yml").read_text()


def _served_comment(settings) -> str:
    return query(settings, "select comment from duckdb_columns() where schema_name = 'marts' and table_name = ? "
                           "and column_name = ?", list(COLUMN))[0][0]


def _project_copy(tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    return project


def test_a_file_fetched_before_a_no_op_publish_is_still_loaded(warehouse_copy, tmp_path):
    """fetch lands a new curated page; publishing the old build (nothing new in it) must not
    record the new page as built; the next run loads it."""
    folder = curated_copy(tmp_path)
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    write_curated(folder, "zz-fetched-late", "SIPAS,province,2013,Quảng Ninh,83.75,,,,synthetic\n")
    fetched = govwh(settings, "fetch")
    assert fetched.returncode == 0, fetched.stderr
    published = govwh(settings, "publish")
    assert published.returncode == 0, published.stderr
    assert "[publish] nothing new: the build's content equals the serving warehouse" in published.stdout
    inputs = json.loads((settings.data_dir / "last_build_inputs.json").read_text())
    assert inputs["fingerprint"] == read_receipt(settings.build_dir / "governance.duckdb")["input_fingerprint"]
    run = govwh(settings, "run", "--direct")
    assert run.returncode == 0, run.stderr
    assert "[check] nothing new" not in run.stdout and "[build]" in run.stdout, run.stdout
    assert query(settings, "select value from marts.fct_observations "
                           "where publication_id = 'curated-zz-fetched-late'") == [(83.75,)]


def test_a_model_edited_while_dbt_runs_is_not_recorded_as_built(warehouse_copy, tmp_path):
    """The edit lands while `[build]` runs: whatever dbt read, the build's fingerprint is the one
    taken when it started, so the next run sees the edit and builds again; the new description
    is then served."""
    project = _project_copy(tmp_path)
    settings = make_settings(warehouse_copy.data_dir, dbt_project_dir=project)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_")}
    env.update({"GOVWH_DATA_DIR": str(settings.data_dir), "GOVWH_WAREHOUSE": str(settings.warehouse),
                "GOVWH_CURATED_DIR": str(settings.curated_dir), "GOVWH_DBT_PROJECT_DIR": str(project),
                "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "run", "--direct", "--force"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("[build] dbt build"):
            time.sleep(1)
            _edit_description(project, "SYNTHETIC description edited while dbt ran")
            break
    rest, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    receipt = read_receipt(settings.build_dir / "governance.duckdb")
    inputs = json.loads((settings.data_dir / "last_build_inputs.json").read_text())
    assert inputs["fingerprint"] == receipt["input_fingerprint"]
    again = govwh(settings, "run", "--direct")
    assert again.returncode == 0, again.stderr
    assert "[check] nothing new" not in again.stdout and "[build]" in again.stdout, again.stdout
    assert _served_comment(settings) == "SYNTHETIC description edited while dbt ran"
    quiet = govwh(settings, "run", "--direct")
    assert "[check] nothing new since 20" in quiet.stdout, quiet.stdout + quiet.stderr


def test_a_documentation_change_is_published_and_served(warehouse_copy, tmp_path):
    project = _project_copy(tmp_path)
    settings = make_settings(warehouse_copy.data_dir, dbt_project_dir=project)
    old = _served_comment(settings)
    _edit_description(project, "SYNTHETIC: a new description of the rank label")
    proc = govwh(settings, "run", "--direct")
    assert proc.returncode == 0, proc.stderr
    assert "[publish] nothing new" not in proc.stdout and f"[publish] {settings.warehouse}" in proc.stdout
    assert old != _served_comment(settings) == "SYNTHETIC: a new description of the rank label"
    manifest = json.loads(manifest_path(settings).read_text())  # what the PostgreSQL mirror comments from
    node = manifest["nodes"][f"model.governance.{COLUMN[0]}"]
    assert node["columns"][COLUMN[1]]["description"] == "SYNTHETIC: a new description of the rank label"
