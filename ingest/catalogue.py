"""The source catalogue: one entry per publication the warehouse knows about.

An entry says what the publication is (indicator, level, years, publisher, licence), where
it comes from (origin URL), how to read it (format, parser and layout) and what to expect (number
of units per year), so that a changed source is caught by a guard, not by an analyst.

Nothing here names a year or a file: the publishers' files come from the families declared in
catalogue/<family>.yml, registered bundles from GOVWH_CATALOGUE_EXTRA, curated pages from their
headers, all read by ingest.declarations.
"""
from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from .config import BUNDLE_DIR, CATALOGUE_DIR, CURATED_DIR, Settings
from . import declarations
from .errors import CatalogueError

DECLARED = CATALOGUE_DIR  # catalogue/<family>.yml: the publication families (ingest.declarations)


@dataclass(frozen=True, kw_only=True)
class Publication:
    """What every source has: an id, a publisher, a citation, and a parser that reads it."""

    id: str
    publisher: str
    title: str
    licence: str
    format: str  # xls | xlsx | curated-csv
    parser: str  # module name in ingest.parsers
    source_type: str  # how far the figures are from the publisher (see seeds/source_types.csv)
    citation_url: str = ""  # the page to cite

    @property
    def cite(self) -> str:
        return self.citation_url

    @property
    def is_curated(self) -> bool:
        return False

    def source_url(self, settings: Settings) -> str:  # pragma: no cover - each type says where it comes from
        raise NotImplementedError

    def parser_for(self, settings: Settings) -> str:
        return self.parser


@dataclass(frozen=True, kw_only=True)
class PublisherFile(Publication):
    """A publisher's own data file (a VCCI or UNDP workbook): one indicator, known years and unit counts."""

    indicator: str
    level: str
    years: tuple[int, ...]
    origin_path: str  # path below origin_base (URL-encoded), also the path on a mirror
    original_relpath: str  # path inside ../shared/sources/originals
    expected_units: int  # units per year, unless units_per_year says otherwise
    units_per_year: tuple[tuple[int, int], ...] = ()
    source_type: str = "publisher_file"
    origin_base: str = ""
    # The component every unit of every year carries, which the unit-count guard counts (PAPI's
    # first dimension: the re-issued panel prints no total for 2018-2019).
    count_component: str = "overall"
    layout: dict = field(default_factory=dict, compare=False, hash=False)  # the parser's part of the declaration
    # Among publisher files printing the same figure, the lower number is preferred (a re-issue
    # over the file it replaces, a year's own file over a panel): see fct_indicator_scores.
    preference: int = 50

    @property
    def origin_url(self) -> str:
        return self.origin_base + self.origin_path

    @property
    def bundle_file(self):
        return BUNDLE_DIR / f"{self.id}.csv.gz"

    @property
    def year(self) -> int:
        return self.years[0]

    @property
    def cite(self) -> str:
        return self.citation_url or self.origin_url

    @property
    def parsed_folder(self) -> str:
        return self.indicator

    @property
    def original_name(self) -> str:
        return Path(self.original_relpath).name

    def units_in(self, year: int) -> int:
        """How many units the publication scores in a year (the unit-count guard)."""
        return dict(self.units_per_year).get(year, self.expected_units)

    def source_url(self, settings: Settings) -> str:
        """The URL the fetcher pulls for this run's source mode."""
        if settings.source_mode == "bundle":
            return self.bundle_file.resolve().as_uri()
        if settings.source_mode == "mirror":
            return settings.mirror.rstrip("/") + "/" + self.origin_path
        return self.origin_url

    def parser_for(self, settings: Settings) -> str:
        return "tidy_bundle" if settings.source_mode == "bundle" else self.parser


@dataclass(frozen=True, kw_only=True)
class LocalBundle(PublisherFile):
    """A publication registered by the operator in GOVWH_CATALOGUE_EXTRA: a tidy bundle (the tidy
    table as gzipped CSV) in a local folder, fetched and landed from there whatever the source
    mode and read by the tidy_bundle parser with all its guards (e.g. the scale harness's
    synthetic publication)."""

    local_file: Path
    format: str = "tidy-csv-gz"
    parser: str = "tidy_bundle"
    origin_path: str = ""
    original_relpath: str = ""

    @property
    def bundle_file(self):
        return self.local_file

    @property
    def original_name(self) -> str:
        return self.local_file.name

    @property
    def cite(self) -> str:
        return self.citation_url

    def source_url(self, settings: Settings) -> str:
        return self.local_file.resolve().as_uri()

    def parser_for(self, settings: Settings) -> str:
        return self.parser


_FIELDS = {"id", "indicator", "level", "years", "file", "expected_units", "units_per_year", "preference",
           "publisher", "title", "licence", "citation_url"}


def extra(path: Path | None, files: tuple[PublisherFile, ...] | None = None) -> list[LocalBundle]:
    """The publications registered in GOVWH_CATALOGUE_EXTRA (a JSON file), every field validated:

        {"publications": [{"id": "...", "indicator": "...", "level": "province", "years": [2005, ...],
          "publisher": "...", "title": "...", "licence": "...", "citation_url": "...",
          "file": "<name>.csv.gz" (beside the JSON file), "expected_units": 63,
          "units_per_year": {"2024": 60} (optional), "preference": 50 (optional)}]}

    The folder the variable names (the JSON file's folder, its own links resolved) bounds every file
    the registration reads: the JSON file and each bundle must be regular files inside it. A
    symbolic link is followed only while it stays inside (e.g. the `..data` links of a mounted
    Kubernetes ConfigMap); a link that leads out of the folder (`x.csv.gz -> /etc/passwd`), a named
    pipe, a directory or a device is refused, naming the file and why, before anything is fetched.
    A JSON file that is itself a link out of its folder is refused too: its bundles would otherwise
    be looked for in a folder the operator did not name. Errors never quote a file's content.
    """
    if path is None:
        return []
    where = f"GOVWH_CATALOGUE_EXTRA={str(path)!r}"
    path = Path(path)
    folder = path.parent.resolve()
    problem = local_file_problem(folder, path.name)
    if problem:
        raise CatalogueError(f"{where}: {problem}; the registration must be a regular file in the folder named")
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise CatalogueError(f"{where}: cannot read it ({exc.strerror or type(exc).__name__})") from exc
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{where}: cannot read it as JSON (not UTF-8 at byte {exc.start:,})") from exc
    except json.JSONDecodeError as exc:  # its message says where (line, column), never what
        raise CatalogueError(f"{where}: cannot read it as JSON ({exc.msg} at line {exc.lineno}, "
                             f"column {exc.colno})") from exc
    except ValueError as exc:
        raise CatalogueError(f"{where}: cannot read it as JSON ({type(exc).__name__})") from exc
    entries = doc.get("publications") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{where}: expected {{\"publications\": [...]}} with at least one entry")
    pubs = [_local_bundle(e, i, path, folder, where) for i, e in enumerate(entries, start=1)]
    ids = [p.id for p in pubs]
    dup = sorted({i for i in ids if ids.count(i) > 1} | {i for i in ids if i in {c.id for c in (files or CATALOGUE)}})
    if dup:
        raise CatalogueError(f"{where}: publication id {dup[0]!r} is already taken")
    return pubs


def local_file_problem(folder: Path, name: str) -> str | None:
    """Why folder/name is not a regular file inside folder (a resolved path), or None if it is.

    Every link on the way is followed (Path.resolve); the file it leads to must lie inside folder
    and be a regular file: not a directory, named pipe (opening one would wait for a writer),
    socket or device. The answer names the file and, for a link, where it leads; never its content."""
    link = folder / name
    try:
        target = link.resolve(strict=True)
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        dangling = os.path.lexists(link)
        return f"file {name!r} " + ("is a symbolic link to a file that does not exist" if dangling
                                    else f"does not exist in {folder}")
    except (OSError, RuntimeError) as exc:  # a loop of links, a folder that cannot be searched
        return f"file {name!r} cannot be resolved ({getattr(exc, 'strerror', None) or type(exc).__name__})"
    if not target.is_relative_to(folder):
        return f"file {name!r} is a symbolic link to {target}, outside {folder}"
    if not stat.S_ISREG(mode):
        kind = ("a directory" if stat.S_ISDIR(mode) else "a named pipe (fifo)" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "not a regular file")
        return f"file {name!r} is {kind}, not a regular file"
    return None


def _local_bundle(e, i: int, path: Path, folder: Path, where: str) -> LocalBundle:
    """One registered bundle, by the rules every declaration follows (declarations.Fields)."""
    f = declarations.Fields(f"{where}: publication {i}")
    if not isinstance(e, dict):
        raise f.error("is not an object")
    f.unknown(e, _FIELDS)
    pub_id = f.publication_id(e)
    indicator = f.indicator(e)
    if e.get("level") != "province":
        raise f.error("level must be 'province' (the unit names are resolved against the provinces' registry)")
    years = e.get("years")
    if not isinstance(years, list) or not years:
        raise f.error("years must be a list of years")
    years = sorted({f.year(y, "years") for y in years})
    publisher, title, licence = f.text(e, "publisher"), f.text(e, "title"), f.text(e, "licence")
    citation = f.url(e, "citation_url")
    units = f.whole(e, "expected_units", 1, 1_000_000)
    per_year = e.get("units_per_year", {})
    if not isinstance(per_year, dict) or not all(
            k.isdigit() and int(k) in years and type(v) is int and 0 <= v <= units for k, v in per_year.items()):
        raise f.error("units_per_year must map years of the publication to whole numbers up to expected_units")
    preference = f.whole(e, "preference", 0, 100, default=50)
    name = e.get("file")
    if not isinstance(name, str) or not name.endswith(".csv.gz") or Path(name).name != name:
        raise f.error(f"file must name a .csv.gz file beside {path.name} (not a path)")
    problem = local_file_problem(folder, name)
    if problem:
        raise f.error(f"{problem}; a registered bundle must be a regular file in the folder of {path.name}")
    return LocalBundle(
        id=pub_id, indicator=indicator, level="province", years=tuple(years),
        publisher=publisher, title=title, licence=licence, citation_url=citation,
        source_type="publisher_file", local_file=folder / name, expected_units=units,
        units_per_year=tuple(sorted((int(k), v) for k, v in per_year.items())), preference=preference,
    )


@dataclass(frozen=True, kw_only=True)
class CuratedPage(Publication):
    """A public page's figures transcribed into data/curated/<file>.csv: its rows carry their own
    indicators, levels and years, so the page itself has none."""

    local_file: Path  # fetched from here, whatever the source mode
    format: str = "curated-csv"
    parser: str = "curated"

    @property
    def is_curated(self) -> bool:
        return True

    @property
    def parsed_folder(self) -> str:
        return "curated"

    @property
    def original_name(self) -> str:
        return self.local_file.name

    def source_url(self, settings: Settings) -> str:
        return self.local_file.resolve().as_uri()


def _signature(folder: Path) -> tuple:
    """What the declarations' files are now (name, size, change time): an edit is read at once."""
    try:
        return tuple(sorted((p.name, st.st_size, st.st_mtime_ns) for p in Path(folder).glob("*.yml")
                            for st in [p.stat()]))
    except OSError:
        return ()


@lru_cache(maxsize=8)
def _families(folder: Path, signature: tuple) -> tuple[declarations.Family, ...]:
    return declarations.load_folder(Path(folder))


def families(folder: Path = CATALOGUE_DIR) -> tuple[declarations.Family, ...]:
    """The publication families declared in folder (catalogue/<family>.yml)."""
    return _families(Path(folder), _signature(folder))


@lru_cache(maxsize=8)
def _declared(folder: Path, signature: tuple) -> tuple[PublisherFile, ...]:
    return tuple(PublisherFile(**spec) for fam in _families(folder, signature) for spec in fam.files)


def declared(folder: Path = CATALOGUE_DIR) -> tuple[PublisherFile, ...]:
    """The publishers' files the families in folder declare, in order of family and year."""
    return _declared(Path(folder), _signature(folder))


def family(indicator: str, folder: Path = CATALOGUE_DIR) -> declarations.Family:
    for fam in families(folder):
        if fam.indicator == indicator:
            return fam
    raise CatalogueError(f"no publication family of indicator {indicator!r} declared in {folder}")


def origin_bases(settings: Settings | None = None) -> tuple[str, ...]:
    """Every origin the declarations name (what the fetcher may contact in live mode)."""
    folder = settings.catalogue_dir if settings is not None else CATALOGUE_DIR
    pages = (urlparse(w.page.replace("{year}", "2020")) for fam in families(folder) for w in fam.watch)
    return tuple(dict.fromkeys([*(b for fam in families(folder) for b in fam.origin_bases),
                                *(f"{u.scheme}://{u.netloc}/" for u in pages)]))


CATALOGUE: tuple[PublisherFile, ...] = declared()  # the repository's declarations (tests, bundle, scripts)


CURATED_LICENCE = "Figures quoted from a public page, with its citation; cite the page and its publisher."


def curated(folder: Path = CURATED_DIR, taken: dict[str, str] | None = None,
            files: tuple[PublisherFile, ...] | None = None) -> list[CuratedPage]:
    """One publication per curated intake file (data/curated/*.csv), described by its header.
    `taken`: ids already used by registered bundles, each with what registered it; `files`: the
    declared publisher files (default: the repository's)."""
    from .declarations import read_header, read_text

    pubs = []
    first_file: dict[str, Path] = {}
    for path in sorted(Path(folder).glob("*.csv")):
        header, _ = read_header(read_text(path, path.name), path.name)
        if header["publication"] in first_file:
            raise CatalogueError(f"curated files {first_file[header['publication']].name} and {path.name} (in {folder}) "
                                 f"share publication id {header['publication']!r}; give each page its own id")
        first_file[header["publication"]] = path
        pubs.append(CuratedPage(
            id=header["publication"], publisher=header["publisher"], title=header["title"], licence=CURATED_LICENCE,
            local_file=path, source_type=header["source_type"], citation_url=header["source_url"],
        ))
    owners = {c.id: f"the publisher file {c.original_name} in the catalogue" for c in (files or CATALOGUE)}
    owners.update(taken or {})
    clash = [p for p in pubs if p.id in owners]
    if clash:
        raise CatalogueError(f"curated file {clash[0].local_file.name} (in {folder}) uses the publication id "
                             f"{clash[0].id!r} of {owners[clash[0].id]}; give the page its own id")
    return pubs


def publications(settings: Settings | None = None) -> list[Publication]:
    """The catalogue's publisher files, the operator's registered ones, then the curated pages."""
    folder = settings.curated_dir if settings is not None else CURATED_DIR
    files = declared(settings.catalogue_dir) if settings is not None else CATALOGUE
    if settings is not None:  # editions the nightly watch took in that no declaration holds yet
        from .watch import found_files

        files = tuple(files) + tuple(PublisherFile(**spec) for spec in found_files(settings))
    local = extra(settings.catalogue_extra, files) if settings is not None else []
    taken = {p.id: f"the bundle {p.local_file.name} registered in {settings.catalogue_extra}" for p in local}
    return list(files) + local + curated(folder, taken, files)


def get(publication_id: str, settings: Settings | None = None) -> Publication:
    for pub in publications(settings):
        if pub.id == publication_id:
            return pub
    raise CatalogueError(f"no publication {publication_id!r} in the catalogue")


def select(ids: list[str] | None = None, settings: Settings | None = None) -> list[Publication]:
    pubs = publications(settings)
    if not ids:
        return pubs
    by_id = {p.id: p for p in pubs}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise CatalogueError(f"no publication {missing} in the catalogue")
    return [by_id[i] for i in ids]
