"""`govwh sql`'s limits, run as a user runs it (a real process on a built warehouse): one deadline
covers running the query, fetching the rows and printing them; what prints is bounded (cells cut
at 300 characters, at most 1,000 rows), with a note line saying what was left out; a result too big
for memory is one line, not the kernel's OOM killer. And the one rule for invisible characters
(ingest/safetext.py): U+202E, U+200B and the like are shown escaped in `govwh sql`, the CSV and
XLSX exports and the HTML report, while Vietnamese letters stay intact. Values containing such
characters are SYNTHETIC: written into a private copy of the warehouse by the test."""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import duckdb
import pytest

from conftest import assert_one_line_error, govwh

RLO, ZWSP, LRI, PDI, LRM, BOM, LS = "\u202e", "\u200b", "\u2066", "\u2069", "\u200e", "\ufeff", "\u2028"
HIDDEN = (RLO, ZWSP, LRI, PDI, LRM, BOM, LS)
HUE_NFD = unicodedata.normalize("NFD", "Thừa Thiên Huế")  # Vietnamese with combining marks (category Mn)


def _data_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("│")]


# ------------------------------------------------------------------ one deadline, bounded printing
def test_a_ten_million_character_cell_prints_cut_and_within_the_limit(built_warehouse):
    started = time.monotonic()
    proc = govwh(built_warehouse, "sql", "select repeat('x', 10000000) as big, 'Thừa Thiên Huế' as name",
                 env={"GOVWH_SQL_TIMEOUT": "20"}, timeout=60)  # it ran 154 s before
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 20, elapsed
    assert proc.stdout.count("x") == 299 and "x…" in proc.stdout  # 299 characters and the mark: 300
    assert "Thừa Thiên Huế" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1] == "(1 cell cut to 300 characters, marked …)"
    assert proc.stderr == ""


def test_the_limit_stops_a_long_query_with_one_line(built_warehouse):
    started = time.monotonic()
    proc = govwh(built_warehouse, "sql", "select sum(i % 7) from range(10000000000) t(i) where i % 13 = 3",
                 env={"GOVWH_SQL_TIMEOUT": "2"}, timeout=30)
    assert_one_line_error(proc, r"^error: query stopped after 2 s \(the limit for govwh sql, from running the "
                                r"query to printing its result; GOVWH_SQL_TIMEOUT\)$")
    assert time.monotonic() - started < 15


def test_the_limit_covers_fetching_the_rows(built_warehouse):
    """DuckDB streams a result: the hashing happens while the rows are fetched, 2048 at a time."""
    started = time.monotonic()
    proc = govwh(built_warehouse, "sql", "select i, md5(repeat(i::varchar, 100000)) as h from range(1000000) t(i)",
                 env={"GOVWH_SQL_TIMEOUT": "2"}, timeout=60)
    assert_one_line_error(proc, r"^error: query stopped after 2 s ")
    assert proc.stdout == ""  # nothing half-printed
    assert time.monotonic() - started < 15


def test_the_deadline_holds_while_the_table_is_laid_out():
    """The layout runs in a worker thread joined with what is left of the deadline (the limits keep
    it short; this renderable is deliberately slow)."""
    from ingest.analyst import _render
    from ingest.errors import QueryRefused

    class Slow:
        def __rich_console__(self, console, options):
            time.sleep(3)
            yield "late"

    started = time.monotonic()
    with pytest.raises(QueryRefused, match=r"query stopped after 0.5 s"):
        _render([Slow()], time.monotonic() + 0.5, 0.5)
    assert time.monotonic() - started < 2
    assert _render(["on time"], time.monotonic() + 5, 5).strip() == "on time"


def test_rows_beyond_the_cap_are_counted_in_a_note(built_warehouse):
    proc = govwh(built_warehouse, "sql", "select i from range(5000) t(i)", "--limit", "2000")
    assert proc.returncode == 0, proc.stderr
    assert len(_data_lines(proc.stdout)) == 1000
    assert proc.stdout.rstrip().splitlines()[-1] == "(1,000 of 5,000 rows shown; govwh sql prints at most 1,000 rows)"
    proc = govwh(built_warehouse, "sql", "select i from range(5000) t(i)")
    assert len(_data_lines(proc.stdout)) == 50
    assert proc.stdout.rstrip().splitlines()[-1] == "(50 of 5,000 rows shown; --limit to see more)"
    proc = govwh(built_warehouse, "sql", "select i from range(250000) t(i)", "--limit", "3")
    assert proc.stdout.rstrip().splitlines()[-1] == "(3 of more than 100,000 rows shown; --limit to see more)"
    proc = govwh(built_warehouse, "sql", "select count(*) as n from marts.dim_province")
    assert proc.returncode == 0 and "87" in proc.stdout and "rows shown" not in proc.stdout  # nothing cut: no note


def test_wide_rows_print_within_the_cell_and_character_budget(built_warehouse):
    columns = ", ".join(f"repeat('y', 400) as c{j}" for j in range(100))
    started = time.monotonic()
    proc = govwh(built_warehouse, "sql", f"select {columns} from range(3000)", "--limit", "1000",
                 env={"GOVWH_SQL_TIMEOUT": "30"}, timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 30
    note = proc.stdout.rstrip().splitlines()[-1]
    # 100 cells of 300 characters a row: 10 rows fit the 300,000-character budget
    assert note == ("(10 of 3,000 rows shown; govwh sql prints at most 10,000 cells and 300,000 characters; "
                    "1,000 cells cut to 300 characters, marked …)"), note


def test_bad_settings_and_options_are_one_line(built_warehouse):
    for value in ("abc", "0", "-5", "nan", "1e9"):
        proc = govwh(built_warehouse, "sql", "select 1", env={"GOVWH_SQL_TIMEOUT": value})
        assert_one_line_error(proc, rf"^error: GOVWH_SQL_TIMEOUT={re.escape(repr(value))} is ")
    assert_one_line_error(govwh(built_warehouse, "sql", "select 1", "--limit", "-1"),
                          r"^error: --limit must be 0 or more, not -1$")


@pytest.mark.skipif(not shutil.which("prlimit") or not sys.platform.startswith("linux"),
                    reason="needs Linux and prlimit (util-linux)")
def test_a_result_too_big_for_memory_is_one_line(built_warehouse):
    """DuckDB's memory_limit does not bound a result's vectors: this asked for 24 GB and was killed
    by the kernel. `prlimit` is only a safety net for the machine running the tests (10 GB): govwh
    sql's own cap (6 GB beyond its size at start) is what must stop it, with its own message."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_")}
    env.update({"GOVWH_DATA_DIR": str(built_warehouse.data_dir), "GOVWH_WAREHOUSE": str(built_warehouse.warehouse)})
    proc = subprocess.run(["prlimit", f"--as={10 << 30}", sys.executable, "-m", "ingest", "sql",
                           "select repeat('x', 10000000) from range(100000)"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert_one_line_error(proc, r"^error: query failed: its result needs more memory than govwh sql allows \(6 GB")


# ------------------------------------------------------------------ the escaping rule, unit by unit
def test_the_rule_escapes_invisible_characters_and_keeps_vietnamese():
    from ingest.safetext import clip, escape

    assert escape(f"a{RLO}b{ZWSP}c") == "a\\u202eb\\u200bc"
    assert escape(f"{LRI}x{PDI}{LRM}{BOM}{LS}\u2029\x1b\x7f\x85\U000e0001") == \
        "\\u2066x\\u2069\\u200e\\ufeff\\u2028\\u2029\\x1b\\x7f\\x85\\U000e0001"
    assert escape("tab\tand\nnewline") == "tab\tand\nnewline"
    assert escape(HUE_NFD) == HUE_NFD and escape("Thừa Thiên Huế") == "Thừa Thiên Huế"
    assert escape("no\u00a0break space") == "no\u00a0break space"  # a space, not invisible
    # a cut never splits an escape, nor a letter from its combining marks
    for text in (HUE_NFD * 5, (RLO + "ab") * 30, "x" * 10 + BOM * 10):
        full = escape(text)
        for width in range(1, 60):
            shown, cut = clip(text, width)
            assert len(shown) <= width and cut == (len(full) > width)
            if cut:
                kept = shown[:-1]
                assert shown.endswith("…") and full.startswith(kept)
                k = next(k for k in range(len(text) + 1) if escape(text[:k]) == kept)
                assert not unicodedata.combining(text[k]), (text, width, shown)
            else:
                assert shown == full


# ------------------------------------------------------------------ ... and on every real path
def test_invisible_characters_are_escaped_in_sql_exports_and_report(warehouse_copy, tmp_path):
    from openpyxl import load_workbook

    from ingest.exports import XLSX_NAME, export_all, exports_dir
    from ingest.report import build_site

    settings = warehouse_copy
    title = f"SYNTHETIC {RLO}fdp.exe{ZWSP} {HUE_NFD} {LRI}x{PDI}"
    title_shown = f"SYNTHETIC \\u202efdp.exe\\u200b {HUE_NFD} \\u2066x\\u2069"
    unit = f"Đà Nẵng{RLO}{ZWSP}"
    con = duckdb.connect(str(settings.warehouse))
    con.execute("update marts.dim_publication set title = ? where publication_id = 'vcci-pci-2016'", [title])
    con.execute("update marts.fct_rankings set unit_name = ? where indicator_code = 'pci' and year = 2016 "
                "and component_code = 'overall' and unit_key = '48'", [unit])
    con.close()

    # govwh sql: the value and a column name holding the characters
    proc = govwh(settings, "sql", "select title as \"t" + RLO + "\" from marts.dim_publication "
                                  "where publication_id = 'vcci-pci-2016'")
    assert proc.returncode == 0, proc.stderr
    assert title_shown in proc.stdout and "t\\u202e" in proc.stdout
    assert not any(ch in proc.stdout for ch in HIDDEN)

    # the CSV and XLSX exports (the formula neutralisation still applies after escaping)
    export_all(settings)
    out = exports_dir(settings)
    raw = (out / "csv" / "dim_publication.csv").read_text(encoding="utf-8-sig")
    assert not any(ch in raw for ch in HIDDEN)
    with open(out / "csv" / "dim_publication.csv", encoding="utf-8-sig", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["publication_id"] == "vcci-pci-2016")
    assert row["title"] == title_shown
    book = load_workbook(out / XLSX_NAME, read_only=True)
    for sheet in ("dim_publication", "sources"):
        rows = list(book[sheet].iter_rows(values_only=True))
        header = rows[0]
        mine = [r for r in rows[1:] if r[header.index("publication_id")] == "vcci-pci-2016"]
        assert [r[header.index("title")] for r in mine] == [title_shown], sheet
    with open(out / "csv" / "fct_rankings.csv", encoding="utf-8-sig", newline="") as f:
        assert any(r["unit_name"] == "Đà Nẵng\\u202e\\u200b" for r in csv.DictReader(f))
    # the Parquet files keep the value as the warehouse holds it
    with duckdb.connect() as reader:
        (kept,) = reader.execute(f"select title from '{out / 'parquet' / 'dim_publication.parquet'}' "
                                 "where publication_id = 'vcci-pci-2016'").fetchone()
    assert kept == title

    # the HTML report: the page's text and the chart's JSON
    folder = Path(build_site(settings, out=tmp_path / "site")["folder"])
    for page in folder.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert not any(ch in html for ch in HIDDEN), page
    coverage = (folder / "coverage.html").read_text(encoding="utf-8")
    assert title_shown in coverage
    ranking = (folder / "ranking" / "pci-province-2016.html").read_text(encoding="utf-8")
    assert "Đà Nẵng\\u202e\\u200b</a>" in ranking  # the table's link text
    assert '"Đà Nẵng\\\\u202e\\\\u200b"' in ranking  # the chart's JSON: a backslash, then u202e
    assert "Hà Nội" in ranking and HUE_NFD not in ranking  # the rest untouched (the page has NFC names)


def test_a_url_with_an_invisible_character_is_not_a_link():
    from ingest.report import web_url

    assert web_url("https://example.invalid/a") == "https://example.invalid/a"
    assert web_url(f"https://example.invalid/{RLO}fdp.exe") is None
    assert web_url(f"https://exa{ZWSP}mple.invalid/") is None
    assert web_url("http://[::1/") is None  # urlparse raises on it: still no link, no crash


# ------------------------------------------------------------------ --format csv | json, for scripts
def test_sql_format_csv_and_json_write_whole_values_for_scripts(built_warehouse):
    """The same rows as the table, whole, on stdout (the note about more rows on stderr): codes stay
    text, numbers numbers; in CSV a formula-like cell is neutralised and hidden characters escaped as
    in the exports; in JSON every value is exact (SYNTHETIC text with U+202E round-trips)."""
    import json

    top = ("select province_code, province_name, score_2dp, rank from marts.mart_pci_provincial_ranking "
           "where year = 2016 order by rank, province_name")
    as_json = govwh(built_warehouse, "sql", top, "--format", "json", "--limit", "3")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert rows[0] == {"province_code": "48", "province_name": "Đà Nẵng", "score_2dp": 70.0, "rank": 1}
    assert len(rows) == 3 and as_json.stderr.strip() == "(3 of 63 rows written; --limit to write more)"
    as_csv = govwh(built_warehouse, "sql", top, "--format", "csv", "--limit", "63")
    assert as_csv.returncode == 0 and as_csv.stderr == "", as_csv.stderr
    table = list(csv.reader(as_csv.stdout.splitlines()))
    assert table[0] == ["province_code", "province_name", "score_2dp", "rank"] and len(table) == 64
    assert table[1] == ["48", "Đà Nẵng", "70.00", "1"]
    hostile = f"select '=HYPERLINK(1)' as formula, 'a{RLO}b' as hidden, '{HUE_NFD}' as hue"
    cells = list(csv.reader(govwh(built_warehouse, "sql", hostile, "--format", "csv").stdout.splitlines()))[1]
    assert cells == ["'=HYPERLINK(1)", "a\\u202eb", HUE_NFD]
    out = govwh(built_warehouse, "sql", hostile, "--format", "json").stdout
    assert RLO not in out and "\\u202e" in out
    assert json.loads(out) == [{"formula": "=HYPERLINK(1)", "hidden": f"a{RLO}b", "hue": HUE_NFD}]
    odd = govwh(built_warehouse, "sql", "select '00000000-0000-0000-0000-00000000002a'::uuid as u, 'nan'::double as n, interval 2 day as i, "
                                        "12345678901234567890.123456789::decimal(38, 9) as d", "--format", "json")
    assert odd.returncode == 0, odd.stderr
    (row,) = json.loads(odd.stdout)  # valid JSON: no NaN token, every value exact
    assert row == {"u": "00000000-0000-0000-0000-00000000002a", "n": "nan", "i": "2 days, 0:00:00", "d": "12345678901234567890.123456789"}
    assert_one_line_error(govwh(built_warehouse, "sql", "select 1 as k, 2 as k", "--format", "json"),
                          r"--format json needs distinct column names; 'k' appear more than once: name them with AS")
    assert_one_line_error(govwh(built_warehouse, "sql", top, "--format", "csv", "--limit", "100001"),
                          r"--limit with --format csv is at most 100,000 rows")
    assert_one_line_error(govwh(built_warehouse, "sql", "copy (select 1) to '/tmp/x.csv'", "--format", "csv"),
                          r"query refused: govwh sql is read-only")
