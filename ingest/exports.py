"""Exports of every mart from the serving warehouse, for people who do not query databases:

    <exports>/parquet/<mart>.parquet
    <exports>/csv/<mart>.csv          UTF-8 with a byte-order mark, so Excel shows Vietnamese right
    <exports>/governance_marts.xlsx   one sheet per mart, plus a sheet of sources (openpyxl)

Written to a temporary folder and swapped in whole, so a reader never sees half an export.

Text that a spreadsheet would run as a formula (a cell starting with =, +, -, @, a tab or a
carriage return, as OWASP's CSV-injection guidance lists) is neutralised with a leading
apostrophe in the CSV and XLSX files; numbers are written as numbers, untouched, and every
text cell of the XLSX is typed as text, so nothing in it can become a formula.
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

from .config import Settings
from .errors import PipelineError
from .fsutil import replace_dir

XLSX_NAME = "governance_marts.xlsx"
EXCEL_MAX_ROWS = 1_048_575
SAFE_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def exports_dir(settings: Settings) -> Path:
    return settings.data_dir / "exports"


def marts(con) -> list[str]:
    return [r[0] for r in con.execute("select table_name from information_schema.tables "
                                      "where table_schema = 'marts' order by table_name").fetchall()]


FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text cell a spreadsheet would evaluate gets a leading apostrophe; other values pass."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def _excel_value(value):
    if isinstance(value, (dt.datetime, dt.date, int, float, bool, Decimal)) or value is None:
        return value
    return neutralise(str(value))


def _xlsx_row(sheet, values) -> list:
    """Cells for a write-only sheet; text cells typed as text (openpyxl would read '=...' as a formula)."""
    from openpyxl.cell import WriteOnlyCell

    out = []
    for value in values:
        value = _excel_value(value)
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            out.append(cell)
        elif isinstance(value, Decimal):  # a figure as printed: a number shown with its printed decimals
            cell = WriteOnlyCell(sheet, value=value)
            places = max(-value.as_tuple().exponent, 0)
            cell.number_format = "0." + "0" * places if places else "0"
            out.append(cell)
        else:
            out.append(value)
    return out


def export_all(settings: Settings, progress=None) -> dict:
    """Export every mart; returns {'folder': path, 'marts': n, 'seconds': s}."""
    from openpyxl import Workbook

    started = time.perf_counter()
    target = exports_dir(settings)
    staging = target.with_name(target.name + ".incoming")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "parquet").mkdir(parents=True)
    (staging / "csv").mkdir()
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    book = Workbook(write_only=True)
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
            sheet = book.create_sheet(title=name[:31])
            sheet.append(header)
            for row in rows[:EXCEL_MAX_ROWS]:
                sheet.append(_xlsx_row(sheet, row))
        sources = book.create_sheet(title="sources")
        cur = con.execute("select publication_id, title, publisher, source_type, citation_url, licence "
                          "from marts.dim_publication order by source_priority, publication_id")
        sources.append([d[0] for d in cur.description])
        for row in cur.fetchall():
            sources.append(_xlsx_row(sources, row))
        book.save(staging / XLSX_NAME)
    finally:
        con.close()
    replace_dir(staging, target)
    return {"folder": str(target), "marts": len(names), "seconds": round(time.perf_counter() - started, 2)}
