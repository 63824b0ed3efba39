"""Exports of every mart from the serving warehouse, for people who do not query databases:

    <exports>/parquet/<table>.parquet  every table of the marts schema
    <exports>/csv/<table>.csv          every table; UTF-8 with a byte-order mark, so Excel shows Vietnamese right
    <exports>/governance_marts.xlsx    one sheet per dimension and mart, plus a sheet of sources
    <exports>/governance_facts.xlsx    the four large fact tables (fct_*, about 4 million cells), only on
                                       request (`govwh export --xlsx-facts`, DAG param `xlsx_facts`)

The workbooks are written by XlsxWriter in its constant-memory mode (about 250,000 cells a
second here, 2.5x openpyxl); the fact tables stay out of the default workbook because writing
them took 40 s of every night for a file few open, while their CSV takes 2 s.
Written to a temporary folder and swapped in whole, so a reader never sees half an export.

Text that a spreadsheet would run as a formula (a cell starting with =, +, -, @, a tab or a
carriage return, as OWASP's CSV-injection guidance lists) is neutralised with a leading
apostrophe in the CSV and XLSX files; numbers are written as numbers, untouched, and every
text cell of the XLSX is written as a string (`write_string`), so nothing in it can become a formula.
"""
from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
import re
import shutil
import time
from pathlib import Path

import duckdb

from .config import Settings, tune
from .errors import PipelineError
from .fsutil import replace_dir

XLSX_NAME = "governance_marts.xlsx"
FACTS_XLSX_NAME = "governance_facts.xlsx"
FACT_PREFIX = "fct_"  # the large fact tables: Parquet and CSV always, XLSX on request
EXCEL_MAX_ROWS = 1_048_575
SAFE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def exports_dir(settings: Settings) -> Path:
    return settings.data_dir / "exports"


def marts(con) -> list[str]:
    return [r[0] for r in con.execute("select table_name from information_schema.tables "
                                      "where table_schema = 'marts' order by table_name").fetchall()]


def neutralise(value):
    """A text cell a spreadsheet would evaluate gets a leading apostrophe; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


class _Workbook:
    """An XlsxWriter workbook in which every text cell is a string and every number a number."""

    def __init__(self, path: Path):
        import xlsxwriter

        self.book = xlsxwriter.Workbook(str(path), {
            "constant_memory": True,  # rows are flushed as written: memory stays flat
            "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
            "nan_inf_to_errors": True,
        })
        self.date = self.book.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.header = self.book.add_format({"bold": True})
        self._decimals: dict[int, object] = {}

    def decimal_format(self, places: int):
        """A figure as printed keeps its printed decimals (70.10 shows as 70.10)."""
        if places not in self._decimals:
            self._decimals[places] = self.book.add_format({"num_format": "0." + "0" * places if places else "0"})
        return self._decimals[places]

    def sheet(self, title: str, header: list[str], rows) -> None:
        ws = self.book.add_worksheet(title[:31])
        for j, name in enumerate(header):
            ws.write_string(0, j, name, self.header)
        ws.freeze_panes(1, 0)
        for i, row in enumerate(rows, start=1):
            if i > EXCEL_MAX_ROWS:
                break
            for j, value in enumerate(row):
                self.cell(ws, i, j, value)

    def cell(self, ws, i: int, j: int, value) -> None:
        if value is None:
            return
        if isinstance(value, bool):
            ws.write_boolean(i, j, value)
        elif isinstance(value, (int, float)):
            ws.write_number(i, j, value)
        elif isinstance(value, Decimal):
            ws.write_number(i, j, float(value), self.decimal_format(max(-value.as_tuple().exponent, 0)))
        elif isinstance(value, dt.datetime):  # Excel has no time zones: UTC, as the warehouse stores them
            if value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            ws.write_datetime(i, j, value, self.datetime)
        elif isinstance(value, dt.date):
            ws.write_datetime(i, j, dt.datetime(value.year, value.month, value.day), self.date)
        else:
            ws.write_string(i, j, neutralise(str(value)))

    def close(self) -> None:
        self.book.close()


def export_all(settings: Settings, progress=None, xlsx_facts: bool = False) -> dict:
    """Export every mart; returns {'folder': path, 'marts': n, 'workbooks': [...], 'seconds': s}."""
    started = time.perf_counter()
    target = exports_dir(settings)
    staging = target.with_name(target.name + ".incoming")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "parquet").mkdir(parents=True)
    (staging / "csv").mkdir()
    con = tune(duckdb.connect(str(settings.warehouse), read_only=True))
    book = _Workbook(staging / XLSX_NAME)
    facts = _Workbook(staging / FACTS_XLSX_NAME) if xlsx_facts else None
    try:
        names = marts(con)
        for i, name in enumerate(names, start=1):
            if progress:
                progress(i, len(names), name)
            if not SAFE_NAME.fullmatch(name):
                raise PipelineError(f"refusing to export table marts.{name!r}: not a plain table name")
            rel = con.table(f"marts.{name}").order("all")
            rel.write_parquet(str(staging / "parquet" / f"{name}.parquet"))
            header = rel.columns
            rows = rel.fetchall()
            with open(staging / "csv" / f"{name}.csv", "w", encoding="utf-8-sig", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(header)
                writer.writerows([neutralise(v) for v in row] for row in rows)
            if not name.startswith(FACT_PREFIX):
                book.sheet(name, header, rows)
            elif facts:
                facts.sheet(name, header, rows)
        cur = con.execute("select publication_id, title, publisher, source_type, citation_url, licence "
                          "from marts.dim_publication order by source_priority, publication_id")
        book.sheet("sources", [d[0] for d in cur.description], cur.fetchall())
    finally:
        con.close()
        book.close()
        if facts:
            facts.close()
    replace_dir(staging, target)
    workbooks = [XLSX_NAME] + ([FACTS_XLSX_NAME] if facts else [])
    return {"folder": str(target), "marts": len(names), "workbooks": workbooks,
            "seconds": round(time.perf_counter() - started, 2)}
