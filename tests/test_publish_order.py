"""Nothing lost: a publish that fails or is killed at any step leaves the serving file, its
rollback copy and the publish log whole; the change log and the publish log cannot fail a
publish after it happened. Real processes (the CLI), real DuckDB files, a real full tmpfs.

The warehouses published here are SYNTHETIC variants of the session's build: the same marts
plus one marker table each, with their own receipts, so that every publish really replaces
the serving file. Names: A (the session's build, served first), B (served now, A is
`.previous`), C (the build waiting in build/).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from ingest.publish import incoming_path, log_path, pending_path, previous_path, write_receipt

from conftest import (assert_one_line_error, assert_untouched, data_env, file_sha256, govwh, leftovers, make_settings,
                      require_mount_namespaces, snapshot, tmpfs_kib)

pytestmark = [pytest.mark.slow,  # many real CLI runs each, and one pipeline run
              pytest.mark.xdist_group("publish_order")]  # one worker makes the three builds once


@dataclass
class Three:
    settings: object
    a: str
    b: str
    c: str


def _marker_build(folder: Path, name: str) -> str:
    """Add a SYNTHETIC marker table to the dbt file of a build folder and write its receipt."""
    con = duckdb.connect(str(folder / "governance.duckdb"))
    con.execute(f"create table marts.synthetic_marker_{name} as select '{name}' as build")
    con.close()
    return write_receipt(folder / "governance.duckdb")["sha256"]


@pytest.fixture(scope="module")
def three_template(built_warehouse, tmp_path_factory) -> Three:
    from ingest.publish import publish

    data = tmp_path_factory.mktemp("three") / "data"
    shutil.copytree(built_warehouse.data_dir, data, ignore=shutil.ignore_patterns("airflow"))
    settings = make_settings(data)
    a = file_sha256(settings.warehouse)
    side = data / "build-b"
    shutil.copytree(settings.build_dir, side)
    b = _marker_build(side, "b")
    publish(settings, side / "governance.duckdb")
    shutil.rmtree(side)
    c = _marker_build(settings.build_dir, "c")
    assert len({a, b, c}) == 3 and file_sha256(settings.warehouse) == b
    assert file_sha256(previous_path(settings)) == a
    return Three(settings, a, b, c)


@pytest.fixture
def three(three_template, tmp_path) -> Three:
    data = tmp_path / "data"
    shutil.copytree(three_template.settings.data_dir, data)
    return Three(make_settings(data), three_template.a, three_template.b, three_template.c)


def _sha(path: Path) -> str | None:
    return file_sha256(path) if path.exists() else None


def _log(settings) -> list[dict]:
    return [json.loads(line) for line in log_path(settings).read_text().splitlines() if line.strip()]


def _temporaries(settings) -> list[str]:
    return leftovers(settings) + [p.name for p in (pending_path(settings),) if p.exists()]


# ------------------------------------------------------------------ 1. a failed publish loses nothing
POINTS = ["publish.copy", "publish.staged", "publish.linked", "publish.journal", "publish.committed",
          "publish.rotated", "publish.changes", "publish.logged"]


@pytest.mark.parametrize("point", POINTS)
def test_a_publish_killed_at_any_step_keeps_both_warehouses_and_the_next_publish_finishes(three, point):
    s = three.settings
    killed = govwh(s, "publish", env={"GOVWH_FAILPOINT": f"{point}:kill"})
    assert killed.returncode == -9, (killed.returncode, killed.stderr)
    served, previous = _sha(s.warehouse), _sha(previous_path(s))
    assert served in (three.b, three.c)
    if served == three.b:  # not committed: exactly as before
        assert previous == three.a
    else:  # committed: the file before it is .previous, or about to be (the journal finishes the rotation)
        assert {previous, _sha(previous_path(s).with_name(previous_path(s).name + ".tmp"))} >= {three.b}
    # the next publish finishes or undoes what was interrupted, then publishes C (or finds it served)
    again = govwh(s, "publish")
    assert again.returncode == 0, again.stderr
    assert (_sha(s.warehouse), _sha(previous_path(s))) == (three.c, three.b)
    last = _log(s)[-1]
    assert (last["action"], last["sha256"], last["previous_sha256"]) == ("publish", three.c, three.b)
    assert [r["sha256"] for r in _log(s)].count(three.c) == 1  # logged once, never twice
    assert _temporaries(s) == []
    back = govwh(s, "rollback")
    assert back.returncode == 0, back.stderr
    assert _sha(s.warehouse) == three.b


@pytest.mark.parametrize("point,pattern", [
    ("publish.copy:enospc", r"disk full while staging the new warehouse: no space left writing "
                            r".*/governance\.duckdb\.incoming"),
    ("publish.staged:error", r"Input/output error \(injected at publish\.staged\) while publishing the warehouse"),
    ("publish.journal:error", r"Input/output error \(injected at publish\.journal\) while publishing the warehouse"),
])
def test_an_injected_failure_before_the_commit_touches_nothing(three, point, pattern):
    s = three.settings
    before = snapshot(s)
    proc = govwh(s, "publish", env={"GOVWH_FAILPOINT": point})
    assert_one_line_error(proc, pattern)
    assert_untouched(s, before)
    assert (before.serving_sha256, before.previous_sha256) == (three.b, three.a)
    assert _temporaries(s) == []


def test_a_publish_onto_a_full_disk_keeps_both_warehouses(three, tmp_path):
    """A real tmpfs with room for the data folder but not for the new file's copy."""
    require_mount_namespaces()
    s = three.settings
    size_kb = tmpfs_kib(s.data_dir) + 2 * 1024  # 2 MiB to spare; the serving file is ~13 MiB
    mount, out = tmp_path / "mnt", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    py = sys.executable
    shas = (f"{py} -c \"import hashlib,sys; print(' '.join(hashlib.sha256(open(p,'rb').read()).hexdigest() "
            f"for p in sys.argv[1:]))\" {mount}/governance.duckdb {mount}/governance.duckdb.previous")
    script = textwrap.dedent(f"""
        set -u
        mount -t tmpfs -o size={size_kb}k tmpfs {mount}
        cp -a {s.data_dir}/. {mount}/
        {py} -m ingest publish > {out}/full.out 2> {out}/full.err; echo $? > {out}/full.rc
        {shas} > {out}/after-full
        ls -a {mount} > {out}/ls-full
        cp {mount}/publish_log.jsonl {out}/log-full
        mount -o remount,size=512m {mount}
        {py} -m ingest publish > {out}/room.out 2> {out}/room.err; echo $? > {out}/room.rc
        {shas} > {out}/after-room
    """)
    proc = subprocess.run(["unshare", "-m", "bash", "-c", script], env=data_env(mount), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    err = (out / "full.err").read_text().strip()
    assert (out / "full.rc").read_text().strip() == "1", err
    assert len(err.splitlines()) == 1 and err.startswith("error: disk full while staging the new warehouse: no space "
                                                         f"left writing {mount}/governance.duckdb.incoming"), err
    assert (out / "after-full").read_text().split() == [three.b, three.a]
    assert (out / "log-full").read_text() == log_path(s).read_text()
    names = (out / "ls-full").read_text().split()
    assert not [n for n in names if n.endswith((".incoming", ".tmp", ".pending.json"))], names
    assert (out / "room.rc").read_text().strip() == "0", (out / "room.err").read_text()
    assert (out / "after-room").read_text().split() == [three.c, three.b]


def test_rollback_goes_back_once_then_refuses_the_file_already_served(three):
    s = three.settings
    proc = govwh(s, "rollback")
    assert proc.returncode == 0, proc.stderr
    assert _sha(s.warehouse) == three.a
    before = snapshot(s)
    again = govwh(s, "rollback")  # .previous is A too now: "success" would restore the same file
    assert_one_line_error(again, r"rollback refused: .*governance\.duckdb\.previous is the warehouse already served")
    assert_untouched(s, before)


def test_a_rollback_killed_before_its_log_line_is_finished_by_the_next_publish(three):
    s = three.settings
    killed = govwh(s, "rollback", env={"GOVWH_FAILPOINT": "publish.committed:kill"})
    assert killed.returncode == -9
    assert _sha(s.warehouse) == three.a and _log(s)[-1]["action"] == "publish"  # served, not yet logged
    status = govwh(s, "publish")
    assert status.returncode == 0, status.stderr
    assert "[publish] completed the rollback of" in status.stdout
    actions = [(r["action"], r["sha256"]) for r in _log(s)][-3:]
    assert actions == [("publish", three.b), ("rollback", three.a), ("publish", three.c)]


# ------------------------------------------------------------------ 4. the change log cannot fail a publish
HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print(con.execute("select count(*) from publish_changes").fetchone()[0], flush=True)
time.sleep(120)
"""


def test_a_change_log_held_open_by_a_reader_does_not_fail_the_publish(three):
    s = three.settings
    log_file = s.data_dir / "changes.duckdb"
    assert log_file.exists()  # B's publish wrote it
    reader = subprocess.Popen([sys.executable, "-c", HOLD, str(log_file)], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip().isdigit()  # the reader holds it (a read-only lock)
        proc = govwh(s, "publish")
    finally:
        reader.kill()
        reader.wait()
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "[publish]" in proc.stdout
    assert (_sha(s.warehouse), _sha(previous_path(s))) == (three.c, three.b)
    record = _log(s)[-1]
    assert record["change_log"] == "recorded" and record["sha256"] == three.c
    listed = govwh(s, "changes")
    assert listed.returncode == 0 and f"publish of {record['at']}: no changes" in listed.stdout, listed.stderr


def test_a_corrupt_change_log_is_moved_aside_with_one_warning(three):
    s = three.settings
    log_file = s.data_dir / "changes.duckdb"
    garbage = b"SYNTHETIC: not a DuckDB file\n" * 100
    log_file.write_bytes(garbage)
    broken = govwh(s, "changes")
    assert_one_line_error(broken, r"the change log .*changes\.duckdb cannot be read .*the next publish moves it aside")
    proc = govwh(s, "publish")
    assert proc.returncode == 0, proc.stderr
    warnings = proc.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: the change log {log_file} could not be read"), \
        proc.stderr
    aside = [p for p in s.data_dir.glob("changes.duckdb.unreadable-*")]
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    assert _sha(s.warehouse) == three.c
    record = _log(s)[-1]
    assert record["change_log"].startswith("recorded in a new change log (the old one was unreadable, moved aside to ")
    listed = govwh(s, "changes")
    assert listed.returncode == 0, listed.stderr


def test_a_change_log_that_cannot_be_written_is_recorded_as_missing(three):
    s = three.settings
    proc = govwh(s, "publish", env={"GOVWH_FAILPOINT": "changes.written:enospc"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("warning: the change log") and len(proc.stderr.strip().splitlines()) == 1
    assert _sha(s.warehouse) == three.c and _sha(previous_path(s)) == three.b
    record = _log(s)[-1]
    assert record["sha256"] == three.c and record["change_log"].startswith("missing: OSError")
    assert _temporaries(s) == [] and not (s.data_dir / "changes.duckdb.incoming").exists()


# ------------------------------------------------------------------ 5. a bad publish-log line
def test_bad_publish_log_lines_are_named_and_skipped(three):
    s = three.settings
    path = log_path(s)
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 2  # A's publish, B's publish
    path.write_bytes(lines[0] + b"42\n" + b"\xff\xfe not utf-8\n" + b'{"no": "at"}\n' + lines[1])
    for args in (["status"], ["changes"], ["summary"]):
        proc = govwh(s, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        warned = proc.stderr.strip().splitlines()
        assert warned == [f"warning: {path}, line 2 is a JSON int, not a record; skipped",
                          f"warning: {path}, line 3 is not UTF-8; skipped",
                          f"warning: {path}, line 4 has no `at` or `action`; skipped"], (args, proc.stderr)
    proc = govwh(s, "publish")
    assert proc.returncode == 0 and _sha(s.warehouse) == three.c, proc.stderr
    proc = govwh(s, "rollback")
    assert proc.returncode == 0 and _sha(s.warehouse) == three.b, proc.stderr
    proc = govwh(s, "run", "--direct")
    assert proc.returncode == 0, proc.stderr


def test_rollback_is_refused_only_when_its_own_record_is_the_bad_line(three):
    s = three.settings
    path = log_path(s)
    lines = path.read_bytes().splitlines(keepends=True)
    assert json.loads(lines[0])["sha256"] == three.a
    path.write_bytes(b"[1, 2]\n" + lines[1].replace(three.a.encode(), b"0" * 64))  # A's record, unreadable
    before = snapshot(s)
    proc = govwh(s, "rollback")
    assert proc.returncode == 1, proc.stderr
    warning, error = proc.stderr.strip().splitlines()
    assert warning == f"warning: {path}, line 1 is a JSON list, not a record; skipped"
    assert error.startswith("error: rollback refused: ") and error.endswith(
        f"previous (sha256 {three.a[:12]}) matches no warehouse in {path} (line 1 is unreadable: if its record is "
        "there, mend that line)"), error
    assert_untouched(s, before)


def test_status_lists_what_killed_runs_left_and_the_step_that_removes_it(three):
    s = three.settings
    killed = govwh(s, "publish", env={"GOVWH_FAILPOINT": "publish.linked:kill"})
    assert killed.returncode == -9
    (s.data_dir / "parsed.incoming").mkdir()  # as a killed parse leaves it
    (s.build_dir / "governance.duckdb.wal").write_bytes(b"SYNTHETIC")  # as a killed dbt leaves it
    status = govwh(s, "status")
    assert status.returncode == 0, status.stderr
    listed = sorted(line.strip() for line in status.stdout.splitlines() if "left by an interrupted run" in line)
    assert listed == sorted([
        f"left by an interrupted run: {s.data_dir / 'parsed.incoming'} (the next `govwh parse` removes or finishes it)",
        f"left by an interrupted run: {incoming_path(s)} (the next `govwh publish` removes or finishes it)",
        f"left by an interrupted run: {previous_path(s)}.tmp (the next `govwh publish` removes or finishes it)",
        f"left by an interrupted run: {s.build_dir / 'governance.duckdb.wal'} (the next `govwh build` removes or "
        "finishes it)"]), status.stdout
    again = govwh(s, "publish")
    assert again.returncode == 0 and "[publish] removed what an interrupted publish left" in again.stdout
    assert not incoming_path(s).exists() and _sha(s.warehouse) == three.c


def test_a_first_publish_that_fails_leaves_no_serving_file_and_the_next_one_serves(built_warehouse, tmp_path):
    s = make_settings(tmp_path / "data")
    shutil.copytree(built_warehouse.build_dir, s.build_dir, dirs_exist_ok=True)  # over the seeded saved parse
    proc = govwh(s, "publish", env={"GOVWH_FAILPOINT": "publish.journal:error"})
    assert_one_line_error(proc, r"Input/output error \(injected at publish\.journal\) while publishing the warehouse")
    assert not s.warehouse.exists() and not previous_path(s).exists() and _temporaries(s) == []
    again = govwh(s, "publish")
    assert again.returncode == 0, again.stderr
    assert _sha(s.warehouse) == _sha(built_warehouse.build_dir / "serving.duckdb")
    assert not previous_path(s).exists() and _log(s)[-1]["previous_sha256"] is None
