"""Fetch and land against a real HTTP server on 127.0.0.1 (no patched requests).

Bodies here are synthetic bytes: these tests are about transport, not content.
"""
from __future__ import annotations

import json
import os

import pytest

from ingest import catalogue
from ingest.errors import FetchError
from ingest.fetch import fetch
from ingest.landing import RawStore

from conftest import Route, make_settings

PUB = catalogue.get("vcci-pci-2016")
BODY = b"synthetic workbook bytes " * 1000


def _mirror(tmp_path, server, **kw):
    return make_settings(tmp_path / "data", source_mode="mirror", mirror=server.base, **kw)


def _manifest(settings):
    return RawStore(settings.raw_dir).records()


def test_lands_by_hash_and_records_manifest(tmp_path, http_server):
    http_server.add("/" + PUB.origin_path, Route(body=BODY, etag='"v1"'))
    settings = _mirror(tmp_path, http_server)
    landed = fetch(PUB, settings)
    assert landed.outcome == "landed"
    assert landed.path.read_bytes() == BODY
    assert landed.path.name.startswith(landed.sha256) and landed.path.suffix == ".xlsx"
    assert not os.access(landed.path, os.W_OK) or os.geteuid() == 0  # stored read-only (root ignores modes)
    assert oct(landed.path.stat().st_mode & 0o777) == "0o444"
    (rec,) = _manifest(settings)
    assert rec["url"] == http_server.base + "/" + PUB.origin_path
    assert (rec["sha256"], rec["size"], rec["http_status"], rec["etag"]) == (landed.sha256, len(BODY), 200, '"v1"')


def test_conditional_get_does_not_download_again(tmp_path, http_server):
    route = http_server.add("/" + PUB.origin_path, Route(body=BODY, etag='"v1"'))
    settings = _mirror(tmp_path, http_server)
    first = fetch(PUB, settings)
    second = fetch(PUB, settings)
    assert second.outcome == "not_modified" and second.sha256 == first.sha256
    records = _manifest(settings)
    assert [r["outcome"] for r in records] == ["landed", "not_modified"]
    assert [r["http_status"] for r in records] == [200, 304]
    assert len(list(settings.raw_dir.glob("*/*.xlsx"))) == 1
    assert route.hits == 2


def test_same_bytes_twice_change_nothing_and_new_bytes_never_overwrite(tmp_path, http_server):
    path = "/" + PUB.origin_path
    http_server.add(path, Route(body=BODY))  # no validators: downloaded every time
    settings = _mirror(tmp_path, http_server)
    a = fetch(PUB, settings)
    b = fetch(PUB, settings)
    assert (a.outcome, b.outcome) == ("landed", "unchanged") and a.path == b.path
    http_server.add(path, Route(body=BODY + b"revised"))
    c = fetch(PUB, settings)
    assert c.outcome == "landed" and c.path != a.path
    assert a.path.read_bytes() == BODY  # the earlier file is still there, untouched
    assert len(_manifest(settings)) == 3


def test_server_error_then_success_is_retried(tmp_path, http_server):
    route = http_server.add("/" + PUB.origin_path, Route(body=BODY, statuses=[500, 503]))
    landed = fetch(PUB, _mirror(tmp_path, http_server))
    assert landed.outcome == "landed" and route.hits == 3


def test_persistent_server_error_is_a_clear_error_and_lands_nothing(tmp_path, http_server):
    http_server.add("/" + PUB.origin_path, Route(body=BODY, statuses=[500] * 10))
    settings = _mirror(tmp_path, http_server)
    with pytest.raises(FetchError, match=r"PCI_2016\.xlsx: HTTP 500 .*after 3 retries"):
        fetch(PUB, settings)
    assert _manifest(settings) == []
    assert not list(settings.raw_dir.glob("*/*"))


def test_redirect_off_the_allowlist_is_refused(tmp_path, http_server):
    route = http_server.add("/" + PUB.origin_path, Route(redirect_to="http://example.org/PCI_2016.xlsx"))
    settings = _mirror(tmp_path, http_server)
    with pytest.raises(FetchError, match=r"origin http://example.org:80 .* is not on the allowlist"):
        fetch(PUB, settings)
    assert route.hits == 1 and _manifest(settings) == []


def test_redirect_within_the_allowlist_is_followed(tmp_path, http_server):
    http_server.add("/moved.xlsx", Route(body=BODY))
    http_server.add("/" + PUB.origin_path, Route(redirect_to=http_server.base + "/moved.xlsx"))
    landed = fetch(PUB, _mirror(tmp_path, http_server))
    assert landed.path.read_bytes() == BODY
    assert _manifest(_mirror(tmp_path, http_server))[0]["final_url"].endswith("/moved.xlsx")


def test_response_over_the_size_cap_is_refused(tmp_path, http_server):
    http_server.add("/" + PUB.origin_path, Route(body=BODY))
    settings = _mirror(tmp_path, http_server, max_bytes=1000)
    with pytest.raises(FetchError, match=r"over the 1000-byte cap"):
        fetch(PUB, settings)
    assert not list(settings.raw_dir.glob("*/*"))


def test_truncated_transfer_is_detected_and_lands_nothing(tmp_path, http_server):
    http_server.add("/" + PUB.origin_path, Route(body=BODY[:5000], declared_length=len(BODY)))
    settings = _mirror(tmp_path, http_server)
    with pytest.raises(FetchError, match=r"truncated"):
        fetch(PUB, settings)
    assert not list(settings.raw_dir.glob("*/*")) and not list(settings.raw_dir.glob(".incoming-*"))


def test_file_urls_go_through_the_same_landing(tmp_path):
    settings = make_settings(tmp_path / "data")  # bundle mode: file:// URLs
    a = fetch(PUB, settings)
    b = fetch(PUB, settings)
    assert (a.outcome, b.outcome) == ("landed", "unchanged")
    assert a.path.read_bytes() == PUB.bundle_file.read_bytes()
    lines = settings.manifest.read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == ["landed", "unchanged"]
