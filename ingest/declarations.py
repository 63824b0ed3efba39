"""What the warehouse knows of, declared in data and read by one loader.

Three kinds of declaration, one set of field rules (`Fields`):

- a publication family, `catalogue/<family>.yml` (GOVWH_CATALOGUE_DIR): the publisher, its files'
  origins, how each year range is laid out (parser and layout), the units expected, and one line
  per edition (year). A new year in a declared layout is one line under `editions`. A family
  whose figures come only from curated pages (PAR INDEX, SIPAS: the Ministry publishes no data
  file) declares no origins: its editions and the pages the watch reads, nothing to fetch;
- a registered bundle, in the JSON file GOVWH_CATALOGUE_EXTRA names (ingest.catalogue.extra);
- a curated page, `data/curated/<page>.csv`, whose '# key: value' header declares the page.

Everything is validated before anything is fetched, and a bad declaration is one line naming the
file, the line and what is wrong. The loader returns plain values; ingest.catalogue makes the
catalogue entries of them (this module imports nothing of the pipeline but its errors).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from .errors import CatalogueError, LayoutError

# ------------------------------------------------------------------ the rules every declaration follows
PUBLICATION_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,95}")
INDICATOR = re.compile(r"[a-z][a-z0-9_]{1,39}")
PARSER = re.compile(r"[a-z][a-z0-9_]{1,39}")
LEVELS = ("province", "ministry", "district", "department")
SOURCE_TYPES = ("publisher_file", "publisher_site", "publisher_report", "government_portal", "news", "secondary")
CARRIES = ("sub_indicators", "intervals")  # what an edition's files carry beyond the scores
FIRST_YEAR, LAST_YEAR = 1990, 2100
MAX_TEXT = 500


class Fields:
    """Checks of one declaration's fields; every failure names where (file, line, entry)."""

    def __init__(self, where: str):
        self.where = where

    def error(self, why: str) -> CatalogueError:
        return CatalogueError(f"{self.where}: {why}" if self.where else why)

    def text(self, entry: dict, name: str, required: bool = True, default: str = "") -> str:
        value = entry.get(name, default)
        if not isinstance(value, str) or len(value) > MAX_TEXT or (required and not value.strip()) \
                or any(ord(ch) < 32 or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
            raise self.error(f"{name} must be a single line of text of at most {MAX_TEXT} characters"
                             + (" (required)" if required else ""))
        return value.strip()

    def url(self, entry: dict, name: str, required: bool = False) -> str:
        value = self.text(entry, name, required=required)
        if value:
            parsed = urlparse(value)
            if parsed.scheme not in ("http", "https") or not parsed.hostname or any(ch.isspace() for ch in value):
                raise self.error(f"{name} {value[:100]!r} is not an http(s) URL")
        return value

    def pattern(self, entry: dict, name: str, rule: re.Pattern, what: str) -> str:
        value = entry.get(name)
        if not isinstance(value, str) or not rule.fullmatch(value):
            raise self.error(f"{name} must be {what}" + ("" if value is None else f", not {str(value)[:100]!r}"))
        return value

    def publication_id(self, entry: dict, name: str = "id") -> str:
        return self.pattern(entry, name, PUBLICATION_ID,
                            "3-96 characters of a-z, 0-9 and '-', starting with a letter or digit")

    def indicator(self, entry: dict, name: str = "indicator") -> str:
        return self.pattern(entry, name, INDICATOR, "a code of lower-case letters, digits and '_'")

    def choice(self, entry: dict, name: str, choices: tuple, default=None) -> str:
        value = entry.get(name, default)
        if value not in choices:
            raise self.error(f"{name} must be one of {list(choices)}, not {str(value)[:100]!r}")
        return value

    def whole(self, entry: dict, name: str, low: int, high: int, default=None) -> int:
        value = entry.get(name, default)
        if type(value) is not int or not low <= value <= high:
            raise self.error(f"{name} must be a whole number {low}..{high}")
        return value

    def year(self, value, name: str = "year") -> int:
        if type(value) is not int or not FIRST_YEAR <= value <= LAST_YEAR:
            raise self.error(f"{name} must be a year {FIRST_YEAR}..{LAST_YEAR}, not {str(value)[:40]!r}")
        return value

    def span(self, entry: dict, name: str = "years", open_end: bool = False) -> tuple[int, int | None]:
        """[first, last]: a span of years (last null where `open_end`: every later year)."""
        value = entry.get(name)
        if not isinstance(value, list) or len(value) != 2:
            raise self.error(f"{name} must be [first, last]")
        first = self.year(value[0], name)
        if value[1] is None and open_end:
            return first, None
        last = self.year(value[1], name)
        if last < first:
            raise self.error(f"{name} {value} ends before it starts")
        return first, last

    def unknown(self, entry: dict, allowed: set[str]) -> None:
        extra = sorted(set(entry) - allowed, key=str)
        if extra:
            raise self.error(f"unknown field {str(extra[0])[:60]!r} (known: {', '.join(sorted(allowed))})")

    def path(self, entry: dict, name: str) -> str:
        """A relative path below an origin or the originals' folder: no '..', no absolute path."""
        value = self.text(entry, name)
        parts = value.split("/")
        if value.startswith("/") or "\\" in value or any(p in ("", ".", "..") for p in parts) \
                or any(ch.isspace() for ch in value):
            raise self.error(f"{name} {value[:100]!r} must be a relative path without '..', spaces or empty parts")
        return value


# ------------------------------------------------------------------ YAML with line numbers
class Lined(dict):
    """A mapping read from YAML, with the line it starts on."""

    line: int = 0


def _yaml_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        out = Lined(loader.construct_mapping(node, deep=True))
        out.line = node.start_mark.line + 1
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Loader


def read_yaml(path: Path) -> Lined:
    import yaml

    try:
        text = Path(path).read_bytes().decode("utf-8")
        doc = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader with line numbers
    except OSError as exc:
        raise CatalogueError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from exc
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{path}: not UTF-8 at byte {exc.start:,}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise CatalogueError(f"{path}: {at}not valid YAML ({getattr(exc, 'problem', None) or type(exc).__name__})") \
            from exc
    if not isinstance(doc, Lined):
        raise CatalogueError(f"{path}: expected a mapping of the family's fields")
    return doc


# ------------------------------------------------------------------ publication families
@dataclass(frozen=True)
class Edition:
    year: int
    units: int
    carries: tuple[str, ...]
    note: str = ""  # a caveat a reader of that year's tables needs (the report prints it on their pages)


@dataclass(frozen=True)
class Watch:
    """A publisher page the nightly watch reads (ingest.watch). Either `links`: a pattern a link on
    the page matches, its group `year` the edition's year (`land`: the link is the family's own data
    file in a declared layout, landed and parsed the night it appears); or `answers`: the page, its
    URL holding {year}, answers for a year it has data for, the body matching the pattern."""

    page: str
    confirmed: bool  # seen on the publisher's site when declared (false: the likely address, unverified)
    note: str = ""
    links: str = ""
    answers: str = ""
    land: bool = False
    from_year: int = 0  # the first year reported (`answers`: asked for; default: the year after the last declared)


@dataclass(frozen=True)
class Family:
    """One declaration file: the family's fields, its editions, and its publisher files (each a
    dict of PublisherFile fields: ingest.catalogue turns them into catalogue entries)."""

    id: str
    path: Path
    indicator: str
    level: str
    publisher: str
    site: str  # the publisher's own site
    editions: tuple[Edition, ...]
    files: tuple[dict, ...]
    origin_bases: tuple[str, ...]
    watch: tuple[Watch, ...] = ()
    # builds the file spec of an edition the watch found (year, URL): its year's declared layout
    found_file: object = field(default=None, compare=False, repr=False)

    @property
    def curated_only(self) -> bool:
        """No publisher file is declared: the family's figures come from curated pages."""
        return not self.origin_bases

    @property
    def years(self) -> tuple[int, ...]:
        return tuple(e.year for e in self.editions)

    def years_carrying(self, what: str) -> tuple[int, ...]:
        return tuple(e.year for e in self.editions if what in e.carries)

    def note_on(self, year: int) -> str:
        """The declared caveat on the edition of year ("" when none)."""
        return next((e.note for e in self.editions if e.year == year), "")

    def units_in(self, year: int) -> int:
        return {e.year: e.units for e in self.editions}[year]


FAMILY_FIELDS = {"family", "indicator", "level", "publisher", "site", "id", "units", "count_component",
                 "origins", "layouts", "title", "panels", "editions", "watch"}
WATCH_FIELDS = {"page", "confirmed", "note", "links", "answers", "land", "from"}
MAX_PATTERN = 300
FILE_FIELDS = {"id", "origin", "path", "original", "parser", "title", "preference"}
EDITION_FIELDS = {"year", "units", "carries", "note"} | FILE_FIELDS
PANEL_FIELDS = {"years"} | FILE_FIELDS
LAYOUT_FIELDS = {"years", "parser", "title", "carries", "kind", "sheets", "header_rows", "unlabelled",
                 "rank_from_order"}


def _at(path: Path, entry, what: str) -> str:
    line = getattr(entry, "line", 0)
    return f"{path.name}, line {line} ({what})" if line else f"{path.name} ({what})"


def _list(doc: dict, name: str, path: Path, required: bool = True) -> list:
    value = doc.get(name, [] if not required else None)
    if not isinstance(value, list) or (required and not value):
        raise CatalogueError(f"{_at(path, doc, name)}: {name} must be a list" + (" of at least one entry" if required else ""))
    return value


def load_family(path: Path) -> Family:
    """One catalogue/<family>.yml, every field checked."""
    path = Path(path)
    doc = read_yaml(path)
    top = Fields(_at(path, doc, "family"))
    top.unknown(doc, FAMILY_FIELDS)
    family = top.pattern(doc, "family", PUBLICATION_ID, "the family's id (a-z, 0-9, '-'), the file's name")
    if family != path.stem:
        raise top.error(f"family {family!r} must match the file's name ({path.stem!r})")
    indicator = top.indicator(doc)
    # a family of curated pages only (no `origins`) fetches nothing: its level (the pages give
    # each row's) and units (the guards count files' units) may go unsaid
    with_files = "origins" in doc
    level = top.choice(doc, "level", LEVELS) if with_files or "level" in doc else ""
    publisher = top.text(doc, "publisher")
    site = top.url(doc, "site", required=True)
    default_units = top.whole(doc, "units", 1, 100_000) if with_files or "units" in doc else 0
    count_component = top.pattern(doc, "count_component", INDICATOR, "a component code") \
        if "count_component" in doc else "overall"
    id_template = top.text(doc, "id", required=False)
    if id_template and "{year}" not in id_template:
        raise top.error("id must hold {year}: each edition's publication id is made from it")
    family_title = top.text(doc, "title", required=False)

    origins: dict[str, tuple[str, str]] = {}
    raw_origins = doc.get("origins") if with_files else {}
    if not isinstance(raw_origins, dict) or (with_files and not raw_origins):
        raise top.error("origins must map each origin's name to its base URL and licence")
    for name, o in raw_origins.items():
        f = Fields(_at(path, o if isinstance(o, dict) else raw_origins, f"origin {str(name)[:40]}"))
        if not isinstance(o, dict):
            raise f.error("must be a mapping with base and licence")
        f.unknown(o, {"base", "licence"})
        base = f.url(o, "base", required=True)
        if not base.endswith("/"):
            raise f.error("base must end with '/' (the files' paths are appended to it)")
        origins[str(name)] = (base, f.text(o, "licence"))

    layouts = []
    for entry in _list(doc, "layouts", path, required=False):
        f = Fields(_at(path, entry, "layout"))
        if not isinstance(entry, dict):
            raise f.error("must be a mapping")
        f.unknown(entry, LAYOUT_FIELDS)
        first, last = f.span(entry, open_end=True)
        carries = _carries(f, entry)
        layouts.append((first, last, f.pattern(entry, "parser", PARSER, "a parser module's name"),
                        f.text(entry, "title", required=False), carries, dict(entry)))
    for (a1, b1, *_), (a2, b2, *_) in zip(layouts, layouts[1:]):
        if b1 is None or a2 <= b1:
            raise CatalogueError(f"{path.name}: layouts {[a1, b1]} and {[a2, b2]} overlap (or are out of order)")

    def layout_of(year: int, f: Fields):
        for first, last, *rest in layouts:
            if first <= year and (last is None or year <= last):
                return rest
        raise f.error(f"no layout declared for {year}: add one under layouts (a new layout needs a parser)")

    def file_fields(entry: dict, f: Fields, years: tuple[int, ...], parser: str | None, title: str,
                    pub_id: str | None) -> dict:
        origin = f.text(entry, "origin")
        if not origins:
            raise f.error("a file needs origins: the family declares none (curated pages only)")
        if origin not in origins:
            raise f.error(f"origin {origin[:60]!r} is not declared under origins ({', '.join(origins)})")
        base, licence = origins[origin]
        rel = f.path(entry, "path")
        original = f.path(entry, "original")
        ext = rel.rsplit(".", 1)[-1].lower()
        if ext not in ("xls", "xlsx"):
            raise f.error(f"path {rel[:100]!r} must name an .xls or .xlsx workbook")
        return dict(
            id=pub_id or f.publication_id(entry), indicator=indicator, level=level, years=years,
            publisher=publisher, title=(f.text(entry, "title", required=False) or title).replace("{year}", str(years[0])),
            licence=licence, origin_path=rel, original_relpath=original, format=ext,
            parser=f.pattern(entry, "parser", PARSER, "a parser module's name") if "parser" in entry else parser,
            origin_base=base, preference=f.whole(entry, "preference", 0, 100, default=50),
            count_component=count_component,
        )

    editions: list[Edition] = []
    own_files: list[dict] = []
    for entry in _list(doc, "editions", path):
        f = Fields(_at(path, entry, "edition"))
        if not isinstance(entry, dict):
            raise f.error("must be a mapping")
        f.unknown(entry, EDITION_FIELDS)
        year = f.year(entry.get("year"))
        f = Fields(_at(path, entry, f"edition {year}"))
        if any(e.year == year for e in editions):
            raise f.error(f"{year} is declared twice")
        if editions and year < editions[-1].year:
            raise f.error(f"editions must be in order of year ({year} after {editions[-1].year})")
        parser, layout_title, layout_carries, layout = layout_of(year, f) if layouts else (None, "", (), {})
        units = f.whole(entry, "units", 1, 100_000, default=default_units) if default_units or "units" in entry else 0
        carries = tuple(sorted(set(layout_carries) | set(_carries(f, entry))))
        editions.append(Edition(year, units, carries, f.text(entry, "note", required=False)))
        if ("path" in entry or "origin" in entry) and not origins:
            raise f.error("a file needs origins: the family declares none (curated pages only)")
        if "path" in entry or "origin" in entry:  # the year's own file
            pub_id = None if "id" in entry else _from_template(id_template, year, f)
            spec = file_fields(entry, f, (year,), parser, layout_title or family_title, pub_id)
            spec.update(layout=_layout_of(layout), units_per_year=((year, units),), expected_units=units)
            own_files.append(spec)
        elif set(entry) & FILE_FIELDS:
            raise f.error(f"{sorted(set(entry) & FILE_FIELDS)[0]!r} belongs to a year's own file, "
                          "which needs origin and path")
    declared = {e.year: e for e in editions}

    panels: list[dict] = []
    for entry in _list(doc, "panels", path, required=False):
        f = Fields(_at(path, entry, "panel"))
        if not isinstance(entry, dict):
            raise f.error("must be a mapping")
        f.unknown(entry, PANEL_FIELDS)
        first, last = f.span(entry)
        years = tuple(y for y in range(first, last + 1) if y in declared)
        if not years:  # none of its years is declared (yet): the panel is not read
            continue
        spec = file_fields(entry, f, years, None, family_title, None)
        if spec["parser"] is None:
            raise f.error("parser is required for a panel")
        units = tuple((y, declared[y].units) for y in years)
        spec.update(layout={}, units_per_year=units, expected_units=max(u for _, u in units))
        panels.append(spec)

    watch = []
    for entry in _list(doc, "watch", path, required=False):
        f = Fields(_at(path, entry, "watch"))
        watch.append(_watch(f, entry))
        if watch[-1].land and not layouts:
            raise f.error("land: true needs layouts (a file taken in is read by its year's layout)")
    watch = tuple(watch)

    def found_file(year: int, url: str) -> dict:
        """The spec of an edition the watch found at url: the family's layout of that year."""
        f = Fields(f"{path.name} (watch: {year})")
        parser, layout_title, _carries, layout = layout_of(year, f) if layouts else (None, "", (), {})
        if parser is None:
            raise f.error("no layout declared: a found file needs its year's layout")
        parsed = urlparse(url)
        ext = parsed.path.rsplit(".", 1)[-1].lower()
        if parsed.scheme not in ("http", "https") or ext not in ("xls", "xlsx"):
            raise f.error(f"{url[:200]!r} is not an http(s) link to an .xls or .xlsx workbook")
        pub_id = _from_template(id_template, year, f)
        rel = parsed.path.lstrip("/") + (f"?{parsed.query}" if parsed.query else "")
        return dict(
            id=pub_id, indicator=indicator, level=level, years=(year,), publisher=publisher,
            title=(layout_title or family_title or f"{family} {{year}}").replace("{year}", str(year)),
            licence="The publisher's data release, found by the nightly watch; cite the publisher.",
            origin_path=rel, original_relpath=f"watch/{Path(parsed.path).name}", format=ext, parser=parser,
            origin_base=f"{parsed.scheme}://{parsed.netloc}/", preference=50, count_component=count_component,
            layout=_layout_of(layout), units_per_year=((year, default_units),), expected_units=default_units,
        )

    files = tuple(panels) + tuple(own_files)  # the panels, then each year's own file
    ids = [s["id"] for s in files]
    dup = next((i for i in ids if ids.count(i) > 1), None)
    if dup:
        raise CatalogueError(f"{path.name}: publication id {dup!r} is declared twice")
    if any(s["parser"] is None for s in files):
        raise CatalogueError(f"{path.name}: a file has no parser (declare layouts, or parser on the file)")
    return Family(id=family, path=path, indicator=indicator, level=level, publisher=publisher,
                  site=site, editions=tuple(editions), files=files,
                  origin_bases=tuple(b for b, _ in origins.values()), watch=watch, found_file=found_file)


def _watch(f: Fields, entry) -> Watch:
    if not isinstance(entry, dict):
        raise f.error("must be a mapping")
    f.unknown(entry, WATCH_FIELDS)
    page = f.url(entry, "page", required=True)
    if type(entry.get("confirmed")) is not bool:
        raise f.error("confirmed must be true (seen on the publisher's site) or false (unverified)")
    links, answers = (f.text(entry, k, required=False) for k in ("links", "answers"))
    if bool(links) == bool(answers):
        raise f.error("a watch needs links (a pattern of a link with a year) or answers (a page for a year), "
                      "not both")
    pattern = links or answers
    if len(pattern) > MAX_PATTERN:
        raise f.error(f"the pattern is over {MAX_PATTERN} characters")
    try:
        compiled = re.compile(pattern.replace("{year}", "2020"))
    except re.error as exc:
        raise f.error(f"{'links' if links else 'answers'} is not a regular expression ({exc})") from exc
    if links and "year" not in compiled.groupindex:
        raise f.error("links must capture the year: (?P<year>20\\d\\d)")
    if answers and "{year}" not in page:
        raise f.error("a page that answers for a year holds {year} in its URL")
    land = entry.get("land", False)
    if type(land) is not bool or (land and not links):
        raise f.error("land must be true or false, and true only with links")
    from_year = f.year(entry["from"], "from") if "from" in entry else 0
    return Watch(page=page, confirmed=entry["confirmed"], note=f.text(entry, "note", required=False),
                 links=links, answers=answers, land=land, from_year=from_year)


def _carries(f: Fields, entry: dict) -> tuple[str, ...]:
    value = entry.get("carries", [])
    if not isinstance(value, list) or any(v not in CARRIES for v in value):
        raise f.error(f"carries must be a list of {list(CARRIES)}")
    return tuple(value)


def _from_template(template: str, year: int, f: Fields) -> str:
    if not template:
        raise f.error("id is required (the family declares no id template)")
    value = template.replace("{year}", str(year))
    if not PUBLICATION_ID.fullmatch(value):
        raise f.error(f"the id template makes {value[:100]!r}, not a valid publication id")
    return value


def _layout_of(layout: dict) -> dict:
    """The parser-specific part of a layout (sheets, header rows...): what the parser reads."""
    return {k: v for k, v in layout.items() if k not in ("years", "parser", "title", "carries")}


def load_folder(folder: Path) -> tuple[Family, ...]:
    """Every catalogue/<family>.yml, in order of name; ids unique across them."""
    folder = Path(folder)
    paths = sorted(p for p in folder.glob("*.yml") if p.is_file())
    if not paths:
        raise CatalogueError(f"{folder}: no <family>.yml declarations in it")
    families = tuple(load_family(p) for p in paths)
    seen: dict[str, str] = {}
    for fam in families:
        for spec in fam.files:
            if spec["id"] in seen:
                raise CatalogueError(f"{fam.path.name}: publication id {spec['id']!r} is already declared in "
                                     f"{seen[spec['id']]}")
            seen[spec["id"]] = fam.path.name
    return families


# ------------------------------------------------------------------ curated pages: the header declares the page
REQUIRED_HEADER = ("publication", "title", "publisher", "source_url", "source_type", "date_read")
CURATED_SOURCE_TYPES = SOURCE_TYPES[1:]  # a transcribed page is never the publisher's own file
MAX_CELL = 2000
MAX_FILE_BYTES = 5 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def read_text(path: Path, label: str) -> str:
    """A curated file's text: UTF-8 (a byte-order mark is accepted), in NFC, without control
    characters. Anything else is a one-line error naming the file and line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise LayoutError(label, f"cannot read curated file ({exc.strerror})") from exc
    if len(data) > MAX_FILE_BYTES:
        raise LayoutError(label, f"file is {len(data):,} bytes, over the {MAX_FILE_BYTES:,}-byte limit for a curated file")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4096]:
        raise LayoutError(label, "file is UTF-16 (or has NUL bytes); save it as UTF-8 (CSV UTF-8 in Excel)", row=1)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise LayoutError(label, f"not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded (a Windows-1258 or "
                                 "other legacy encoding?); save the file as UTF-8", row=line) from None
    for number, line in enumerate(text.splitlines(), start=1):
        found = _CONTROL.search(line)
        if found:
            raise LayoutError(label, f"control character U+{ord(found.group()):04X} in the text", row=number)
    return unicodedata.normalize("NFC", text)


def read_header(text: str, label: str) -> tuple[dict[str, str], int]:
    """'# key: value' lines at the top; returns them and the number of lines they take. The page's
    fields follow the same rules as every declaration's (Fields), each error naming its line."""
    header: dict[str, str] = {}
    lines: dict[str, int] = {}
    count = 0
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        count += 1
        key, sep, value = line[1:].partition(":")
        if not sep:
            raise LayoutError(label, f"provenance line {line[:80]!r} is not '# key: value'", row=count)
        if len(value) > MAX_CELL:
            raise LayoutError(label, f"provenance value of {len(value):,} characters, over the {MAX_CELL:,} limit",
                              row=count)
        header[key.strip()] = value.strip()
        lines[key.strip()] = count
    missing = [k for k in REQUIRED_HEADER if not header.get(k)]
    if missing:
        raise LayoutError(label, f"provenance is missing {missing} (expected '# key: value' lines for "
                                 f"{list(REQUIRED_HEADER)})", row=count + 1)

    def check(key: str, rule) -> None:
        try:
            rule(Fields(""), header, key)
        except CatalogueError as exc:
            raise LayoutError(label, str(exc), row=lines[key]) from None

    check("publication", lambda f, h, k: f.publication_id(h, k))
    check("source_type", lambda f, h, k: f.choice(h, k, CURATED_SOURCE_TYPES))
    check("source_url", lambda f, h, k: f.url(h, k, required=True))
    for key in ("title", "publisher"):
        check(key, lambda f, h, k: f.text(h, k))
    if "decimal_mark" in header:  # how the page prints decimals: "64,16" where it uses a comma
        check("decimal_mark", lambda f, h, k: f.choice(h, k, (".", ",")))
    return header, count
