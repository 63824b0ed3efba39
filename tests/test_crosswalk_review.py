"""New questions go to review, never silently mapped: a new edition's indicator headers identical
(folded) to an earlier year's keep their codes; the others stop the parse with one line naming
them; `govwh crosswalk review` lists each with the nearest existing headers, and `apply` writes the
person's decisions into the seeds. Tried on PCI 2019 against a crosswalk of 2017-2018 only, and on
PAPI 2019 without its E-Governance (dimension 8) questions, asked in English that year (2018's file
asks them in Vietnamese, so none is identical) and new in part (e-responsiveness)."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from ingest import catalogue, crosswalk
from ingest.config import DBT_PROJECT_DIR
from ingest.errors import UnknownColumnsError
from ingest.names import fold
from ingest.parsers import ParseContext, parse

from conftest import assert_one_line_error, govwh, make_settings

SEEDS = DBT_PROJECT_DIR / "seeds"


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _project_without(tmp_path: Path, indicator: str, year: int, parent: str | None = None) -> Path:
    """A copy of the dbt project whose crosswalk lacks that year's rows (under parent only, if
    given) and whose sub-indicators lack the codes only those rows used."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    items = {d["subindicator_code"]: d for d in _read(SEEDS / "subindicators.csv") if d["indicator"] == indicator}
    gone = [d for d in _read(SEEDS / "subindicator_crosswalk.csv") if d["indicator"] == indicator
            and int(d["year"]) == year and (parent is None or items[d["subindicator_code"]]["parent_code"] == parent)]
    kept = [d for d in _read(SEEDS / "subindicator_crosswalk.csv") if d not in gone]
    used = {d["subindicator_code"] for d in kept if d["indicator"] == indicator}
    _write(project / "seeds" / "subindicator_crosswalk.csv", kept)
    _write(project / "seeds" / "subindicators.csv", [d for d in _read(SEEDS / "subindicators.csv")
                                                    if d["indicator"] != indicator or d["subindicator_code"] in used])
    return project


def _parse(pub_id: str, originals: Path, seeds: Path):
    pub = next(p for p in catalogue.CATALOGUE if p.id == pub_id)
    path = originals / pub.original_relpath
    ctx = ParseContext(path=path, label=f"{pub.id} ({path.name})", source_sha256="0" * 64,
                       source_file=path.name, seeds_dir=seeds)
    return parse(pub.parser, pub, ctx)


def _year_rows(seeds: Path, indicator: str, year: int) -> set[tuple]:
    return {(d["sheet"], fold(d["column_header"]), d["occurrence"], d["subindicator_code"])
            for d in _read(seeds / "subindicator_crosswalk.csv") if d["indicator"] == indicator and d["year"] == str(year)}


def test_pci_2019_against_a_crosswalk_of_2017_2018_stops_naming_the_reworded_questions(originals, tmp_path):
    project = _project_without(tmp_path, "pci", 2019)
    with pytest.raises(UnknownColumnsError) as caught:
        _parse("vcci-pci-2019", originals, project / "seeds")
    exc = caught.value
    said = str(exc)
    assert "\n" not in said
    # 106 of 2019's 128 headers are identical (folded) to a 2017 or 2018 header and keep its code;
    # 22 are new or reworded, all named in one line (five shown) with the command to review them
    assert len(exc.carried) == 106 and len(exc.columns) == 22
    assert said.startswith("vcci-pci-2019 (PCI_2019.xlsx): 22 indicator columns the crosswalk does not know "
                           "for pci 2019 (a new or reworded question): ")
    assert said.endswith("; and 17 more; review them with `govwh crosswalk review vcci-pci-2019`")
    real = {(s, fold(h), str(n)): code for s, h, n, code in _year_rows(SEEDS, "pci", 2019)}
    for sheet, _col, header, n, _parent, code in exc.carried:  # the codes they keep are the real seed's
        assert real[(sheet, fold(header), str(n))] == code


def test_review_lists_each_with_the_nearest_headers_and_new_decisions_rebuild_the_real_seed(originals, tmp_path):
    project = _project_without(tmp_path, "pci", 2019)
    env = {"GOVWH_DBT_PROJECT_DIR": str(project), "GOVWH_ORIGINALS": str(originals)}
    settings = make_settings(tmp_path / "data", dbt_project_dir=project)
    out = tmp_path / "review.csv"
    proc = govwh(settings, "crosswalk", "review", "vcci-pci-2019", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("vcci-pci-2019 (PCI_2019.xlsx), pci 2019: 22 indicator columns the crosswalk does not know; "
                           "106 have codes (listed for 2019, or identical to an earlier year's header)")
    review = _read(out)
    assert len(review) == 22
    for row in review:  # three candidates each, best first, scores 0-100
        scores = [float(row[f"score_{i}"]) for i in (1, 2, 3)]
        assert scores == sorted(scores, reverse=True) and 0 <= scores[-1] <= scores[0] <= 100
        assert row["candidate_1"].startswith("pci_") and f"{scores[0]:5.1f}  {row['candidate_1']}" in text
        assert row["decision"] == ""
    # a reworded question's nearest header is its earlier wording
    (guidance,) = [r for r in review if r["column_header"] == "Biz (Re-)registraion procedures: Guidance is clear (%)"]
    assert guidance["candidate_1"] == "pci_ec_07" and float(guidance["score_1"]) >= 75
    assert guidance["header_1"] == "Guidance for biz (Re-)registraion procedures is clear (%)"

    # no decision yet: apply refuses, naming the line, and writes nothing
    before = (project / "seeds" / "subindicator_crosswalk.csv").read_bytes()
    proc = govwh(settings, "crosswalk", "apply", "vcci-pci-2019", str(out), env=env)
    assert_one_line_error(proc, r"review\.csv, line 2: no decision for .* \(accept, an existing code, or new\)")
    assert (project / "seeds" / "subindicator_crosswalk.csv").read_bytes() == before

    # a person marks each as new: the seeds get 2019's rows, the same codes as the seed script gives
    for row in review:
        row["decision"] = "new"
    _write(out, review)
    proc = govwh(settings, "crosswalk", "apply", "vcci-pci-2019", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "128 crosswalk rows for pci 2019" in proc.stdout and "(106 known, 0 accepted, 22 new codes)" \
        in proc.stdout
    assert _year_rows(project / "seeds", "pci", 2019) == _year_rows(SEEDS, "pci", 2019)
    assert sorted(map(sorted, map(dict.items, _read(project / "seeds" / "subindicators.csv")))) == \
        sorted(map(sorted, map(dict.items, _read(SEEDS / "subindicators.csv"))))
    # and the parse maps every column
    rows = _parse("vcci-pci-2019", originals, project / "seeds").rows
    assert sum(1 for r in rows if r.grain == "subindicator" and r.row_kind == "unit") == 128 * 63


def test_papi_2019_new_e_governance_questions_go_to_review_and_accept_or_new(originals, tmp_path):
    project = _project_without(tmp_path, "papi", 2019, parent="d8_egovernance")
    seeds = project / "seeds"
    with pytest.raises(UnknownColumnsError) as caught:
        _parse("undp-papi-2019-indicators", originals, seeds)
    exc = caught.value
    assert [c[4] for c in exc.columns] == ["d8_egovernance"] * 9 and len(exc.carried) == 121
    assert "9 indicator columns the crosswalk does not know for papi 2019" in str(exc)

    settings = make_settings(tmp_path / "data", dbt_project_dir=project)
    text, out = crosswalk.review("undp-papi-2019-indicators", settings)
    assert out == tmp_path / "data" / "crosswalk" / "review-undp-papi-2019-indicators.csv"
    review = _read(out)
    assert [r["parent_code"] for r in review] == ["d8_egovernance"] * 9
    # the nearest existing headers under any parent, 2018's Vietnamese wording among them, scored low
    assert "Access to Adequate Information about Construction Permit Procedures Online" in text
    # a hostile decision, a code of another parent, an unknown code: one line each, seeds untouched
    before = (seeds / "subindicators.csv").read_bytes()
    for decision, message in [("=cmd|' /C calc'!A0", r"decision .* is not accept, new or a code"),
                              ("papi_d1_01", r"papi_d1_01 belongs to d1_participation, not d8_egovernance"),
                              ("papi_d9_99", r"'papi_d9_99' is not a code of papi")]:
        for r in review:
            r["decision"] = decision
        _write(out, review)
        with pytest.raises(crosswalk.CrosswalkError, match=r"review-undp-papi-2019-indicators\.csv, line 2: " + message):
            crosswalk.apply("undp-papi-2019-indicators", out, settings)
        assert (seeds / "subindicators.csv").read_bytes() == before
    for r in review:
        r["decision"] = "new"
    _write(out, review)
    said = crosswalk.apply("undp-papi-2019-indicators", out, settings)
    assert "(121 known, 0 accepted, 9 new codes)" in said
    # numbered after 2018's papi_d8_10..14 (the seed script, reading 2019 first, gave them 01..09)
    renumber = {f"papi_d8_{i:02d}": f"papi_d8_{i + 14:02d}" for i in range(1, 10)}
    assert _year_rows(seeds, "papi", 2019) == {(s, h, n, renumber.get(c, c)) for s, h, n, c in _year_rows(SEEDS, "papi", 2019)}
    names = {d["subindicator_code"]: d["name_en"] for d in _read(seeds / "subindicators.csv")}
    real = {d["subindicator_code"]: d["name_en"] for d in _read(SEEDS / "subindicators.csv")}
    assert all(names[new] == real[old] for old, new in renumber.items())
    result = _parse("undp-papi-2019-indicators", originals, seeds)
    assert {r.component_code for r in result.rows if r.grain == "subindicator" and r.component_code.startswith("papi_d8")} \
        == set(renumber.values())
