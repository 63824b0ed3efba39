"""The source catalogue: one entry per publication the warehouse knows about.

An entry says what the publication is (indicator, level, years, publisher, licence), where
it comes from (origin URL), how to read it (format and parser) and what to expect (number
of units per year), so that a changed source is caught by a guard, not by an analyst.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import BUNDLE_DIR, Settings

# The VCCI and UNDP workbooks are re-hosted unchanged in the MIT-licensed R package
# mdtrinh/vietnamdata, pinned here to one commit so the bytes never move under us.
ORIGIN_HOST = "raw.githubusercontent.com"
ORIGIN_BASE = (
    "https://raw.githubusercontent.com/mdtrinh/vietnamdata/"
    "be581b8d5b1f0c6a747199fe23d8a77e55396e17/"
)

VCCI = "VCCI (Vietnam Chamber of Commerce and Industry) with USAID, pcivietnam.vn"
UNDP = "UNDP Viet Nam with CECODES and VFF-CRT, papi.org.vn"
REHOST_LICENCE = (
    "Publisher's data release; re-hosted unchanged in mdtrinh/vietnamdata (MIT). "
    "Cite the publisher."
)

# Provinces surveyed per PCI year: 42 in 2005, 64 until Hà Tây merged into Hà Nội (2008), then 63.
PCI_UNITS = {2005: 42, 2006: 64, 2007: 64, 2008: 64}


@dataclass(frozen=True)
class Publication:
    id: str
    indicator: str
    level: str
    years: tuple[int, ...]
    publisher: str
    title: str
    licence: str
    origin_path: str  # path below ORIGIN_BASE, also the path below the originals folder's parent
    original_relpath: str  # path inside ../shared/sources/originals
    format: str  # xls | xlsx
    parser: str  # module name in ingest.parsers
    expected_units: int  # units per year

    @property
    def origin_url(self) -> str:
        return ORIGIN_BASE + self.origin_path

    @property
    def bundle_file(self):
        return BUNDLE_DIR / f"{self.id}.csv.gz"

    @property
    def year(self) -> int:
        return self.years[0]

    def source_url(self, settings: Settings) -> str:
        """The URL the fetcher pulls for this run's source mode."""
        if settings.source_mode == "bundle":
            return self.bundle_file.resolve().as_uri()
        if settings.source_mode == "mirror":
            return settings.mirror.rstrip("/") + "/" + self.origin_path
        return self.origin_url

    def parser_for(self, settings: Settings) -> str:
        return "tidy_bundle" if settings.source_mode == "bundle" else self.parser


def _pci(year: int) -> Publication:
    ext = "xls" if year <= 2011 else "xlsx"
    return Publication(
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
        expected_units=PCI_UNITS.get(year, 63),
    )


CATALOGUE: tuple[Publication, ...] = tuple(_pci(y) for y in range(2005, 2017)) + (
    Publication(
        id="undp-papi-2011-2016",
        indicator="papi",
        level="province",
        years=tuple(range(2011, 2017)),
        publisher=UNDP,
        title="PAPI provincial panel 2011-2016: dimension and sub-dimension scores",
        licence=REHOST_LICENCE,
        origin_path="data-raw/PAPI/PAPI_2011-2016.xlsx",
        original_relpath="papi/PAPI_2011-2016.xlsx",
        format="xlsx",
        parser="undp_papi",
        expected_units=63,
    ),
)


def get(publication_id: str) -> Publication:
    for pub in CATALOGUE:
        if pub.id == publication_id:
            return pub
    raise KeyError(f"no publication {publication_id!r} in the catalogue")


def select(ids: list[str] | None = None) -> list[Publication]:
    return list(CATALOGUE) if not ids else [get(i) for i in ids]
