"""Province name resolution: folding, aliases, scoping by year, and loud unknowns."""
import unicodedata

import pytest

from ingest import names
from ingest.errors import UnknownUnitError


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
