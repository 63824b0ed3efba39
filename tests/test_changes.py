"""The change log: every publish is compared with the warehouse it replaced, fact by fact.

Synthetic curated pages (labelled so) are added to a copy of the curated folder; the warehouse
is a copy of the session's built warehouse, so each run here is a real run of the pipeline.
"""
from __future__ import annotations

import pytest

import json
from datetime import datetime, timedelta

from conftest import curated_copy, govwh, make_settings, write_curated

pytestmark = pytest.mark.slow  # each test runs its own pipeline or dbt build


def _last_record(settings):
    return json.loads(settings.warehouse.with_name("publish_log.jsonl").read_text().splitlines()[-1])


def test_an_added_page_lists_exactly_its_figures_and_a_quiet_night_lists_none(warehouse_copy, tmp_path):
    folder = curated_copy(tmp_path)
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    write_curated(folder, "zz-change-log", "SIPAS,province,2024,Quảng Ninh,88.5,,,,synthetic\n"
                                           "SIPAS,province,2024,Đà Nẵng,87.25,,,,synthetic\n")
    first = govwh(settings, "run", "--direct")
    assert first.returncode == 0, first.stderr
    line = first.stdout.strip().splitlines()[-1]
    assert line.startswith("What changed in the publish of 20")
    assert "2 figures added, 0 changed, 0 removed, 0 ranks changed, 0 new conflicts" in line
    assert _last_record(settings)["changes"] == {"added": 2, "changed": 0, "removed": 0, "rank_changed": 0,
                                                 "new_conflict": 0}
    listed = govwh(settings, "changes")
    assert listed.returncode == 0, listed.stderr
    rows = [ln for ln in listed.stdout.splitlines() if "│ added" in ln]
    assert len(rows) == 2 and all("curated-zz-change-log" in r and "sipas" in r for r in rows)
    assert any("Quảng Ninh" in r and "88.5" in r for r in rows) and any("Đà Nẵng" in r and "87.25" in r for r in rows)
    published_at = _last_record(settings)["at"]

    quiet = govwh(settings, "run", "--direct")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip().splitlines()[-1] == "What changed: no changes (this run published nothing)"
    one_second_later = (datetime.fromisoformat(published_at) + timedelta(seconds=1)).isoformat()
    since = govwh(settings, "changes", "--since", one_second_later)
    assert "no changes: nothing was published since" in since.stdout

    report = govwh(settings, "report")
    assert report.returncode == 0, report.stderr
    page = (settings.data_dir / "site" / "changes.html").read_text(encoding="utf-8")
    assert "2 figures added, 0 changed" in page and page.count("<td>added</td>") == 2
    assert "curated-zz-change-log" in page


def test_a_changed_figure_shows_old_and_new_and_both_sources(warehouse_copy, tmp_path):
    folder = curated_copy(tmp_path)
    settings = make_settings(warehouse_copy.data_dir, curated_dir=folder)
    write_curated(folder, "zz-change-a", "SIPAS,province,2024,Đà Nẵng,87.25,,,,synthetic\n")
    assert govwh(settings, "run", "--direct").returncode == 0
    write_curated(folder, "zz-change-a", "SIPAS,province,2024,Đà Nẵng,87.5,,,,synthetic (corrected)\n")
    proc = govwh(settings, "run", "--direct")
    assert proc.returncode == 0, proc.stderr
    assert "0 figures added, 1 changed, 0 removed" in proc.stdout
    listed = govwh(settings, "changes").stdout
    row = next(ln for ln in listed.splitlines() if "│ changed" in ln)
    assert "Đà Nẵng" in row and "87.25" in row and "87.5" in row and "curated-zz-change-a" in row


def test_since_takes_a_date_and_refuses_anything_else(warehouse_copy):
    bad = govwh(warehouse_copy, "changes", "--since", "last tuesday")
    assert bad.returncode == 1 and "is not a date" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    ok = govwh(warehouse_copy, "changes", "--since", "2000-01-01")
    assert ok.returncode == 0 and "first publish: nothing to compare with" in ok.stdout
