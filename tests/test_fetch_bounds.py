"""Every fetch ends, through the real command line against a real HTTP server on 127.0.0.1
(`govwh fetch` in mirror mode): huge Retry-After values, a server that crawls or hangs, a
connection cut mid-body, a gzip-encoded response, a redirect to another port, a mirror that
answers 304 forever. Bodies are SYNTHETIC bytes: these tests are about transport."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from ingest import catalogue
from ingest.landing import RawStore

from conftest import LocalServer, Route, assert_one_line_error, assert_untouched, govwh, snapshot

PUB = catalogue.get("vcci-pci-2016")
BODY = b"synthetic workbook bytes " * 400  # 10,000 bytes
FAST = {"GOVWH_RETRIES": "2", "GOVWH_BACKOFF": "0.01", "GOVWH_CONNECT_TIMEOUT": "2", "GOVWH_READ_TIMEOUT": "1",
        "GOVWH_MAX_RETRY_AFTER": "1", "GOVWH_FETCH_DEADLINE": "4"}


def _serve(server, route: Route) -> Route:
    """Every publisher file of the catalogue, synthetic; PCI 2016 behaves as the route says."""
    for pub in catalogue.CATALOGUE:
        server.add("/" + pub.origin_path, Route(body=f"synthetic {pub.id}".encode()))
    return server.add("/" + PUB.origin_path, route)


def _fetch(settings, server, *args, **env):
    return govwh(settings, "fetch", *args, env={"GOVWH_SOURCE": "mirror", "GOVWH_MIRROR": server.base, **FAST, **env})


def _latest(settings, server):
    store = RawStore(settings.raw_dir)
    return store.latest(server.base + "/" + PUB.origin_path)


@pytest.mark.parametrize("retry_after, env, pattern", [
    ("100000", {}, r"PCI_2016\.xlsx: HTTP 429 Too Many Requests \(after 2 retries\)"),
    ("Wed, 21 Oct 2099 07:28:00 GMT", {"GOVWH_MAX_RETRY_AFTER": "600"},
     r"PCI_2016\.xlsx: gave up: the server asked to wait 600 s more, past the 4 s deadline for this file"),
])
def test_a_huge_retry_after_is_capped_and_the_fetch_ends(retry_after, env, pattern, warehouse_copy, http_server):
    _serve(http_server, Route(body=BODY, statuses=[429] * 20, retry_after=retry_after))
    before = snapshot(warehouse_copy)
    started = time.monotonic()
    proc = _fetch(warehouse_copy, http_server, **env)
    assert time.monotonic() - started < 20
    assert_one_line_error(proc, pattern)
    assert_untouched(warehouse_copy, before)


def test_a_server_trickling_bytes_is_cut_off_at_the_deadline(warehouse_copy, http_server):
    _serve(http_server, Route(body=b"x" * 300, trickle=0.25))  # a byte every 0.25 s: no read timeout ever fires
    before = snapshot(warehouse_copy)
    started = time.monotonic()
    proc = _fetch(warehouse_copy, http_server, GOVWH_FETCH_DEADLINE="2")
    assert time.monotonic() - started < 15
    assert_one_line_error(proc, r"PCI_2016\.xlsx: download too slow: \d+ bytes after the 2 s deadline for this file")
    assert_untouched(warehouse_copy, before)


def test_a_server_that_hangs_is_a_read_timeout(warehouse_copy, http_server):
    _serve(http_server, Route(body=BODY, stall=3))
    before = snapshot(warehouse_copy)
    proc = _fetch(warehouse_copy, http_server, GOVWH_RETRIES="1", GOVWH_FETCH_DEADLINE="30")
    assert_one_line_error(proc, r"PCI_2016\.xlsx: the server sent no response for 1 s \(read timeout, after retries\)")
    assert_untouched(warehouse_copy, before)


def test_a_connection_cut_mid_body_is_retried_then_lands(warehouse_copy, http_server):
    route = _serve(http_server, Route(body=BODY, cut_after=[1000]))
    proc = _fetch(warehouse_copy, http_server)
    assert proc.returncode == 0, proc.stderr
    assert route.hits == 2
    rec = _latest(warehouse_copy, http_server)
    assert (warehouse_copy.raw_dir / rec["raw_path"]).read_bytes() == BODY


def test_a_connection_cut_every_time_is_a_truncated_download(warehouse_copy, http_server):
    route = _serve(http_server, Route(body=BODY, cut_after=[1000] * 10))
    before = snapshot(warehouse_copy)
    proc = _fetch(warehouse_copy, http_server)
    assert_one_line_error(proc, r"PCI_2016\.xlsx: truncated download: 1000 of 10000 bytes \(the connection closed "
                                r"early\) \(after 3 attempts\)")
    assert route.hits == 3
    assert_untouched(warehouse_copy, before)


def test_a_gzip_encoded_response_lands_decoded(warehouse_copy, http_server):
    _serve(http_server, Route(body=BODY, gzip=True))
    proc = _fetch(warehouse_copy, http_server)
    assert proc.returncode == 0, proc.stderr
    rec = _latest(warehouse_copy, http_server)
    assert rec["size"] == len(BODY) and (warehouse_copy.raw_dir / rec["raw_path"]).read_bytes() == BODY


def test_a_redirect_to_another_port_on_an_allowed_host_is_refused(warehouse_copy, http_server):
    other = LocalServer()
    try:
        other.add("/elsewhere.xlsx", Route(body=BODY))
        route = _serve(http_server, Route(redirect_to=other.base + "/elsewhere.xlsx"))
        before = snapshot(warehouse_copy)
        proc = _fetch(warehouse_copy, http_server)
        port = other.base.rsplit(":", 1)[1]
        assert_one_line_error(proc, rf"PCI_2016\.xlsx: origin http://127\.0\.0\.1:{port} of .* is not on the allowlist")
        assert route.hits == 1 and other.routes["/elsewhere.xlsx"].hits == 0
        assert_untouched(warehouse_copy, before)
    finally:
        other.close()


def test_leftovers_of_a_killed_download_are_removed_at_the_next_fetch(warehouse_copy, http_server):
    _serve(http_server, Route(body=BODY))
    leftover = warehouse_copy.raw_dir / ".incoming-killed"
    leftover.write_bytes(b"half a download")
    proc = _fetch(warehouse_copy, http_server)
    assert proc.returncode == 0, proc.stderr
    assert "removed 1 partial download(s)" in proc.stdout and not leftover.exists()


def test_force_re_fetches_past_a_mirror_that_answers_304(warehouse_copy, http_server):
    """A bad file landed; the mirror restores the good one with the old validators, so it answers
    304 to every conditional GET. `govwh fetch --force` ignores the validators."""
    route = _serve(http_server, Route(body=b"SYNTHETIC bad bytes", etag='"v1"'))
    assert _fetch(warehouse_copy, http_server).returncode == 0
    bad = _latest(warehouse_copy, http_server)
    route.body = BODY  # the good file is back, with the same ETag
    assert _fetch(warehouse_copy, http_server).returncode == 0
    assert _latest(warehouse_copy, http_server)["sha256"] == bad["sha256"]  # 304: still the bad one
    proc = _fetch(warehouse_copy, http_server, "--force")
    assert proc.returncode == 0, proc.stderr
    good = _latest(warehouse_copy, http_server)
    assert good["outcome"] == "landed" and (warehouse_copy.raw_dir / good["raw_path"]).read_bytes() == BODY
    assert (warehouse_copy.raw_dir / bad["raw_path"]).exists()  # nothing deleted


def test_settings_from_the_environment_are_validated(warehouse_copy):
    for env, pattern in [({"GOVWH_RETRIES": "many"}, r"GOVWH_RETRIES='many' is not a number"),
                         ({"GOVWH_FETCH_DEADLINE": "-5"}, r"GOVWH_FETCH_DEADLINE='-5' is outside \[1, 86400\]"),
                         ({"GOVWH_SOURCE": "mirror", "GOVWH_MIRROR": "file:///etc"},
                          r"GOVWH_MIRROR='file:///etc' is not an http\(s\) URL"),
                         ({"GOVWH_ALLOWED_HOSTS": "evil.example/path"}, r"GOVWH_ALLOWED_HOSTS: 'evil.example/path' is not"),
                         ({"GOVWH_WAREHOUSE": "/tmp/x.csv"}, r"GOVWH_WAREHOUSE='/tmp/x.csv' must name a \.duckdb file")]:
        assert_one_line_error(govwh(replace(warehouse_copy), "fetch", env=env), pattern)
