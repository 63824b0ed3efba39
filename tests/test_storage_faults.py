"""A full disk and a read-only data folder, for real: each run happens in a private mount
namespace (`unshare -m`, as root) on a small tmpfs or a read-only bind mount of the folder.
The command ends with one line, the serving warehouse is unchanged, nothing is lost or left
behind, and once there is room again the next run succeeds."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import assert_untouched, data_env, require_mount_namespaces, snapshot, tmpfs_kib

pytestmark = pytest.mark.slow  # each test runs its own pipeline, dbt build or full-disk mount


def test_disk_full_is_one_line_and_the_next_run_succeeds(warehouse_copy, tmp_path):
    require_mount_namespaces()
    out = tmp_path / "out"
    out.mkdir()
    size_kb = tmpfs_kib(warehouse_copy.data_dir) + 8 * 1024  # the copy fits with 8 MiB to spare: fetch and parse fit, dbt build does not
    checker = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(os.path.dirname(__file__))!r})
        from conftest import leftovers, snapshot
        from ingest.config import Settings
        s = Settings.from_env()
        snap = snapshot(s)
        json.dump({{"serving": snap.serving_sha256, "previous": snap.previous_sha256, "raw": snap.raw_files,
                   "log": snap.publish_log, "leftovers": leftovers(s)}}, open(sys.argv[1], "w"))
    """)
    (out / "check.py").write_text(checker)
    mount = tmp_path / "mnt"
    mount.mkdir()
    script = textwrap.dedent(f"""
        set -u
        mount -t tmpfs -o size={size_kb}k tmpfs {mount}
        cp -a {warehouse_copy.data_dir}/. {mount}/
        {sys.executable} {out}/check.py {out}/before.json
        {sys.executable} -m ingest run --direct --force > {out}/full.out 2> {out}/full.err; echo $? > {out}/full.rc
        {sys.executable} {out}/check.py {out}/after.json
        mount -o remount,size=512m {mount}
        {sys.executable} -m ingest run --direct > {out}/room.out 2> {out}/room.err; echo $? > {out}/room.rc
        {sys.executable} {out}/check.py {out}/final.json
    """)
    proc = subprocess.run(["unshare", "-m", "bash", "-c", script], env=data_env(mount), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    import json

    before, after, final = (json.loads((out / f"{n}.json").read_text()) for n in ("before", "after", "final"))
    err = (out / "full.err").read_text().strip()
    assert (out / "full.rc").read_text().strip() == "1"
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: disk full") and "no space left writing" in err, err
    assert (after["serving"], after["previous"], after["log"]) == (before["serving"], before["previous"], before["log"])
    assert all(after["raw"].get(k) == v for k, v in before["raw"].items())
    assert after["leftovers"] == []
    assert (out / "room.rc").read_text().strip() == "0", (out / "room.err").read_text()
    assert final["serving"] and final["leftovers"] == []


def test_a_read_only_data_folder_is_one_line(warehouse_copy):
    require_mount_namespaces()
    data = warehouse_copy.data_dir
    before = snapshot(warehouse_copy)
    script = f"mount --bind {data} {data} && mount -o remount,bind,ro {data} && exec {sys.executable} -m ingest run --direct"
    proc = subprocess.run(["unshare", "-m", "bash", "-c", script], env=data_env(data), capture_output=True, text=True,
                          timeout=300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"error: cannot write {data}/.govwh.lock while taking the run lock: Read-only file "
                               "system (is the data folder read-only?"), lines[0]
    assert_untouched(warehouse_copy, before)


def test_duckdb_out_of_memory_in_the_build_is_one_line_and_keeps_the_warehouse(warehouse_copy, tmp_path):
    """At 100x (bench/scale.py) DuckDB once ran out of memory committing fct_observations; dbt then
    crashed without run_results.json. Here, for real and fast, with the project's memory_limit cut to
    16MB in a copy of the dbt project: one line naming the allocation and where the limit is set."""
    import shutil

    from ingest.config import DBT_PROJECT_DIR

    from conftest import govwh, make_settings

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    profile = project / "profiles.yml"
    profile.write_text(profile.read_text(encoding="utf-8").replace("memory_limit: 2GB", "memory_limit: 16MB"),
                       encoding="utf-8")
    settings = make_settings(warehouse_copy.data_dir, dbt_project_dir=project)
    before = snapshot(settings)
    proc = govwh(settings, "run", "--direct")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert lines[0].startswith("error: DuckDB ran out of memory during the dbt build (") and "MiB used)" in lines[0]
    assert f"the limit is memory_limit in {profile}" in lines[0] and "the serving warehouse was not touched" in lines[0]
    assert not (settings.build_dir / "governance.duckdb").exists()  # the crashed build file is gone
    assert_untouched(settings, before)


def test_out_of_memory_is_recognised_in_each_form_duckdb_printed_at_100x():
    """The two messages DuckDB printed when the 100x build ran out of memory (bench/scale.py,
    2026-12-02, copied from the dbt logs): an allocation failing at commit, and the fatal error that
    invalidated the database after a table's flush failed. Each becomes the one phrase the error
    line quotes; text without an allocation failure is not mistaken for one."""
    from ingest.pipeline import out_of_memory

    committed = ("TransactionContext Error: Failed to commit: Failed to flush table fct_observations during commit: "
                 "could not allocate block of size 256.0 KiB (953.5 MiB/953.6 MiB used)\n")
    fatal = ('_duckdb.FatalException: FATAL Error: Failed: database has been invalidated because of a previous fatal '
             'error. The database must be restarted prior to being used again.\nOriginal error: "Failed to flush table '
             'mart_scores_current_provinces during commit: failed to allocate data of size 256.0 KiB '
             '(953.6 MiB/953.6 MiB used)\n')
    assert out_of_memory(committed) == ("Failed to flush table fct_observations during commit: could not allocate "
                                        "block of size 256.0 KiB (953.5 MiB/953.6 MiB used)")
    assert out_of_memory(fatal) == ("Failed to flush table mart_scores_current_provinces during commit: failed to "
                                    "allocate data of size 256.0 KiB (953.6 MiB/953.6 MiB used)")
    assert out_of_memory("Runtime Error in model fct_rankings: Binder Error: column not found\n") is None
