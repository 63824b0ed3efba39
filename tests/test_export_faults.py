"""`govwh export` and `govwh report` when writing fails, for real: a full disk is a small tmpfs in a
private mount namespace (`unshare -m`, as root, as in test_storage_faults.py). The command ends
with one line naming the file it was writing, removes its staging folder (`exports.incoming`,
`site.incoming`) and leaves the previous exports and site as they were; a staging folder left by a
killed run is removed by the next run, which succeeds."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import data_env, govwh, leftovers, require_mount_namespaces

pytestmark = pytest.mark.slow  # each test runs its own pipeline, dbt build or full-disk mount


def _tree(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def exported(warehouse_copy):
    """The copy with its exports and report written once: the previous ones a failed run must keep."""
    from ingest.exports import export_all
    from ingest.report import build_site

    export_all(warehouse_copy)
    build_site(warehouse_copy)
    return warehouse_copy


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err and "Exception ignored" not in err, err
    return lines[0]


def test_export_and_report_on_a_full_disk_are_one_line_and_leave_the_previous_ones(exported, tmp_path):
    require_mount_namespaces()
    out = tmp_path / "out"
    out.mkdir()
    checker = textwrap.dedent(f"""
        import hashlib, json, sys
        from pathlib import Path
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from conftest import leftovers
        from ingest.config import Settings
        s = Settings.from_env()
        tree = lambda folder: {{str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                               for p in sorted(folder.rglob("*")) if p.is_file()}}
        json.dump({{"exports": tree(s.data_dir / "exports"), "site": tree(s.data_dir / "site"),
                   "leftovers": leftovers(s)}}, open(sys.argv[1], "w"))
    """)
    (out / "check.py").write_text(checker)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    py = sys.executable
    script = textwrap.dedent(f"""
        set -u
        used() {{ df -k --output=used {mnt} | tail -1; }}
        mount -t tmpfs -o size=1g tmpfs {mnt}
        cp -a {exported.data_dir}/. {mnt}/
        {py} {out}/check.py {out}/before.json
        # 2 MiB to spare: not enough for the Parquet files, nor for plotly.min.js (3.5 MB)
        mount -o remount,size=$(( $(used) + 2048 ))k {mnt}
        {py} -m ingest export > {out}/e1.out 2> {out}/e1.err; echo $? > {out}/e1.rc
        {py} -m ingest report > {out}/r1.out 2> {out}/r1.err; echo $? > {out}/r1.rc
        {py} {out}/check.py {out}/after1.json
        # room for the Parquet and CSV files (as large as the previous ones) but not the workbook (2 MB)
        tables=$(du -sk {mnt}/exports/parquet {mnt}/exports/csv | awk '{{s += $1}} END {{print s}}')
        mount -o remount,size=$(( $(used) + tables + 512 ))k {mnt}
        {py} -m ingest export > {out}/e2.out 2> {out}/e2.err; echo $? > {out}/e2.rc
        {py} {out}/check.py {out}/after2.json
        mount -o remount,size=1g {mnt}
        {py} -m ingest export > {out}/e3.out 2> {out}/e3.err; echo $? > {out}/e3.rc
        {py} -m ingest report > {out}/r3.out 2> {out}/r3.err; echo $? > {out}/r3.rc
        {py} {out}/check.py {out}/final.json
    """)
    proc = subprocess.run(["unshare", "-m", "bash", "-c", script], env=data_env(mnt), capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr
    before, after1, after2, final = (json.loads((out / f"{n}.json").read_text())
                                     for n in ("before", "after1", "after2", "final"))
    rc = {n: (out / f"{n}.rc").read_text().strip() for n in ("e1", "r1", "e2", "e3", "r3")}
    err = {n: (out / f"{n}.err").read_text() for n in rc}

    assert rc["e1"] == "1"
    line = _one_line(err["e1"])
    assert re.fullmatch(rf"error: disk full while exporting the marts: no space left writing "
                        rf"{re.escape(str(mnt))}/exports/(parquet|csv)/\w+\.(parquet|csv); free space and run "
                        r"again \(the serving warehouse was not touched\)", line), line
    assert rc["r1"] == "1"
    line = _one_line(err["r1"])
    assert line.startswith(f"error: disk full while writing the report: no space left writing {mnt}/site/"), line
    assert after1 == before and after1["leftovers"] == []

    # the workbook is zipped last: xlsxwriter's failure printed a 9-line "Exception ignored" traceback
    assert rc["e2"] == "1"
    line = _one_line(err["e2"])
    assert line.startswith(f"error: disk full while exporting the marts: no space left writing "
                           f"{mnt}/exports/governance_marts.xlsx; "), line
    assert after2 == before and after2["leftovers"] == []

    assert rc["e3"] == "0" and rc["r3"] == "0", (err["e3"], err["r3"])
    assert final["leftovers"] == []
    assert set(final["exports"]) == set(before["exports"]) and set(final["site"]) == set(before["site"])


def test_a_killed_runs_staging_folders_are_removed_by_the_next_export_and_report(exported):
    """As a run killed mid-write leaves them: a half-written CSV, a page, a stray Parquet file."""
    settings = exported
    data = settings.data_dir
    before_exports, before_site = _tree(data / "exports"), _tree(data / "site")
    (data / "exports.incoming" / "csv").mkdir(parents=True)
    (data / "exports.incoming" / "csv" / "fct_rankings.csv").write_bytes(b"\xef\xbb\xbfindicator_code,le")
    (data / "exports.incoming" / "parquet").mkdir()
    (data / "exports.incoming" / "parquet" / "stray.parquet").write_bytes(b"PAR1")
    (data / "site.incoming" / "province").mkdir(parents=True)
    (data / "site.incoming" / "province" / "22.html").write_text("<!doctype html><title>half", encoding="utf-8")
    assert leftovers(settings) == ["exports.incoming", "site.incoming"]
    proc = govwh(settings, "export")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    proc = govwh(settings, "report")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert leftovers(settings) == []
    assert set(_tree(data / "exports")) == set(before_exports) and set(_tree(data / "site")) == set(before_site)
    assert _tree(data / "exports")["csv/fct_rankings.csv"] == before_exports["csv/fct_rankings.csv"]
