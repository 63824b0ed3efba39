"""A file the parser refused is never what a conditional GET is validated against (issue #20, item 9).

The publisher serves a broken PCI 2016 workbook with an ETag and a Last-Modified date; the run
lands it (raw files are kept for good) and the parser refuses it. Before, the next run sent that
file's ETag, the server answered 304 Not Modified, and every run stopped on the same file with the
same error, even once the publisher had put the good file back under the same validators. Now the
rejection is recorded (raw/rejections.jsonl, append-only), the next fetch downloads the file afresh
without its validators, the same bytes again end in an error that says so, and the fixed file goes
through. Through the real command line against a real HTTP server on 127.0.0.1; the broken
workbook is a SYNTHETIC test fixture, never real figures.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace

import pytest

from ingest import catalogue
from ingest.errors import FetchError, LayoutError, StorageError
from ingest.fetch import fetch
from ingest.landing import ManifestRecord, RawStore

from conftest import (Route, assert_one_line_error, assert_untouched, garbled_workbook, govwh, make_settings, query,
                      serve_originals, snapshot)

PUB = catalogue.get("vcci-pci-2016")
PATH = "/" + PUB.origin_path
ETAG = '"pci-2016-v1"'  # the publisher keeps its validators when it puts the good file back
LAST_MODIFIED = "Wed, 01 Jan 2025 00:00:00 GMT"
REFUSED = r"vcci-pci-2016 \(PCI_2016\.xlsx\), sheet 'Summary_VN', row 2: no table found below the header"
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _serve(server, originals, body: bytes) -> Route:
    serve_originals(server, originals, overrides={PUB.id: body})
    route = server.routes[PATH]
    route.etag, route.last_modified = ETAG, LAST_MODIFIED
    return route


def _govwh(settings, server, *args):
    return govwh(settings, *args, env={"GOVWH_SOURCE": "mirror", "GOVWH_MIRROR": server.base})


def _read(store: RawStore) -> list[dict]:
    """raw/rejections.jsonl, line by line."""
    if not store.rejections.exists():
        return []
    return [json.loads(line) for line in store.rejections.read_text(encoding="utf-8").splitlines()]


def _unconditional(request: dict) -> bool:
    return "if-none-match" not in request and "if-modified-since" not in request


def _records(settings, url: str) -> list[dict]:
    return [r for r in RawStore(settings.raw_dir).records() if r["url"] == url]


def _verdicts(settings, url: str) -> list[str]:
    return [v["verdict"] for v in _read(RawStore(settings.raw_dir)) if v["url"] == url]


@pytest.mark.slow
def test_a_rejected_file_is_downloaded_afresh_and_the_fixed_file_goes_through(warehouse_copy, originals,
                                                                             http_server):
    bad, good = garbled_workbook(), (originals / PUB.original_relpath).read_bytes()
    route = _serve(http_server, originals, bad)
    other = http_server.routes["/" + catalogue.get("vcci-pci-2015").origin_path]
    settings = replace(warehouse_copy, source_mode="mirror", mirror=http_server.base)
    url = http_server.base + PATH
    before = snapshot(settings)

    # 1. the broken file lands, is kept, and the parser refuses it: recorded as rejected
    assert_one_line_error(_govwh(settings, http_server, "run", "--direct"), REFUSED + "$")
    (landed,) = _records(settings, url)
    assert (landed["outcome"], landed["sha256"], landed["etag"]) == ("landed", _sha(bad), ETAG)
    rejection = RawStore(settings.raw_dir).rejection(url, _sha(bad))
    assert rejection is not None and re.search(REFUSED, rejection["reason"])
    assert_untouched(settings, before)

    # 2. the server still serves it and honours If-None-Match / If-Modified-Since: the client sends
    #    neither for the rejected file, downloads it again, and the error says what happened
    proc = _govwh(settings, http_server, "run", "--direct")
    line = assert_one_line_error(proc, REFUSED + rf"; this is the file rejected on {WHEN} "
                                       rf"\(sha256 {_sha(bad)[:12]}…\): " + re.escape(url)
                                       + rf" served the same bytes again at {WHEN} to a download "
                                       r"without the file's ETag / Last-Modified")
    assert "`govwh run --force-fetch` would get the same" in line and line.endswith("until the publisher fixes it")
    assert _unconditional(route.requests[-1]) and route.requests[-1].get("cache-control") == "no-cache"
    assert other.requests[-1].get("if-none-match") == other.etag  # a file that parsed keeps its conditional GET
    assert [(r["outcome"], r["http_status"], r["sha256"]) for r in _records(settings, url)] == [
        ("landed", 200, _sha(bad)), ("unchanged", 200, _sha(bad))]
    assert _verdicts(settings, url) == ["rejected"]  # one rejection per file, however often it comes back
    assert_untouched(settings, before)

    # 3. the publisher puts the good file back under the same ETag and date: not a 304, it goes through
    route.body = good
    proc = _govwh(settings, http_server, "run", "--direct")
    assert proc.returncode == 0, proc.stderr
    assert _unconditional(route.requests[-1])
    latest = RawStore(settings.raw_dir).latest(url)
    assert (latest["outcome"], latest["sha256"]) == ("landed", _sha(good))
    assert query(settings, "select distinct landed_sha256 from marts.fct_observations "
                           "where publication_id = 'vcci-pci-2016'") == [(_sha(good),)]
    after = snapshot(settings)
    assert after.serving_sha256 != before.serving_sha256 and after.publish_log != before.publish_log
    raw = {p.name: p.read_bytes() for p in settings.raw_dir.glob("*/*.xlsx")}
    assert raw[f"{_sha(bad)}.xlsx"] == bad and raw[f"{_sha(good)}.xlsx"] == good  # both kept
    for name, sha in before.raw_files.items():
        assert after.raw_files[name] == sha

    # 4. the good file is validated again: a 304, nothing new
    proc = _govwh(settings, http_server, "run", "--direct")
    assert proc.returncode == 0, proc.stderr
    assert route.requests[-1].get("if-none-match") == ETAG
    latest = RawStore(settings.raw_dir).latest(url)
    assert (latest["outcome"], latest["sha256"]) == ("not_modified", _sha(good))
    assert "nothing new" in proc.stdout


@pytest.mark.slow
def test_fetch_then_parse_without_airflow(originals, http_server, tmp_path):
    """`govwh fetch` and `govwh parse` as separate steps: a second parse with nothing fetched says
    to fetch; a fetch after the rejection downloads afresh; the fixed file parses and is accepted."""
    bad, good = garbled_workbook(), (originals / PUB.original_relpath).read_bytes()
    route = _serve(http_server, originals, bad)
    settings = make_settings(tmp_path / "data", source_mode="mirror", mirror=http_server.base)
    url = http_server.base + PATH

    assert _govwh(settings, http_server, "fetch").returncode == 0
    assert_one_line_error(_govwh(settings, http_server, "parse"), REFUSED + "$")
    proc = _govwh(settings, http_server, "parse")  # nothing fetched since the rejection
    assert_one_line_error(proc, REFUSED + rf"; this file \(sha256 {_sha(bad)[:12]}…\) was already rejected on {WHEN} "
                                r"and nothing was fetched since: `govwh fetch` \(or `govwh run`\) downloads it afresh")
    hits = route.hits
    proc = _govwh(settings, http_server, "fetch")
    assert proc.returncode == 0, proc.stderr
    assert route.hits == hits + 1 and _unconditional(route.requests[-1])
    assert_one_line_error(_govwh(settings, http_server, "parse"),
                          REFUSED + rf"; this is the file rejected on {WHEN} .* served the same bytes again")

    route.body = good
    assert _govwh(settings, http_server, "fetch").returncode == 0
    assert _unconditional(route.requests[-1])
    proc = _govwh(settings, http_server, "parse")
    assert proc.returncode == 0, proc.stderr
    parsed = settings.parsed_dir / PUB.parsed_folder / f"{PUB.id}.parquet"
    assert _landed_sha256(parsed) == [(_sha(good),)]
    assert _verdicts(settings, url) == ["rejected"]  # the good bytes were never rejected: nothing to accept
    assert _govwh(settings, http_server, "fetch").returncode == 0
    assert route.requests[-1].get("if-none-match") == ETAG
    assert {p.name for p in settings.raw_dir.glob("*/*.xlsx")} >= {f"{_sha(bad)}.xlsx", f"{_sha(good)}.xlsx"}


def _landed_sha256(parquet) -> list[tuple]:
    import duckdb

    con = duckdb.connect()
    try:
        return con.execute("select distinct landed_sha256 from read_parquet(?)", [str(parquet)]).fetchall()
    finally:
        con.close()


# ------------------------------------------------------------------ the parts, in-process
BODY = b"SYNTHETIC workbook bytes " * 400


def test_fetch_sends_no_validators_for_a_rejected_landing_and_again_once_accepted(tmp_path, http_server):
    route = http_server.add(PATH, Route(body=BODY, etag=ETAG, last_modified=LAST_MODIFIED))
    settings = make_settings(tmp_path / "data", source_mode="mirror", mirror=http_server.base)
    url = http_server.base + PATH
    first = fetch(PUB, settings)
    second = fetch(PUB, settings)
    assert (first.outcome, second.outcome) == ("landed", "not_modified")
    assert route.requests[-1]["if-none-match"] == ETAG and route.requests[-1]["if-modified-since"] == LAST_MODIFIED

    store = RawStore(settings.raw_dir)
    store.record_verdict(store.latest(url), "rejected", "SYNTHETIC: refused by a test")
    third = fetch(PUB, settings)  # the latest record is a 304 pointing at the rejected bytes: still not sent
    assert third.outcome == "unchanged" and third.sha256 == first.sha256
    assert _unconditional(route.requests[-1]) and route.requests[-1]["cache-control"] == "no-cache"

    store = RawStore(settings.raw_dir)
    store.record_verdict(store.latest(url), "accepted")
    fourth = fetch(PUB, settings)
    assert fourth.outcome == "not_modified" and route.requests[-1]["if-none-match"] == ETAG
    assert len(list(settings.raw_dir.glob("*/*.xlsx"))) == 1


def test_a_server_that_answers_304_to_a_download_afresh_is_not_taken_for_the_rejected_file(tmp_path, http_server):
    route = http_server.add(PATH, Route(body=BODY, etag=ETAG))
    settings = make_settings(tmp_path / "data", source_mode="mirror", mirror=http_server.base)
    fetch(PUB, settings)
    store = RawStore(settings.raw_dir)
    store.record_verdict(store.latest(http_server.base + PATH), "rejected", "SYNTHETIC: refused by a test")
    route.statuses = [304]  # a broken cache: 304 to a request without validators
    with pytest.raises(FetchError, match=r"HTTP 304 Not Modified"):
        fetch(PUB, settings)
    assert [r["outcome"] for r in store.records()] == ["landed"]


def _landed(tmp_path, url="http://127.0.0.1:9/data-raw/PCI/PCI_2016.xlsx"):
    store = RawStore(tmp_path / "raw")
    store.append(ManifestRecord("2026-01-01T00:00:00+00:00", PUB.id, url, url, "landed", 200, "ab" * 32, 10,
                                ETAG, None, "ab/" + "ab" * 32 + ".xlsx"))
    return store, store.latest(url)


def test_judging_records_a_refused_file_once_and_names_it_the_next_time(tmp_path):
    store, rec = _landed(tmp_path)
    with pytest.raises(LayoutError) as first:
        with store.judging(rec):
            raise LayoutError("vcci-pci-2016 (PCI_2016.xlsx)", "SYNTHETIC refusal", sheet="Summary_VN", row=2)
    assert str(first.value) == "vcci-pci-2016 (PCI_2016.xlsx), sheet 'Summary_VN', row 2: SYNTHETIC refusal"
    with pytest.raises(LayoutError) as second:  # the same class, its fields kept
        with RawStore(tmp_path / "raw").judging(rec):
            raise LayoutError("vcci-pci-2016 (PCI_2016.xlsx)", "SYNTHETIC refusal", sheet="Summary_VN", row=2)
    assert second.value.sheet == "Summary_VN" and second.value.row == 2
    assert re.fullmatch(r"vcci-pci-2016 \(PCI_2016\.xlsx\), sheet 'Summary_VN', row 2: SYNTHETIC refusal; "
                        rf"this file \(sha256 abababababab…\) was already rejected on {WHEN} and nothing was fetched "
                        r"since: .*", str(second.value))
    assert isinstance(second.value.__cause__, LayoutError)
    assert [v["verdict"] for v in _read(store)] == ["rejected"]
    with RawStore(tmp_path / "raw").judging(rec):
        pass  # a parser fixed since accepts the same bytes: accepted again, conditional GETs come back
    assert [v["verdict"] for v in _read(store)] == ["rejected", "accepted"]
    assert RawStore(tmp_path / "raw").rejection(rec["url"], rec["sha256"]) is None
    with RawStore(tmp_path / "raw").judging(rec):
        pass  # nothing standing: nothing written
    assert len(_read(store)) == 2


def test_a_full_disk_during_parse_is_no_verdict_on_the_file(tmp_path):
    store, rec = _landed(tmp_path)
    with pytest.raises(StorageError):
        with store.judging(rec):
            raise StorageError("disk full while parsing: SYNTHETIC")
    assert store.rejection(rec["url"], rec["sha256"]) is None and _read(store) == []


def test_a_local_file_rejected_twice_says_to_correct_it(tmp_path):
    store, rec = _landed(tmp_path, url="file:///srv/curated/zz-synthetic.csv")
    for _ in range(2):
        with pytest.raises(LayoutError) as caught:
            with store.judging(rec):
                raise LayoutError("zz-synthetic.csv", "SYNTHETIC refusal", row=9)
    assert re.fullmatch(rf"zz-synthetic\.csv, line 9: SYNTHETIC refusal; /srv/curated/zz-synthetic\.csv is unchanged "
                        rf"since it was rejected on {WHEN} \(sha256 abababababab…\): correct the file and run again",
                        str(caught.value))




def test_a_verdict_that_cannot_be_written_leaves_the_parse_error_as_it_was(tmp_path):
    store, rec = _landed(tmp_path)
    store.rejections.mkdir()  # SYNTHETIC fault: neither readable nor writable as a file
    with pytest.raises(LayoutError) as caught:
        with store.judging(rec):
            raise LayoutError("vcci-pci-2016 (PCI_2016.xlsx)", "SYNTHETIC refusal")
    assert str(caught.value) == "vcci-pci-2016 (PCI_2016.xlsx): SYNTHETIC refusal"
