"""The export writers: DuckDB writes the CSV files and a second process the workbooks (ingest/exports.py).
The CSV files must hold exactly what Python's csv module writes from the same rows with the same
escaping and neutralising (text_cell), hostile text included; the SQL prefilter must let every
character the escaping rule escapes through to it; the workbook process dies with its export."""
from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import duckdb
import pytest

from ingest import exports
from ingest.safetext import is_hidden

from conftest import MARTS, data_env

# SYNTHETIC hostile text written into a private copy of the serving file
HOSTILE = {
    "title": "SYNTHETIC \u202efdp.exe\u200b \x1b[31m red \u2028 next\u00ad",
    "formula": "=HYPERLINK(\"http://evil.example\",\"x\")",
    "cr_lead": "\rcarriage return first",
    "tab_lead": "\ttab first, \"quoted\", comma",
}


def test_the_prefilter_lets_every_hidden_character_through_and_only_safe_ones_stay_out():
    """Every code point the rule escapes (but lone surrogates, which no DuckDB string holds) matches
    MAYBE_HIDDEN in DuckDB; none of the characters it lets pass unexamined is hidden."""
    for low, high in exports.NEVER_HIDDEN_RANGES:
        assert not any(is_hidden(chr(cp)) for cp in range(low, high + 1)), (hex(low), hex(high))
    hidden = [chr(cp) for cp in range(0x110000)
              if unicodedata.category(chr(cp)) != "Cs" and is_hidden(chr(cp))]
    assert len(hidden) > 200  # C0/C1 controls, the format characters, U+2028/2029
    with duckdb.connect() as con:
        con.execute("create table c (ch varchar)").fetchall()
        con.executemany("insert into c values (?)", [(ch,) for ch in hidden])
        missed = con.execute("select ch from c where not regexp_matches(ch, ?)", [exports.MAYBE_HIDDEN]).fetchall()
        vietnamese = con.execute("select regexp_matches(?, ?)", ["Thừa Thiên Huế, Đà Nẵng",
                                                                   exports.MAYBE_HIDDEN]).fetchone()[0]
    assert missed == [] and vietnamese is False


def _python_csv(con, table: str) -> bytes:
    """What the exports wrote before DuckDB did: Python's csv module over text_cell of every value."""
    rel = con.table(table).order("all")
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([exports.text_cell(h) for h in rel.columns])
    writer.writerows([exports.text_cell(v) for v in row] for row in rel.fetchall())
    return out.getvalue().encode("utf-8-sig")


def test_every_csv_file_is_what_pythons_csv_module_writes_hostile_text_included(warehouse_copy):
    con = duckdb.connect(str(warehouse_copy.warehouse))
    con.execute("update marts.dim_publication set title = ? where publication_id = 'vcci-pci-2016'",
                [HOSTILE["title"]]).fetchall()
    for key, pub in (("formula", "vcci-pci-2015"), ("cr_lead", "vcci-pci-2014"), ("tab_lead", "vcci-pci-2013")):
        con.execute("update marts.fct_observations set note = ? where publication_id = ?", [HOSTILE[key], pub]).fetchall()
    con.close()
    result = exports.export_all(warehouse_copy)
    folder = exports.exports_dir(warehouse_copy)
    with duckdb.connect(str(warehouse_copy.warehouse), read_only=True) as con:
        names = exports.marts(con)
        assert result["marts"] == len(names) == MARTS
        for name in names:
            written = (folder / "csv" / f"{name}.csv").read_bytes()
            assert written == _python_csv(con, f"marts.{name}"), name
    text = (folder / "csv" / "dim_publication.csv").read_text(encoding="utf-8-sig")
    assert "SYNTHETIC \\u202efdp.exe\\u200b \\x1b[31m red \\u2028 next\\xad" in text, [
        line for line in text.splitlines() if "SYNTHETIC" in line]
    with open(folder / "csv" / "fct_observations.csv", encoding="utf-8-sig", newline="") as f:
        notes = {r["note"] for r in csv.DictReader(f) if r["publication_id"] in ("vcci-pci-2015", "vcci-pci-2014", "vcci-pci-2013")}
    assert notes == {"'" + HOSTILE["formula"], "\\x0dcarriage return first", "'" + HOSTILE["tab_lead"]}
    assert not list(folder.rglob("*.rows"))


def _workbook_children(staging: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"ingest.exports" in cmd and str(staging).encode() in cmd:
                found.append(int(proc.name))
    return found


@pytest.mark.slow
def test_the_workbook_process_dies_with_a_killed_export_and_the_next_export_succeeds(warehouse_copy):
    """kill -9 of `govwh export` while its second process writes the workbooks: that process goes
    too (it never writes into a folder the next export removes), and the next export is whole."""
    staging = exports.exports_dir(warehouse_copy).with_name("exports.incoming")
    env = data_env(warehouse_copy.data_dir)
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "export", "--xlsx-facts"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    children: list[int] = []
    while not children and time.monotonic() < deadline and proc.poll() is None:
        children = _workbook_children(staging)
        time.sleep(0.05)
    assert children, "the workbook process never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while _workbook_children(staging) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _workbook_children(staging) == []
    done = subprocess.run([sys.executable, "-m", "ingest", "export"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert not staging.exists()
    assert len(list((exports.exports_dir(warehouse_copy) / "csv").glob("*.csv"))) == MARTS
    assert (exports.exports_dir(warehouse_copy) / exports.XLSX_NAME).stat().st_size > 100_000


@pytest.mark.slow
@pytest.mark.parametrize("action, pattern", [
    ("enospc", r"^error: disk full while exporting the marts: no space left writing .*/exports/governance_marts\.xlsx;"),
    ("kill", r"^error: .*governance_marts\.xlsx failed: the process writing the workbooks ended with code -9"),
])
def test_a_failing_workbook_process_is_one_line_and_the_previous_exports_stay(warehouse_copy, action, pattern):
    """The second process fails as it closes the workbook (a full disk, or killed): the export ends
    with one line naming the workbook, and the exports written before are untouched."""
    import hashlib
    import re

    exports.export_all(warehouse_copy)
    folder = exports.exports_dir(warehouse_copy)
    before = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}
    env = {**data_env(warehouse_copy.data_dir), "GOVWH_FAILPOINT": f"export.workbooks:{action}"}
    proc = subprocess.run([sys.executable, "-m", "ingest", "export"], env=env, capture_output=True, text=True,
                          timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert re.search(pattern, lines[0]), lines[0]
    after = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}
    assert after == before and not folder.with_name("exports.incoming").exists()
