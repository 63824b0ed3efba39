"""The nightly watch for new editions: the first step of every live or mirrored run.

Each family declaration (catalogue/<family>.yml) names the publisher pages where a new edition
appears (`watch:`) and how to recognise one: a link whose URL matches a pattern with the year, or a
page for a year that answers. The watch reads each page with the same bounded, allowlisted,
conditional fetch as every file (a page's host is allowed because a declaration names it), and:

* a year the family declares already: nothing to say;
* a year it does not declare: "new edition available: PCI 2025 — <link> (not declared yet)", a
  warning in the run summary, `govwh status` and the Airflow task log, never a failed run; where
  the link is the family's own data file (`land: true`) in a layout it declares for that year, the
  file is taken in that night: landed and parsed like a declared edition (ingest.catalogue adds it
  while the file's year stays undeclared; a file that fails a guard stops the run with one line and
  loads nothing, as any file does);
* a page that does not answer (404, a server error, a refused redirect): reported once, the night
  it changes, and listed by `govwh status` until it answers again.

What it saw is appended to <data>/watch/seen.jsonl (one line per page per night) and the state it
compares with is <data>/watch/state.json (each page's validators, status and links, and the
editions found), written atomically. In bundle mode (the embedded data, offline) it does nothing.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import requests

from . import catalogue
from .config import Settings
from .errors import CatalogueError, FetchError, PipelineError
from .safetext import escape

log = logging.getLogger(__name__)

MAX_PAGE_BYTES = 4 * 1024 * 1024
MAX_LINKS = 20_000
MAX_HREF = 2_000


@dataclass(frozen=True)
class Finding:
    kind: str  # new | taken | page
    family: str
    indicator: str
    year: int | None
    url: str
    text: str


def state_path(settings: Settings) -> Path:
    return settings.data_dir / "watch" / "state.json"


def read_state(settings: Settings) -> dict:
    path = state_path(settings)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_state(settings: Settings, state: dict) -> None:
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _append_seen(settings: Settings, records: list[dict]) -> None:
    path = settings.data_dir / "watch" / "seen.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and len(self.hrefs) < MAX_LINKS:
            for name, value in attrs:
                if name == "href" and value and len(value) <= MAX_HREF:
                    self.hrefs.append(value.strip())


def links_of(html: str, base: str) -> list[str]:
    """Every <a href> of a page, made absolute against the page's URL (http and https only)."""
    parser = _Links()
    parser.feed(html)
    out = []
    for href in parser.hrefs:
        url = urljoin(base, href)
        if urlparse(url).scheme in ("http", "https"):
            out.append(url)
    return list(dict.fromkeys(out))


def page_url(page: str, settings: Settings, year: int | None = None) -> str:
    """The page as this run reads it: the publisher's URL, or its path on the mirror."""
    url = page.replace("{year}", str(year)) if year is not None else page
    if settings.source_mode == "mirror":
        parsed = urlparse(url)
        return settings.mirror.rstrip("/") + parsed.path + (f"?{parsed.query}" if parsed.query else "")
    return url


def _get(url: str, settings: Settings, session: requests.Session, previous: dict | None) -> tuple[int, str, dict]:
    """(status, body, validators) of one page: bounded, allowlisted, conditional (304 -> status 304,
    no body). Never raises for an HTTP status; a refused origin or a broken connection is a FetchError."""
    from .fetch import _open, allowed_origins

    origins = allowed_origins(settings)  # the declared origins and watch pages (catalogue.origin_bases)
    headers = {"Accept": "text/html,application/xhtml+xml"}
    if previous and previous.get("status") == 200:
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]
    deadline = time.monotonic() + settings.fetch_deadline
    resp, _final = _open(url, session, headers, settings, origins, deadline)
    with resp:
        validators = {"etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified")}
        if resp.status_code != 200:
            return resp.status_code, "", validators
        body, size = [], 0
        for chunk in resp.iter_content(1 << 16):
            size += len(chunk)
            if size > MAX_PAGE_BYTES:
                raise FetchError(url, f"page exceeded {MAX_PAGE_BYTES} bytes; not read")
            if time.monotonic() > deadline:
                raise FetchError(url, f"page too slow: not complete within {settings.fetch_deadline:g} s")
            body.append(chunk)
        data = b"".join(body)
    return 200, data.decode(resp.encoding or "utf-8", errors="replace"), validators


def check(settings: Settings, session: requests.Session | None = None) -> list[Finding]:
    """Read every declared page once; record what was seen; return what to report this night."""
    if settings.source_mode == "bundle":
        return []
    from .fetch import make_session

    own = session is None
    session = session or make_session(settings)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    state = read_state(settings)
    pages: dict = state.setdefault("pages", {})
    found: dict = state.setdefault("found", {})
    families = catalogue.families(settings.catalogue_dir)
    findings: list[Finding] = []
    seen: list[dict] = []
    # each page is read once a night, whichever families watch it (PAR INDEX and SIPAS share one)
    readers: dict[str, list[tuple]] = {}
    for fam in families:
        for w in fam.watch:
            for url, year in _targets(w, set(fam.years), settings):
                readers.setdefault(url, []).append((fam, w, year))
    try:
        for url, these in readers.items():
            before = pages.get(url, {})
            entry, moved = _look(url, these, before, settings, session, now)
            if entry["status"] == 200:  # what this page links now decides (a link taken away is dropped)
                for key in [k for k, v in found.items() if v.get("page") == url]:
                    del found[key]
            pages[url] = entry
            seen.append({"at": now, "family": ", ".join(dict.fromkeys(fam.id for fam, _w, _y in these)),
                         "page": url, "status": entry["status"], "confirmed": all(w.confirmed for _f, w, _y in these),
                         "matched": len(entry["links"])})
            findings += moved
            for fam, w, _year in these:
                findings += _editions(fam, w, url, _own_links(w, entry["links"]), found, now)
        declared = {fam.id: set(fam.years) for fam in families}
        for key in [k for k, v in found.items() if v.get("year") in declared.get(v.get("family"), ())]:
            del found[key]  # declared since: the declaration's own line takes over
        state["last_check"] = {"at": now, "findings": [asdict(f) for f in findings]}
        _write_state(settings, state)
        _append_seen(settings, seen)
    finally:
        if own:
            session.close()
    for f in findings:
        log.warning("%s", f.text)
    return findings


def _targets(w, declared: set[int], settings: Settings) -> list[tuple[str, int | None]]:
    """The URLs one watch entry reads: its page, or its page for each year after the last declared."""
    if w.links:
        return [(page_url(w.page, settings), None)]
    first = max(w.from_year, max(declared, default=0) + 1)
    return [(page_url(w.page, settings, y), y) for y in range(first, datetime.now().year + 1)]


def _look(url: str, these: list[tuple], before: dict, settings: Settings, session, now: str
          ) -> tuple[dict, list[Finding]]:
    """One page read for the watch entries `these` ((family, watch, year) each): its state entry
    (status, validators, since, the links any of them matches as 'year<TAB>link'), and the finding
    that it stopped answering, the night it does."""
    fam, w, _year = these[0]
    try:
        status, body, validators = _get(url, settings, session, before)
        problem = None if status in (200, 304) else f"HTTP {status}"
    except (FetchError, requests.RequestException) as exc:
        status, body, validators, problem = 0, "", {}, str(exc)
    if w.answers and status == 404:
        problem = None  # a year not out yet: the page answers for it when it is
    entry = {"status": status, "checked_at": now, **{k: v for k, v in validators.items() if v}}
    if problem:
        entry.update(problem=problem, since=before.get("since") if before.get("problem") else now,
                     links=before.get("links", []))
        if before.get("problem"):
            return entry, []
        declared_in = ", ".join(dict.fromkeys(f.path.name for f, _w, _y in these))
        return entry, [Finding("page", fam.id, fam.indicator, None, url,
                               f"watch: {escape(url)} does not answer ({escape(problem)}); the page may have "
                               f"moved: update `watch` in {declared_in}")]  # once, the night it stops
    if status == 304:
        entry.update(links=before.get("links", []), since=before.get("since", now))
        return entry, []
    entry["since"] = now if before.get("problem") or not before else before.get("since", now)
    links: set[str] = set()
    hrefs = links_of(body, url) if any(w.links for _f, w, _y in these) else []
    for _f, w, year in these:
        if w.links:
            links |= _matches(w.links, hrefs)
        elif year is not None and re.search(w.answers.replace("{year}", str(year)), body):
            links.add(f"{year}\t{url}")
    entry["links"] = sorted(links)
    return entry, []


def _own_links(w, links: list[str]) -> list[str]:
    """Of a page's recorded links (matched by any family watching it), those w's pattern matches."""
    if not w.links:
        return links
    return sorted(_matches(w.links, [item.split("\t", 1)[1] for item in links]))


def _editions(fam, w, page: str, links: list[str], found: dict, now: str) -> list[Finding]:
    """What a page's links say of editions the family does not declare: available, or taken in
    (recorded in `found`) where the link is the family's own workbook (`land`)."""
    out = []
    name = fam.indicator.upper().replace("_", " ")  # PCI, PAPI, PAR INDEX, SIPAS
    for item in links:
        y, link = item.split("\t", 1)
        y = int(y)
        if y in fam.years or y < w.from_year:
            continue
        if not w.land:
            out.append(Finding("new", fam.id, fam.indicator, y, link,
                               f"new edition available: {name} {y} — {escape(link)} (not declared yet)"))
            continue
        try:
            fam.found_file(y, link)
        except CatalogueError as exc:
            out.append(Finding("new", fam.id, fam.indicator, y, link, f"new edition available: {name} {y} — "
                               f"{escape(link)} (not declared yet; not taken in: {exc})"))
            continue
        key = f"{fam.id}:{y}"
        found[key] = {"family": fam.id, "year": y, "url": link, "page": page,
                      "first_seen": found.get(key, {}).get("first_seen", now)}
        out.append(Finding("taken", fam.id, fam.indicator, y, link, f"new edition taken in: {name} {y} — "
                           f"{escape(link)} (not declared yet: add its line to catalogue/{fam.path.name})"))
    return out


def _matches(pattern: str, links: list[str]) -> set[str]:
    rule = re.compile(pattern)
    out = set()
    for link in links:
        m = rule.search(unquote(link)) or rule.search(link)
        if m:
            try:
                year = int(m.group("year"))
            except (TypeError, ValueError):
                continue
            if 1990 <= year <= datetime.now().year + 1:
                out.add(f"{year}\t{link}")
    return out


def found_files(settings: Settings) -> list[dict]:
    """File specs of the editions the watch took in and no declaration holds yet (live and mirror
    runs only): ingest.catalogue adds them to the catalogue."""
    if settings.source_mode == "bundle":
        return []
    state = read_state(settings)
    families = {fam.id: fam for fam in catalogue.families(settings.catalogue_dir)}
    specs = []
    for key, item in sorted(state.get("found", {}).items()):
        fam = families.get(item.get("family"))
        if fam is None or not isinstance(item.get("year"), int) or item["year"] in fam.years:
            continue
        try:
            specs.append(fam.found_file(item["year"], str(item.get("url", ""))))
        except CatalogueError as exc:
            log.warning("watch: %s no longer taken in: %s", key, exc)
    return specs


def last_findings(settings: Settings) -> list[str]:
    """What the last check reported, for the run summary."""
    return [f.get("text", "") for f in read_state(settings).get("last_check", {}).get("findings", [])]


def standing(settings: Settings) -> list[str]:
    """For `govwh status`: when the watch last looked, pages that do not answer, editions available."""
    state = read_state(settings)
    last = state.get("last_check")
    if not last:
        return ["Watch for new editions: never run (it runs in live and mirror mode, first step of the run)"]
    pages = state.get("pages", {})
    lines = [f"Watch for new editions: last checked {last['at']}, {len(pages)} pages"]
    for url, p in sorted(pages.items()):
        if p.get("problem"):
            lines.append(f"  page not answering since {p.get('since')}: {escape(url)} ({escape(p['problem'])})")
    for item in sorted(state.get("found", {}).values(), key=lambda v: (v.get("family", ""), v.get("year", 0))):
        lines.append(f"  taken in, not declared yet: {item.get('family')} {item.get('year')} — {escape(str(item.get('url')))}")
    for f in last.get("findings", []):
        if f.get("kind") == "new":
            lines.append(f"  {f.get('text')}")
    return lines


def check_quietly(settings: Settings) -> list[Finding]:
    """check(), but a failure of the watch itself is a warning: it never fails the run."""
    try:
        return check(settings)
    except (PipelineError, OSError, ValueError, re.error) as exc:
        log.warning("watch: not checked: %s", exc, exc_info=True)
        return [Finding("page", "", "", None, "", f"watch: not checked ({exc})")]
