"""The source catalogue: one entry per publication the warehouse knows about.

An entry says what the publication is (indicator, level, years, publisher, licence), where
it comes from (origin URL), how to read it (format and parser) and what to expect (number
of units per year), so that a changed source is caught by a guard, not by an analyst.
"""
from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .config import BUNDLE_DIR, CURATED_DIR, Settings
from .errors import CatalogueError

# The VCCI and UNDP workbooks are re-hosted unchanged in the MIT-licensed R package
# mdtrinh/vietnamdata, pinned here to one commit so the bytes never move under us.
ORIGIN_HOST = "raw.githubusercontent.com"
ORIGIN_BASE = (
    "https://raw.githubusercontent.com/mdtrinh/vietnamdata/"
    "be581b8d5b1f0c6a747199fe23d8a77e55396e17/"
)

# The 2017-2019 workbooks and the PAPI files other than the 2011-2016 panel are re-hosted
# unchanged in mdtrinh/vietnam_elections (no licence stated: the data are the publishers').
ORIGIN_BASE_2 = (
    "https://raw.githubusercontent.com/mdtrinh/vietnam_elections/"
    "84348767096a193634f9d4fb6c4116dbf4789a05/"
)

VCCI = "VCCI (Vietnam Chamber of Commerce and Industry) with USAID, pcivietnam.vn"
UNDP = "UNDP Viet Nam with CECODES and VFF-CRT, papi.org.vn"
REHOST_LICENCE_2 = (
    "Publisher's data release; re-hosted unchanged in mdtrinh/vietnam_elections (no licence stated). "
    "Cite the publisher."
)
REHOST_LICENCE = (
    "Publisher's data release; re-hosted unchanged in mdtrinh/vietnamdata (MIT). "
    "Cite the publisher."
)

DECLARATION = Path(__file__).with_name("publishers.yml")


def declared() -> dict:
    """The declaration of the publishers' files (ingest/publishers.yml): years and layouts."""
    import yaml

    return yaml.safe_load(DECLARATION.read_text(encoding="utf-8"))


def year_span(pair) -> tuple[int, ...]:
    """[first, last] in the declaration -> every year from first to last."""
    first, last = (int(y) for y in pair)
    return tuple(range(first, last + 1))


_DECLARED = declared()
PCI = _DECLARED["vcci-pci"]
PAPI_YEARS = {pid: year_span(span) for pid, span in _DECLARED["undp-papi"].items()}
# Provinces surveyed per PCI year: 42 in 2005, 64 until Hà Tây merged into Hà Nội (2008), then 63.
PCI_UNITS = {int(y): int(n) for y, n in PCI["units"].items()}


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
    expected_units: int  # units per year
    source_type: str = "publisher_file"
    origin_base: str = ORIGIN_BASE
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
        return self.expected_units

    @property
    def count_component(self) -> str:
        """The component every unit of every year carries (the unit-count guard counts it): PAPI's
        first dimension, as the re-issued panel prints no total for 2018-2019."""
        return "d1_participation" if self.indicator == "papi" else "overall"

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
    units_per_year: tuple[tuple[int, int], ...] = ()
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

    def units_in(self, year: int) -> int:
        return dict(self.units_per_year).get(year, self.expected_units)

    def source_url(self, settings: Settings) -> str:
        return self.local_file.resolve().as_uri()

    def parser_for(self, settings: Settings) -> str:
        return self.parser


_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
_INDICATOR = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
_TEXT_FIELDS = {"publisher": True, "title": True, "licence": True, "citation_url": False}
_FIELDS = {"id", "indicator", "level", "years", "file", "expected_units", "units_per_year", "preference",
           *_TEXT_FIELDS}


def extra(path: Path | None) -> list[LocalBundle]:
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
    dup = sorted({i for i in ids if ids.count(i) > 1} | {i for i in ids if i in {c.id for c in CATALOGUE}})
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
    def bad(why: str) -> CatalogueError:
        return CatalogueError(f"{where}: publication {i}: {why}")

    if not isinstance(e, dict):
        raise bad("is not an object")
    unknown = sorted(set(e) - _FIELDS)
    if unknown:
        raise bad(f"unknown field {unknown[0]!r}")
    if not isinstance(e.get("id"), str) or not _ID.match(e["id"]):
        raise bad("id must be 3-64 lower-case letters, digits and '-'")
    if not isinstance(e.get("indicator"), str) or not _INDICATOR.match(e["indicator"]):
        raise bad("indicator must be a code of lower-case letters, digits and '_'")
    if e.get("level") != "province":
        raise bad("level must be 'province' (the unit names are resolved against the provinces' registry)")
    years = e.get("years")
    if not isinstance(years, list) or not years or not all(type(y) is int and 1990 <= y <= 2100 for y in years):
        raise bad("years must be a list of years 1990..2100")
    for name, required in _TEXT_FIELDS.items():
        value = e.get(name, "")
        if not isinstance(value, str) or len(value) > 500 or (required and not value.strip()) \
                or any(ord(ch) < 32 for ch in value):
            raise bad(f"{name} must be a single line of text" + (" (required)" if required else ""))
    units = e.get("expected_units")
    if type(units) is not int or not 1 <= units <= 1_000_000:
        raise bad("expected_units must be a whole number 1..1000000")
    per_year = e.get("units_per_year", {})
    if not isinstance(per_year, dict) or not all(
            k.isdigit() and int(k) in years and type(v) is int and 0 <= v <= units for k, v in per_year.items()):
        raise bad("units_per_year must map years of the publication to whole numbers up to expected_units")
    preference = e.get("preference", 50)
    if type(preference) is not int or not 0 <= preference <= 100:
        raise bad("preference must be a whole number 0..100")
    name = e.get("file")
    if not isinstance(name, str) or not name.endswith(".csv.gz") or Path(name).name != name:
        raise bad(f"file must name a .csv.gz file beside {path.name} (not a path)")
    problem = local_file_problem(folder, name)
    if problem:
        raise bad(f"{problem}; a registered bundle must be a regular file in the folder of {path.name}")
    return LocalBundle(
        id=e["id"], indicator=e["indicator"], level="province", years=tuple(sorted(set(years))),
        publisher=e["publisher"], title=e["title"], licence=e["licence"], citation_url=e.get("citation_url", ""),
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


def _pci(year: int) -> PublisherFile:
    ext = "xls" if year <= PCI["xls_until"] else "xlsx"
    if year >= PCI["english_from"]:
        return PublisherFile(
            id=f"vcci-pci-{year}", indicator="pci", level="province", years=(year,), publisher=VCCI,
            title=f"Provincial Competitiveness Index {year}: data workbook (English) with sub-indicators",
            licence=REHOST_LICENCE_2, origin_path=f"Data/PCI/PCI%20{year}.xlsx",
            original_relpath=f"vcci-pci/PCI_{year}.xlsx", format="xlsx", parser="vcci_pci_en",
            expected_units=63, origin_base=ORIGIN_BASE_2,
        )
    return PublisherFile(
        id=f"vcci-pci-{year}",
        indicator="pci",
        level="province",
        years=(year,),
        publisher=VCCI,
        title=f"Provincial Competitiveness Index {year}: data workbook",
        licence=REHOST_LICENCE,
        origin_path=f"data-raw/PCI/PCI_{year}.{ext}",
        original_relpath=f"vcci-pci/PCI_{year}.{ext}",
        format=ext,
        parser="vcci_pci",
        expected_units=PCI_UNITS.get(year, PCI["default_units"]),
    )


def _papi_file(id: str, name: str, origin_name: str, parser: str, title: str, preference: int) -> PublisherFile:
    """A PAPI file re-hosted in mdtrinh/vietnam_elections (its original name there, URL-encoded);
    its years as declared."""
    return PublisherFile(
        id=id, indicator="papi", level="province", years=PAPI_YEARS[id], publisher=UNDP, title=title,
        licence=REHOST_LICENCE_2, origin_path=f"Data/PAPI/{origin_name}", original_relpath=f"papi/{name}",
        format="xlsx", parser=parser, expected_units=63, origin_base=ORIGIN_BASE_2, preference=preference,
    )


CATALOGUE: tuple[PublisherFile, ...] = tuple(_pci(y) for y in year_span(PCI["years"])) + (
    PublisherFile(
        id="undp-papi-2011-2016",
        indicator="papi",
        level="province",
        years=PAPI_YEARS["undp-papi-2011-2016"],
        publisher=UNDP,
        title="PAPI provincial panel 2011-2016: dimension and sub-dimension scores",
        licence=REHOST_LICENCE,
        origin_path="data-raw/PAPI/PAPI_2011-2016.xlsx",
        original_relpath="papi/PAPI_2011-2016.xlsx",
        format="xlsx",
        parser="undp_papi",
        expected_units=63,
        preference=60,  # superseded by the re-issued panel below where both print a figure
    ),
    # the files re-hosted in mdtrinh/vietnam_elections
    _papi_file("undp-papi-2011-2019", "PAPI_2011-2019.xlsx", "PAPI%202011-2019.xlsx",
               "undp_papi", "PAPI provincial panel 2011-2019 (re-issued): dimension and sub-dimension scores",
               preference=40),  # the publisher's later re-issue of the same panel
    _papi_file("undp-papi-2018-full", "PAPI_2018_FULL_vie.xlsx", "PAPI%202018%20FULL_vie.xlsx",
               "undp_papi_full",
               "PAPI 2018 provincial indicators (Vietnamese): total, dimensions, sub-dimensions, indicators",
               preference=30),  # the year's own file: the only one printing the 2018 total
    _papi_file("undp-papi-2019-indicators", "PAPI_2019_Provincial_indicators_VIE_ENG.xlsx",
               "2019%20PAPI%20Provincial%20indicators2019_VIE_ENG.xlsx", "undp_papi_2019",
               "PAPI 2019 provincial indicators: totals with 95% intervals, dimensions, sub-dimensions, indicators",
               preference=30),  # the year's own file, the one carrying the intervals
)


CURATED_LICENCE = "Figures quoted from a public page, with its citation; cite the page and its publisher."


def curated(folder: Path = CURATED_DIR, taken: dict[str, str] | None = None) -> list[CuratedPage]:
    """One publication per curated intake file (data/curated/*.csv), described by its header.
    `taken`: ids already used by registered bundles, each with what registered it."""
    from .parsers.curated import read_header, read_text  # the curated format's reader owns the rules

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
    owners = {c.id: f"the publisher file {c.original_name} in the catalogue" for c in CATALOGUE}
    owners.update(taken or {})
    clash = [p for p in pubs if p.id in owners]
    if clash:
        raise CatalogueError(f"curated file {clash[0].local_file.name} (in {folder}) uses the publication id "
                             f"{clash[0].id!r} of {owners[clash[0].id]}; give the page its own id")
    return pubs


def publications(settings: Settings | None = None) -> list[Publication]:
    """The catalogue's publisher files, the operator's registered ones, then the curated pages."""
    folder = settings.curated_dir if settings is not None else CURATED_DIR
    local = extra(settings.catalogue_extra) if settings is not None else []
    taken = {p.id: f"the bundle {p.local_file.name} registered in {settings.catalogue_extra}" for p in local}
    return list(CATALOGUE) + local + curated(folder, taken)


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
