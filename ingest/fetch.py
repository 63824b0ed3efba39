"""Fetch a publication and land it, unchanged, in the raw store.

HTTP(S) with connect/read timeouts; retries with exponential backoff on connection errors,
429 and 5xx, honouring Retry-After (urllib3's Retry, the well-kept implementation requests
itself builds on); a size cap; an allowlist of hosts re-checked on every redirect hop;
conditional GET (ETag / Last-Modified) so an unchanged publication is not downloaded again.
file:// URLs (the embedded bundle, a manual download) go through the same landing code.
"""
from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .catalogue import ORIGIN_HOST, Publication
from .config import Settings
from .errors import FetchError
from .landing import ManifestRecord, RawStore, now_utc, sha256_file

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
USER_AGENT = "govwh-ingest/0.1 (+open data warehouse of Vietnam governance indicators)"


@dataclass(frozen=True)
class Landed:
    publication_id: str
    url: str
    path: Path
    sha256: str
    size: int
    outcome: str  # landed | unchanged | not_modified


def allowed_hosts(settings: Settings) -> set[str]:
    hosts = {ORIGIN_HOST, *settings.extra_hosts}
    if settings.mirror:
        hosts.add(urlparse(settings.mirror).hostname or "")
    return {h.lower() for h in hosts if h}


def make_session(settings: Settings) -> requests.Session:
    retry = Retry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        backoff_factor=settings.backoff,
        backoff_max=30,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        respect_retry_after_header=True,
        raise_on_status=False,
        redirect=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def fetch(pub: Publication, settings: Settings, store: RawStore | None = None,
          session: requests.Session | None = None) -> Landed:
    store = store or RawStore(settings.raw_dir)
    url = pub.source_url(settings)
    suffix = _suffix(url)
    scheme = urlparse(url).scheme
    if scheme == "file":
        return _fetch_file(pub, url, suffix, store, settings)
    if scheme in ("http", "https"):
        own = session is None
        session = session or make_session(settings)
        try:
            return _fetch_http(pub, url, suffix, store, settings, session)
        finally:
            if own:
                session.close()
    raise FetchError(url, f"unsupported URL scheme {scheme!r}")


def _suffix(url: str) -> str:
    name = Path(urlparse(url).path).name
    for ext in (".csv.gz", ".xlsx", ".xls", ".csv", ".json"):
        if name.endswith(ext):
            return ext
    return Path(name).suffix


def _fetch_file(pub, url, suffix, store: RawStore, settings: Settings) -> Landed:
    src = Path(unquote(urlparse(url).path))
    if not src.is_file():
        raise FetchError(url, "no such file")
    size = src.stat().st_size
    if size > settings.max_bytes:
        raise FetchError(url, f"file is {size} bytes, over the {settings.max_bytes}-byte cap")
    tmp = store.temp_file()
    shutil.copyfile(src, tmp)
    sha = sha256_file(tmp)
    path, new = store.land(tmp, sha, suffix)
    outcome = "landed" if new else "unchanged"
    store.append(ManifestRecord(now_utc(), pub.id, url, url, outcome, None, sha, size, None, None,
                                str(path.relative_to(store.raw_dir))))
    return Landed(pub.id, url, path, sha, size, outcome)


def _check_host(url: str, hosts: set[str], original: str) -> None:
    host = (urlparse(url).hostname or "").lower()
    if host not in hosts:
        raise FetchError(original, f"host {host!r} of {url} is not on the allowlist ({', '.join(sorted(hosts))})")


def _fetch_http(pub, url, suffix, store: RawStore, settings: Settings, session) -> Landed:
    hosts = allowed_hosts(settings)
    previous = store.latest(url)
    headers = {}
    if previous and store.path_for(previous["sha256"], suffix).exists():
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]

    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        _check_host(current, hosts, url)
        try:
            resp = session.get(current, headers=headers, stream=True, allow_redirects=False,
                               timeout=(settings.connect_timeout, settings.read_timeout))
        except requests.RequestException as exc:
            raise FetchError(url, f"{type(exc).__name__}: {exc}") from exc
        if resp.is_redirect:
            target = urljoin(current, resp.headers.get("Location", ""))
            resp.close()
            log.info("redirect %s -> %s", current, target)
            current = target
            continue
        break
    else:
        raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")

    with resp:
        if resp.status_code == 304 and previous:
            store.append(ManifestRecord(now_utc(), pub.id, url, current, "not_modified", 304,
                                        previous["sha256"], previous["size"], previous.get("etag"),
                                        previous.get("last_modified"), previous["raw_path"]))
            path = store.raw_dir / previous["raw_path"]
            return Landed(pub.id, url, path, previous["sha256"], previous["size"], "not_modified")
        if resp.status_code != 200:
            raise FetchError(url, f"HTTP {resp.status_code} {resp.reason} (after retries)")
        declared = resp.headers.get("Content-Length")
        if declared is not None and int(declared) > settings.max_bytes:
            raise FetchError(url, f"response declares {declared} bytes, over the {settings.max_bytes}-byte cap")
        tmp = store.temp_file()
        digest, size = hashlib.sha256(), 0
        try:
            with open(tmp, "wb") as out:
                for chunk in resp.iter_content(chunk_size=1 << 16):
                    size += len(chunk)
                    if size > settings.max_bytes:
                        raise FetchError(url, f"response exceeded the {settings.max_bytes}-byte cap")
                    digest.update(chunk)
                    out.write(chunk)
            if declared is not None and size != int(declared):
                raise FetchError(url, f"truncated download: {size} of {declared} bytes")
        except requests.RequestException as exc:
            tmp.unlink(missing_ok=True)
            raise FetchError(url, f"download interrupted after {size} bytes "
                                  f"(truncated?): {type(exc).__name__}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        sha = digest.hexdigest()
        path, new = store.land(tmp, sha, suffix)
        store.append(ManifestRecord(now_utc(), pub.id, url, current, "landed" if new else "unchanged",
                                    resp.status_code, sha, size, resp.headers.get("ETag"),
                                    resp.headers.get("Last-Modified"),
                                    str(path.relative_to(store.raw_dir))))
        return Landed(pub.id, url, path, sha, size, "landed" if new else "unchanged")
