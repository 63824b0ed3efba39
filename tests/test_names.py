"""Province name resolution: folding, aliases, scoping by year, and loud unknowns."""
import unicodedata

import pytest

from ingest import names
from ingest.errors import UnknownUnitError


pytestmark = pytest.mark.xdist_group("names")  # one worker builds the module's fixtures once

@pytest.fixture(scope="module")
def registry():
    return names.provinces()


@pytest.mark.parametrize("spelling, code", [
    ("Hà Nội", "01"), ("Ha Noi", "01"), ("Hanoi", "01"), ("Thành phố Hà Nội", "01"),
    ("TP.HCM", "79"), ("Tp.HCM", "79"), ("HCMC", "79"), ("TP. Hồ Chí Minh", "79"),
    ("BRVT", "77"), ("Bà Rịa - Vũng Tàu", "77"), ("Bà Rịa–Vũng Tàu", "77"),
    ("TT-Huế", "46"), ("TT- Huế", "46"), ("Thừa Thiên Huế", "46"),
    ("Đăk Lăk", "66"), ("Đắc Lắk", "66"), ("Đak Nông", "67"), ("Bắc Cạn", "06"),
    ("Hòa Bình", "17"), ("Hoà Bình", "17"),  # tone-mark placement variants
    ("Quàng Ngãi", "51"),  # VCCI 2005's misspelling folds onto Quảng Ngãi
    ("  tỉnh   Cà Mau ", "96"),
])
def test_spellings_resolve(registry, spelling, code):
    assert registry.lookup(spelling, 2012) == code


def test_nfd_input_resolves(registry):
    assert registry.lookup(unicodedata.normalize("NFD", "Đồng Tháp"), 2015) == "87"


def test_ha_tay_only_before_its_merger(registry):
    assert registry.lookup("Hà Tây", 2007) == "28"
    assert registry.lookup("Hà Tây", 2008) == "28"  # PCI 2008 still ranked it separately
    assert registry.lookup("Hà Tây", 2009) is None


def test_unknown_name_error_names_file_row_and_candidates(registry):
    candidates = registry.candidates("Ha Tya")
    assert candidates[0] == "Hà Tây (28)"
    err = UnknownUnitError("PCI_2099.xlsx", "Ha Tya", candidates, sheet="Summary_VN", row=7, year=2099)
    text = str(err)
    assert "PCI_2099.xlsx" in text and "'Summary_VN'" in text and "row 7" in text
    assert "'Ha Tya'" in text and "Hà Tây (28)" in text and len(candidates) == 3


# ------------------------------------------------------------------ units through time
import csv  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from datetime import date  # noqa: E402

from ingest.config import SEEDS_DIR, originals_dir  # noqa: E402

FACTS = originals_dir().parent / "transcribed" / "published_facts.csv"


def _is_aggregate(name: str) -> bool:
    return name.startswith("(") or names.fold(name) in {"trungbinh"}


def test_ha_tay_resolves_only_before_2008_08_01(registry):
    assert registry.lookup("Hà Tây", date(2008, 7, 31)) == "28"
    assert registry.lookup("Hà Tây", date(2008, 8, 1)) is None


def test_the_2025_provinces_resolve_from_2025_07_01(registry):
    assert registry.lookup("Hồ Chí Minh", date(2025, 6, 30)) == "79"
    assert registry.lookup("Hồ Chí Minh", date(2025, 7, 1)) == "79-2025"
    assert registry.lookup("Kiên Giang", date(2025, 7, 1)) is None  # merged into An Giang
    assert registry.lookup("An Giang", 2026) == "91-2025" and registry.lookup("An Giang", 2020) == "89"


def test_2025_mapping_gives_34_successors_covering_all_63():
    with open(SEEDS_DIR / "province_successors.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["effective_date"] == "2025-07-01"]
    with open(SEEDS_DIR / "provinces.csv", encoding="utf-8") as f:
        provinces = list(csv.DictReader(f))
    the_63 = {p["province_key"] for p in provinces if p["province_key"] != "28" and p["valid_from"] != "2025-07-01"}
    assert len(the_63) == 63
    assert {r["old_key"] for r in rows} == the_63 and len(rows) == 63
    assert len({r["new_key"] for r in rows}) == 34
    unchanged = [r for r in rows if r["old_key"] == r["new_key"]]
    assert len(unchanged) == 11
    hcmc = sorted(r["old_key"] for r in rows if r["new_key"] == "79-2025")
    assert hcmc == ["74", "77", "79"]


def test_ministry_names_resolve():
    reg = names.ministries()
    assert reg.lookup("Bộ Y Tế", 2023) == reg.lookup("Ministry of Health", 2023) == "MOH"
    assert reg.lookup("Ministry of Information and Technology [sic]", 2016) == "MIC"
    assert reg.lookup("Bộ Nông nghiệp và Môi trường", 2024) is None
    assert reg.lookup("Bộ Nông nghiệp và Môi trường", date(2025, 3, 1)) == "MAE"


@pytest.fixture(scope="module")
def facts():
    if not FACTS.is_file():
        pytest.skip(f"{FACTS} not found")
    with open(FACTS, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_province_and_ministry_name_in_published_facts_resolves(facts):
    unresolved = []
    for row in facts:
        level, name = row["level"], row["unit_name_as_published"]
        if level not in ("province", "ministry") or _is_aggregate(name):
            continue
        if names.registry(level).lookup(name, int(row["year"])) is None:
            unresolved.append((level, name, row["year"]))
    assert unresolved == []


def test_ministry_mapping_covers_every_ministry_ranked_in_2023(facts):
    reg = names.ministries()
    ranked_2023 = {reg.lookup(r["unit_name_as_published"], 2023) for r in facts
                   if r["level"] == "ministry" and r["year"] == "2023" and not _is_aggregate(r["unit_name_as_published"])}
    assert len(ranked_2023) == 17
    with open(SEEDS_DIR / "ministry_successors.csv", encoding="utf-8") as f:
        mapped = {r["old_key"] for r in csv.DictReader(f)}
    assert ranked_2023 <= mapped
    with open(SEEDS_DIR / "ministry_successors.csv", encoding="utf-8") as f:
        molisa = sorted(r["new_key"] for r in csv.DictReader(f) if r["old_key"] == "MOLISA")
    assert molisa == ["MOET", "MOH", "MOHA"]  # the labour ministry was split three ways


def test_resolve_command_reads_a_csv_column_and_fails_on_unknowns(tmp_path):
    src = tmp_path / "names.csv"  # synthetic input
    src.write_text("tinh,score\nTP.HCM,1\nThừa Thiên Huế,2\nTỉnh Không Có,3\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "ingest", "resolve", "--csv", str(src), "--column", "tinh",
                           "--year", "2016"], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[1] == "TP.HCM\t79\tHồ Chí Minh" and lines[2] == "Thừa Thiên Huế\t46\tHuế"
    assert "unknown province in 2016: 'Tỉnh Không Có'; nearest: " in proc.stderr
    ok = subprocess.run([sys.executable, "-m", "ingest", "resolve", "Hanoi", "BRVT"], capture_output=True, text=True)
    assert ok.returncode == 0 and "BRVT\t77\tBà Rịa - Vũng Tàu" in ok.stdout
