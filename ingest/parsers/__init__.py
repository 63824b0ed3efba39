"""One module per source format. Each exposes parse(path, pub, context) -> ParseResult.

A parser only reshapes one raw file into the tidy long table (ingest.tidy.TidyRow) and
checks it against guards: expected sheets and columns, unit counts, value ranges. Anything
unexpected raises LayoutError naming the file, sheet and row; nothing partial is returned.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from ..catalogue import Publication
from ..tidy import COLUMNS as TIDY_COLUMNS, DUCKDB_TYPES as TIDY_TYPES


@dataclass
class ParseContext:
    path: Path  # the landed raw file
    label: str  # how errors name the file (publication id and original file name)
    source_sha256: str  # hash of the publisher's original file
    source_file: str  # the original file's name


@dataclass
class ParseResult:
    """A parser's rows and the schema they are written with (the tidy table unless it says otherwise)."""

    rows: list
    warnings: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=lambda: list(TIDY_COLUMNS))
    types: dict[str, str] = field(default_factory=lambda: dict(TIDY_TYPES))


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
