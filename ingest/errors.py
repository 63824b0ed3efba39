"""Errors that name what went wrong and where, so an operator can act on one line."""
from __future__ import annotations


class PipelineError(Exception):
    """Base class: something the nightly run must stop on, with a message for people."""


class FetchError(PipelineError):
    def __init__(self, url: str, cause: str):
        self.url, self.cause = url, cause
        super().__init__(f"fetch failed for {url}: {cause}")


class LayoutError(PipelineError):
    """A publication's file does not look the way its parser expects."""

    def __init__(self, file: str, cause: str, sheet: str | None = None, row: int | None = None):
        self.file, self.sheet, self.row, self.cause = file, sheet, row, cause
        where = file
        if sheet is not None:
            where += f", sheet {sheet!r}"
        if row is not None:
            where += f", row {row}"
        super().__init__(f"{where}: {cause}")


class UnknownUnitError(LayoutError):
    def __init__(self, file: str, name: str, candidates: list[str], sheet=None, row=None, year=None):
        self.name, self.candidates = name, candidates
        scope = f" in {year}" if year else ""
        cause = f"unknown unit name {name!r}{scope}; nearest candidates: " + (
            ", ".join(candidates) if candidates else "none"
        )
        super().__init__(file, cause, sheet=sheet, row=row)
