"""Read worksheets of .xls (xlrd) and .xlsx (openpyxl) files as plain lists of rows.

Both libraries are the reference readers for their formats. A file that cannot be opened
(truncated, not a workbook) raises LayoutError naming the file; a missing sheet names the
sheets that are there.
"""
from __future__ import annotations

import unicodedata
import warnings
import zipfile
from pathlib import Path

from .errors import LayoutError


# A workbook whose parts unpack to more than this, or at a ratio above MAX_RATIO, is refused
# before a reader expands it (a zip bomb). The largest original (PAPI) unpacks to ~20 MB.
MAX_UNPACKED = 400 * 1024 * 1024
MAX_RATIO = 200


def _clean(value):
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value.strip())  # publishers' files mix NFD and NFC
        return value or None
    return value


def check_zip(path: Path, label: str) -> None:
    """Refuse an .xlsx whose declared unpacked size or compression ratio is implausible."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise LayoutError(label, f"cannot open workbook ({type(exc).__name__}: {exc}); "
                                 "is the file truncated or not a workbook?") from exc
    unpacked = sum(i.file_size for i in infos)
    packed = max(sum(i.compress_size for i in infos), 1)
    if unpacked > MAX_UNPACKED or unpacked / packed > MAX_RATIO:
        raise LayoutError(label, f"refused: the workbook's {len(infos)} parts unpack to {unpacked:,} bytes from "
                                 f"{packed:,} (ratio {unpacked / packed:.0f}), beyond the limits of "
                                 f"{MAX_UNPACKED:,} bytes and ratio {MAX_RATIO} (a zip bomb?)")


class Workbook:
    def __init__(self, path: Path, label: str | None = None):
        self.path = Path(path)
        self.label = label or self.path.name
        self._rows: dict[str, list[list]] = {}
        try:
            if self._is_xls():
                import xlrd

                book = xlrd.open_workbook(str(self.path), on_demand=True)
                self._xls = book
                self.sheet_names = book.sheet_names()
            else:
                import openpyxl

                check_zip(self.path, self.label)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
                self._xlsx = book
                self.sheet_names = list(book.sheetnames)
        except LayoutError:
            raise
        except Exception as exc:  # xlrd, openpyxl and zipfile each raise their own types
            raise LayoutError(self.label, f"cannot open workbook ({type(exc).__name__}: {exc}); "
                                          "is the file truncated or not a workbook?") from exc

    def _is_xls(self) -> bool:
        with open(self.path, "rb") as f:
            return f.read(8) == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2 compound file

    def find_sheet(self, candidates: tuple[str, ...]) -> str:
        from .names import fold

        by_key = {fold(n): n for n in self.sheet_names}
        for cand in candidates:
            if fold(cand) in by_key:
                return by_key[fold(cand)]
        raise LayoutError(self.label, f"none of the expected sheets {list(candidates)} is present; "
                                      f"sheets found: {self.sheet_names}")

    def rows(self, sheet: str) -> list[list]:
        if sheet not in self._rows:
            try:
                if hasattr(self, "_xls"):
                    s = self._xls.sheet_by_name(sheet)
                    rows = [[_clean(v) for v in s.row_values(r)] for r in range(s.nrows)]
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        rows = [[_clean(v) for v in row]
                                for row in self._xlsx[sheet].iter_rows(values_only=True)]
            except Exception as exc:
                raise LayoutError(self.label, f"cannot read sheet ({type(exc).__name__}: {exc})",
                                  sheet=sheet) from exc
            width = max((len(r) for r in rows), default=0)
            self._rows[sheet] = [r + [None] * (width - len(r)) for r in rows]
        return self._rows[sheet]

    def close(self) -> None:
        if hasattr(self, "_xls"):
            self._xls.release_resources()
        if hasattr(self, "_xlsx"):
            self._xlsx.close()


def col_letter(index: int) -> str:
    """0-based column index -> Excel letters."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
