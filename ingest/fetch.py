"""Fetch a publication and land it, unchanged, in the raw store. Every fetch ends.

HTTP(S) through requests with urllib3's `Retry` (the well-kept implementation requests builds
on): exponential backoff on connection errors, 429 and 5xx, honouring Retry-After but never
longer than `max_retry_after` (GOVWH_MAX_RETRY_AFTER). Bounds on everything else:

* connect and read timeouts on every socket operation, and one overall deadline per file
  (GOVWH_FETCH_DEADLINE): a server trickling a byte every few seconds is cut off at it;
* a size cap on the body, counted after decoding (a gzip bomb is cut off too), and the
  declared Content-Length compared with the bytes that came over the wire (a correct
  `Content-Encoding: gzip` response is accepted, a short one is refused as truncated);
* a connection lost mid-body is retried from the start, a bounded number of times;
* an allowlist of origins (scheme, host and port) checked on every redirect hop;
* conditional GET (ETag / Last-Modified), unless `force` is asked for (`govwh fetch --force`,
  or the Airflow run's `force_fetch` parameter): then the file is downloaded whatever the
  server says about it (with `Cache-Control: no-cache`, past any cache on the way);
* never validated against a rejected landing: when the parse step refused the file last landed
  from a URL (landing.py's rejections.jsonl), the next fetch sends none of its validators and
  downloads the file afresh, so a 304 cannot bring the rejected file back.

file:// URLs (the embedded bundle, a curated file) go through the same landing code.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import catalogue
from .catalogue import LocalBundle, Publication, local_file_problem
from .config import Origin, Settings, url_origin
from .errors import FetchError
from .landing import ManifestRecord, RawStore, now_utc

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
CHUNK = 1 << 16
USER_AGENT = "govwh-ingest/0.1 (+open data warehouse of Vietnam governance indicators)"


@dataclass(frozen=True)
class Landed:
    publication_id: str
    url: str
    path: Path
    sha256: str
    size: int
    outcome: str  # landed | unchanged | not_modified


class DeadlineReached(Exception):
    """Raised from inside urllib3's retry loop when waiting would pass the file's deadline."""

    def __init__(self, wait: float):
        self.wait = wait
        super().__init__(f"waiting {wait:g} s more would pass the deadline")


class BoundedRetry(Retry):
    """urllib3's Retry with Retry-After capped and an overall deadline (time.monotonic)."""

    max_retry_after: float = 300.0
    deadline: float | None = None

    def new(self, **kw):
        copy = super().new(**kw)
        copy.max_retry_after, copy.deadline = self.max_retry_after, self.deadline
        return copy

    def get_retry_after(self, response):
        value = super().get_retry_after(response)
        return None if value is None else min(max(value, 0.0), self.max_retry_after)

    def sleep(self, response=None):
        wait = None
        if self.respect_retry_after_header and response is not None:
            wait = self.get_retry_after(response)
        if wait is None:
            wait = self.get_backoff_time()
        if self.deadline is not None and time.monotonic() + wait > self.deadline:
            raise DeadlineReached(wait)
        super().sleep(response)


def allowed_origins(settings: Settings) -> set[Origin]:
    origins = {*(url_origin(base) for base in catalogue.origin_bases(settings)), *settings.extra_origins}
    if settings.mirror:
        origins.add(url_origin(settings.mirror))
    return {o for o in origins if o}


def _retry(settings: Settings, deadline: float | None = None) -> BoundedRetry:
    retry = BoundedRetry(
        total=settings.retries, connect=settings.retries, read=settings.retries, status=settings.retries,
        backoff_factor=settings.backoff, backoff_max=30, status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}), respect_retry_after_header=True, raise_on_status=False,
        redirect=False,
    )
    retry.max_retry_after, retry.deadline = settings.max_retry_after, deadline
    return retry


def make_session(settings: Settings) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=_retry(settings))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def fetch(pub: Publication, settings: Settings, store: RawStore | None = None,
          session: requests.Session | None = None, force: bool = False) -> Landed:
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
            return _fetch_http(pub, url, suffix, store, settings, session, force)
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
    """A local file (an embedded bundle, a curated file, a registered bundle) copied into the store.

    The URL's path is already resolved (source_url), so the file is opened without following a link
    (a link put there since is refused) and without waiting on a named pipe; only a regular file is
    copied, and no more than the byte cap of it, whatever its size said. A registered bundle must
    still be a regular file inside its registration's folder (checked again: the folder may have
    changed since the catalogue was read). Errors name the file, never its content."""
    src = Path(unquote(urlparse(url).path))
    if isinstance(pub, LocalBundle):
        problem = local_file_problem(pub.local_file.parent, pub.local_file.name)
        if problem:
            raise FetchError(url, f"{problem}; a registered bundle must be a regular file in its registration's folder")
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise FetchError(url, "no such file") from None
    except OSError as exc:
        cause = "it is a symbolic link (the path was resolved, so it changed since)" if exc.errno == errno.ELOOP \
            else f"cannot open it ({exc.strerror or type(exc).__name__})"
        raise FetchError(url, cause) from None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise FetchError(url, "not a regular file (a directory, named pipe or device)")
        size = os.fstat(f.fileno()).st_size
        if size > settings.max_bytes:
            raise FetchError(url, f"file is {size} bytes, over the {settings.max_bytes}-byte cap")
        tmp = store.temp_file()
        digest, size = hashlib.sha256(), 0
        try:
            with open(tmp, "wb") as out:
                while chunk := f.read(CHUNK):
                    size += len(chunk)
                    if size > settings.max_bytes:
                        raise FetchError(url, f"file grew over the {settings.max_bytes}-byte cap while it was copied")
                    digest.update(chunk)
                    out.write(chunk)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    sha = digest.hexdigest()
    path, new = store.land(tmp, sha, suffix)
    outcome = "landed" if new else "unchanged"
    store.append(ManifestRecord(now_utc(), pub.id, url, url, outcome, None, sha, size, None, None,
                                str(path.relative_to(store.raw_dir))))
    return Landed(pub.id, url, path, sha, size, outcome)


def _check_origin(url: str, origins: set[Origin], original: str) -> None:
    origin = url_origin(url)
    if origin not in origins:
        shown = ", ".join(f"{s}://{h}:{p}" for s, h, p in sorted(origins))
        what = f"{origin[0]}://{origin[1]}:{origin[2]}" if origin else repr(url)
        raise FetchError(original, f"origin {what} of {url} is not on the allowlist ({shown}); "
                                   "add it to GOVWH_ALLOWED_HOSTS if it is trusted")


def _request_error(url: str, exc: Exception, settings: Settings) -> FetchError:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None  # urllib3's MaxRetryError
    # NewConnectionError is a ConnectTimeoutError subclass in urllib3 2: test it first
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        cause = f"cannot connect (connection refused or no route), after {settings.retries} retries"
    elif isinstance(exc, requests.ConnectTimeout) or isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        cause = f"could not connect within {settings.connect_timeout:g} s (connect timeout, after retries)"
    elif isinstance(exc, requests.ReadTimeout) or isinstance(reason, urllib3.exceptions.ReadTimeoutError):
        cause = f"the server sent no response for {settings.read_timeout:g} s (read timeout, after retries)"
    elif isinstance(exc, requests.ConnectionError):
        cause = f"connection failed after retries ({type(exc).__name__})"
    else:
        cause = f"{type(exc).__name__}: {exc}"
    return FetchError(url, cause)


def _open(url, session, headers, settings: Settings, origins, deadline: float):
    """GET with redirects followed by hand (each hop checked against the allowlist)."""
    adapter_retry = _retry(settings, deadline)
    for prefix in ("http://", "https://"):
        session.get_adapter(prefix).max_retries = adapter_retry
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        _check_origin(current, origins, url)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(url, f"no complete response within the {settings.fetch_deadline:g} s deadline")
        try:
            resp = session.get(current, headers=headers, stream=True, allow_redirects=False,
                               timeout=(min(settings.connect_timeout, remaining), min(settings.read_timeout, remaining)))
        except DeadlineReached as exc:
            raise FetchError(url, f"gave up: the server asked to wait {exc.wait:g} s more, past the "
                                  f"{settings.fetch_deadline:g} s deadline for this file") from exc
        except requests.RequestException as exc:
            raise _request_error(url, exc, settings) from exc
        if resp.is_redirect:
            target = urljoin(current, resp.headers.get("Location", ""))
            resp.close()
            log.info("redirect %s -> %s", current, target)
            current = target
            continue
        return resp, current
    raise FetchError(url, f"more than {MAX_REDIRECTS} redirects")


class _Interrupted(Exception):
    """The connection broke mid-body: worth another try."""


def _download(resp, url: str, store: RawStore, settings: Settings, deadline: float) -> tuple[Path, str, int]:
    """Stream the body into a temp file: (path, sha256, size). Removes the temp file on failure."""
    declared = resp.headers.get("Content-Length")
    if declared is not None and (not declared.strip().isdigit()):
        raise FetchError(url, f"invalid Content-Length {declared!r}")
    declared_n = int(declared) if declared is not None else None
    encoded = resp.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
    if declared_n is not None and not encoded and declared_n > settings.max_bytes:
        raise FetchError(url, f"response declares {declared_n} bytes, over the {settings.max_bytes}-byte cap")
    tmp = store.temp_file()
    digest, size = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            while True:
                if time.monotonic() > deadline:
                    raise FetchError(url, f"download too slow: {size} bytes after the {settings.fetch_deadline:g} s "
                                          "deadline for this file; cut off")
                try:
                    chunk = resp.raw.read1(CHUNK, decode_content=True)
                except urllib3.exceptions.ReadTimeoutError as exc:
                    raise _Interrupted(f"the server sent nothing for {settings.read_timeout:g} s "
                                       f"(read timeout) after {size} bytes") from exc
                except (urllib3.exceptions.ProtocolError, ConnectionError) as exc:
                    wire = resp.raw.tell()
                    if declared_n is not None and wire < declared_n:
                        raise _Interrupted(f"truncated download: {wire} of {declared_n} bytes "
                                           "(the connection closed early)") from exc
                    raise _Interrupted(f"connection lost after {size} bytes ({type(exc).__name__})") from exc
                except urllib3.exceptions.DecodeError as exc:
                    raise FetchError(url, f"the body does not decode as its Content-Encoding says ({exc})") from exc
                if not chunk:
                    break
                size += len(chunk)
                if size > settings.max_bytes:
                    raise FetchError(url, f"response exceeded the {settings.max_bytes}-byte cap")
                digest.update(chunk)
                out.write(chunk)
        wire = resp.raw.tell()
        if declared_n is not None and wire != declared_n:
            raise _Interrupted(f"truncated download: {wire} of {declared_n} bytes")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, digest.hexdigest(), size


def _fetch_http(pub, url, suffix, store: RawStore, settings: Settings, session, force: bool) -> Landed:
    origins = allowed_origins(settings)
    deadline = time.monotonic() + settings.fetch_deadline
    previous = store.latest(url)
    rejected = store.rejection(url, previous["sha256"]) if previous else None
    headers = {}
    if force or rejected:
        headers["Cache-Control"] = "no-cache"  # the file as the origin has it now, not a cache's copy
    if rejected and not force:
        log.info("%s: the file last landed (sha256 %s) was rejected on %s; downloading afresh, without its "
                 "validators", url, previous["sha256"][:12], rejected["at"])
    elif previous and not force and store.path_for(previous["sha256"], suffix).exists():
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]
    conditional = "If-None-Match" in headers or "If-Modified-Since" in headers

    attempt = 0
    while True:
        resp, final = _open(url, session, headers, settings, origins, deadline)
        with resp:
            if resp.status_code == 304 and previous and conditional:
                store.append(ManifestRecord(now_utc(), pub.id, url, final, "not_modified", 304,
                                            previous["sha256"], previous["size"], previous.get("etag"),
                                            previous.get("last_modified"), previous["raw_path"]))
                path = store.raw_dir / previous["raw_path"]
                return Landed(pub.id, url, path, previous["sha256"], previous["size"], "not_modified")
            if resp.status_code != 200:
                raise FetchError(url, f"HTTP {resp.status_code} {resp.reason} (after {settings.retries} retries)")
            try:
                tmp, sha, size = _download(resp, url, store, settings, deadline)
                break
            except _Interrupted as exc:
                attempt += 1
                wait = min(settings.backoff * (2 ** attempt), 30)
                if attempt > settings.retries or time.monotonic() + wait > deadline:
                    raise FetchError(url, f"{exc} (after {attempt} attempts)") from exc
                log.warning("%s: %s; retrying (%d of %d)", url, exc, attempt, settings.retries)
        time.sleep(wait)

    path, new = store.land(tmp, sha, suffix)
    store.append(ManifestRecord(now_utc(), pub.id, url, final, "landed" if new else "unchanged",
                                resp.status_code, sha, size, resp.headers.get("ETag"),
                                resp.headers.get("Last-Modified"), str(path.relative_to(store.raw_dir))))
    again = store.rejection(url, sha)
    if again:  # the parse step says so, naming the rejection (RawStore.judging)
        log.warning("%s: the server still serves the file rejected on %s (sha256 %s)", url, again["at"], sha[:12])
    return Landed(pub.id, url, path, sha, size, "landed" if new else "unchanged")
