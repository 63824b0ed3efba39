"""Every error the pipeline stops on, in one place, each with a one-line message for people.

The command line prints `error: <message>` (one line) on stderr and exits 1; the traceback
goes to the log file ($GOVWH_DATA_DIR/logs/govwh.log), never to the screen. A message names
the file, sheet/line and cause where there is one.

    PipelineError
    ├── ConfigError        an environment variable or setting is invalid
    ├── CatalogueError     the catalogue cannot be listed (a curated file's header, duplicate ids)
    ├── FetchError         a download failed (HTTP status, timeout, cap, deadline, allowlist)
    ├── CorruptRawFile     a landed raw file no longer matches its sha256
    ├── LayoutError        a file does not look the way its parser expects (file, sheet, row)
    │   └── UnknownUnitError
    ├── BuildFailed        dbt build failed (failing nodes named)
    ├── PublishRefused     the publish gate refused a build, or rollback refused a file
    ├── RunLocked          another run holds the data folder's lock
    ├── QueryRefused       `govwh sql` refused a statement (it is read-only)
    ├── MirrorError        the PostgreSQL mirror could not be written (a blocking reader named)
    └── StorageError       the disk is full, or a folder is read-only
"""
from __future__ import annotations

import errno


# The longest message an error shows, in characters: a longer one is cut and ends with "…" (the
# traceback in the log carries the same capped text). The longest messages written on purpose (a
# publisher file rejected again, with its URL and the way out: landing._rejected_again) run to
# about 650; anything far beyond is text quoted from a file, which must never fill a screen.
MAX_MESSAGE = 1000


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """Text as one line of at most `limit` characters: runs of whitespace (line ends included) become
    one space, and a longer text is cut, ending with "…". Only the start of a long text is looked at,
    so a message of hundreds of megabytes costs no more than a short one."""
    head = text[: limit * 4]
    words = " ".join(head.split())
    if len(words) <= limit and len(head) == len(text):
        return words
    return words[: limit - 1].rstrip() + "…"


class PipelineError(Exception):
    """Base class: something the nightly run must stop on, with a message for people."""

    def __str__(self) -> str:  # one line, always, and never longer than MAX_MESSAGE
        return one_line(super().__str__())


class ConfigError(PipelineError):
    pass


class CatalogueError(PipelineError):
    pass


class FetchError(PipelineError):
    def __init__(self, url: str, cause: str):
        self.url, self.cause = url, cause
        super().__init__(f"fetch failed for {url}: {cause}")


class CorruptRawFile(PipelineError):
    pass


class LayoutError(PipelineError):
    """A publication's file does not look the way its parser expects."""

    def __init__(self, file: str, cause: str, sheet: str | None = None, row: int | None = None):
        self.file, self.sheet, self.row, self.cause = file, sheet, row, cause
        where = file
        if sheet is not None:
            where += f", sheet {sheet!r}"
        if row is not None:
            where += f", line {row}" if sheet is None else f", row {row}"
        super().__init__(f"{where}: {cause}")


class UnknownUnitError(LayoutError):
    def __init__(self, file: str, name: str, candidates: list[str], sheet=None, row=None, year=None):
        self.name, self.candidates = name, candidates
        scope = f" in {year}" if year else ""
        cause = f"unknown unit name {name!r}{scope}; nearest candidates: " + (
            ", ".join(candidates) if candidates else "none"
        )
        super().__init__(file, cause, sheet=sheet, row=row)


class UnknownColumnsError(LayoutError):
    """Indicator columns of a new edition that the sub-indicator crosswalk does not know: one line
    naming them (a new or reworded question is never mapped silently), for `govwh crosswalk review`.
    `columns`: the unknown ones; `carried`: the others, each with the code it keeps (listed for the
    year, or the code of an identical (folded) header of an earlier year). Each is (sheet, column letter, header, occurrence, parent, code)."""

    SHOWN = 5

    def __init__(self, file: str, publication: str, indicator: str, year: int, columns: list[tuple],
                 carried: list[tuple]):
        self.publication, self.indicator, self.year = publication, indicator, year
        self.columns, self.carried = list(columns), list(carried)
        n = len(self.columns)
        if n:
            named = "; ".join(f"{sheet}!{col} {header[:80]!r} under {parent}"
                              for sheet, col, header, _occ, parent, _code in self.columns[: self.SHOWN])
            more = f"; and {n - self.SHOWN} more" if n > self.SHOWN else ""
            cause = (f"{n} indicator column{'s' if n > 1 else ''} the crosswalk does not know for {indicator} {year} "
                     f"(a new or reworded question): {named}{more}; review them with "
                     f"`govwh crosswalk review {publication}`")
        else:
            cause = f"every one of {len(self.carried)} indicator columns has a code (review mode)"
        super().__init__(file, cause)


class BuildFailed(PipelineError):
    pass


class PublishRefused(PipelineError):
    pass


class RunLocked(PipelineError):
    pass


class QueryRefused(PipelineError):
    pass


class MirrorError(PipelineError):
    pass


class StorageError(PipelineError):
    pass


def from_os_error(exc: OSError, doing: str = "", path=None) -> PipelineError:
    """An OSError as a one-line PipelineError: disk full and read-only folders say so."""
    where = exc.filename or (str(path) if path else "")
    context = f" while {doing}" if doing else ""
    if exc.errno == errno.ENOSPC:
        where = exc.filename2 or where  # a copy names its source first: the full disk is the target's
        return StorageError(f"disk full{context}: no space left writing {where}; free space and run again "
                            "(the serving warehouse was not touched)")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StorageError(f"cannot write {where}{context}: {exc.strerror} (is the data folder read-only? "
                            "set GOVWH_DATA_DIR to a writable folder)")
    return StorageError(f"{exc.strerror or type(exc).__name__}{context}: {where}".rstrip(": "))
