"""One module per source format. Each exposes parse(path, pub, context) -> ParseResult.

A parser only reshapes one raw file into the tidy long table (ingest.tidy.TidyRow) and
checks it against guards: expected sheets and columns, unit counts, value ranges. Anything
unexpected raises LayoutError naming the file, sheet and row; nothing partial is returned.

Most parsers return Python rows (a workbook is thousands of cells). A parser of a large file
may instead hand back a table it holds in DuckDB (tidy_bundle: millions of rows at scale),
which the pipeline writes to Parquet the same way: see ParseResult.table.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..catalogue import Publication
from ..config import SEEDS_DIR
from ..tidy import COLUMNS as TIDY_COLUMNS, DUCKDB_TYPES as TIDY_TYPES, write_parquet


@dataclass
class ParseContext:
    path: Path  # the landed raw file
    label: str  # how errors name the file (publication id and original file name)
    source_sha256: str  # hash of the publisher's original file
    source_file: str  # the original file's name
    seeds_dir: Path = SEEDS_DIR  # the registry of unit names (the dbt project's seeds)
    scratch_dir: Path | None = None  # where a parser may spill to disk (removed after the parse); None: TMPDIR
    review: bool = False  # `govwh crosswalk review`: stop with every indicator column's mapping, known or not


@dataclass
class ParseResult:
    """A parser's rows and the schema they are written with (the tidy table unless it says otherwise),
    or, instead of rows, a checked table held in DuckDB that writes itself (see TableResult)."""

    rows: list
    warnings: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=lambda: list(TIDY_COLUMNS))
    types: dict[str, str] = field(default_factory=lambda: dict(TIDY_TYPES))
    table: "TableResult | None" = None

    @property
    def count(self) -> int:
        return self.table.count if self.table is not None else len(self.rows)

    def write(self, path: Path, landed_sha256: str) -> None:
        """parsed/<folder>/<id>.parquet, atomically; the landed file's hash on every row."""
        if self.table is not None:
            self.table.write(path, landed_sha256)
        else:
            write_parquet(self.rows, path, landed_sha256, self.columns, self.types)


class TableResult:
    """Rows a parser checked in DuckDB: the connection, and a SELECT of the tidy columns in order."""

    def __init__(self, con, select_sql: str, count: int):
        self.con, self.select_sql, self.count = con, select_sql, count

    def write(self, path: Path, landed_sha256: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = str(path) + ".tmp"
        try:
            # the SQL is the parser's own text; the hash and paths are bound parameters
            self.con.execute(f"COPY (SELECT *, ?::VARCHAR AS landed_sha256 FROM ({self.select_sql})) "
                             "TO ? (FORMAT parquet)", [landed_sha256, tmp])
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
            self.con.close()


def get_parser(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def parse(name: str, pub: Publication, ctx: ParseContext) -> ParseResult:
    """Run one parser; anything it did not foresee still ends as a LayoutError naming the file."""
    from ..errors import LayoutError, PipelineError

    try:
        return get_parser(name).parse(pub, ctx)
    except PipelineError:
        raise
    except MemoryError as exc:
        raise LayoutError(ctx.label, "the file needs more memory than this machine has to read "
                                     "(a decompression bomb?); nothing of it was loaded") from exc
    except Exception as exc:
        raise LayoutError(ctx.label, f"unexpected layout: the {name} parser failed with "
                                     f"{type(exc).__name__}: {exc}; nothing of it was loaded") from exc
