"""The raw store: files kept by content hash, never overwritten or deleted, and an
append-only manifest (JSON lines) of every fetch: URL, time, sha256, size, status, validators.

Beside it, rejections.jsonl (append-only too) holds the parse step's verdicts on landed files:
a file the parser refused is recorded as rejected (URL, sha256, reason), and accepted again
only if a later parse of the same bytes passes. A rejected landing is never what a conditional
GET is validated against: the next fetch sends no ETag / Last-Modified for it and downloads the
file afresh, so a 304 cannot keep a run stuck on it (see fetch.py and `RawStore.judging`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

from .errors import ConfigError, CorruptRawFile, PipelineError, RunLocked, StorageError

log = logging.getLogger(__name__)

# Errors of the machine, not of the file: a parse that stops on one of these judges nothing.
NOT_A_VERDICT = (StorageError, RunLocked, ConfigError, CorruptRawFile)


@dataclass
class ManifestRecord:
    fetched_at: str
    publication_id: str
    url: str
    final_url: str
    outcome: str  # landed | unchanged | not_modified
    http_status: int | None
    sha256: str
    size: int
    etag: str | None
    last_modified: str | None
    raw_path: str


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class RawStore:
    def __init__(self, raw_dir: Path):
        self.raw_dir = Path(raw_dir)
        self.manifest = self.raw_dir / "manifest.jsonl"
        self.rejections = self.raw_dir / "rejections.jsonl"
        self._latest: dict[str, dict] | None = None  # url -> last record with a landed file
        self._verdicts: dict[tuple[str, str], dict] | None = None  # (url, sha256) -> last verdict

    def path_for(self, sha256: str, suffix: str) -> Path:
        return self.raw_dir / sha256[:2] / f"{sha256}{suffix}"

    def land(self, tmp_file: Path, sha256: str, suffix: str) -> tuple[Path, bool]:
        """Move a fully downloaded temp file into the store. Returns (path, newly_landed).

        The same bytes land once: an existing file is never replaced (os.link refuses).
        """
        final = self.path_for(sha256, suffix)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            os.unlink(tmp_file)
            return final, False
        try:
            os.link(tmp_file, final)
        except FileExistsError:
            os.unlink(tmp_file)
            return final, False
        os.unlink(tmp_file)
        os.chmod(final, 0o444)
        return final, True

    def temp_file(self) -> Path:
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=self.raw_dir)
        os.close(fd)
        return Path(name)

    def remove_leftovers(self) -> list[Path]:
        """Temp files of downloads that were killed (never a landed file). Call under the run lock."""
        removed = []
        for leftover in self.raw_dir.glob(".incoming-*"):
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
        return removed

    def verify(self, path: Path, sha256: str) -> None:
        try:
            actual = sha256_file(path)
        except FileNotFoundError:
            raise CorruptRawFile(f"raw file {path} is missing (the manifest says it landed with sha256 "
                                 f"{sha256[:16]}…); fetch again with `govwh fetch --force`") from None
        if actual != sha256:
            raise CorruptRawFile(f"raw file {path} is corrupt: sha256 {actual[:16]}…, expected {sha256[:16]}…; "
                                 "it was changed after landing")

    def append(self, record: ManifestRecord) -> None:
        _append_line(self.raw_dir, self.manifest, asdict(record))
        if self._latest is not None and record.sha256:
            self._latest[record.url] = asdict(record)

    def records(self) -> list[dict]:
        return _read_lines(self.manifest)

    def latest(self, url: str) -> dict | None:
        """The last record for a URL that points at a landed file (the manifest is read once)."""
        if self._latest is None:
            self._latest = {rec["url"]: rec for rec in self.records() if rec.get("sha256")}
        return self._latest.get(url)

    # ------------------------------------------------------------ verdicts of the parse step
    def rejection(self, url: str, sha256: str) -> dict | None:
        """The standing rejection of these bytes from this URL (the first one since they were last
        accepted, if ever), or None."""
        if self._verdicts is None:
            self._verdicts = {}
            for rec in _read_lines(self.rejections):
                key = (rec.get("url"), rec.get("sha256"))
                if rec.get("verdict") == "accepted":
                    self._verdicts.pop(key, None)
                elif key not in self._verdicts:
                    self._verdicts[key] = rec
        return self._verdicts.get((url, sha256))

    def record_verdict(self, rec: dict, verdict: str, reason: str = "") -> dict:
        """Append a verdict (rejected | accepted) on a landed file; `rec` is its manifest record."""
        entry = {"at": now_utc(), "verdict": verdict, "publication_id": rec.get("publication_id"),
                 "url": rec["url"], "sha256": rec["sha256"], "raw_path": rec.get("raw_path"), "reason": reason,
                 "manifest_records": len(self.records())}
        self.rejection(rec["url"], rec["sha256"])  # the earlier verdicts, read before this one is added
        _append_line(self.raw_dir, self.rejections, entry)
        key = (rec["url"], rec["sha256"])
        if verdict == "accepted":
            self._verdicts.pop(key, None)
        else:
            self._verdicts.setdefault(key, entry)
        return entry

    @contextmanager
    def judging(self, rec: dict) -> Iterator[None]:
        """Wrap the parse of a landed file (`rec`: its manifest record, as `latest` returns it).

        A PipelineError about the file (not a full disk, a lock or a setting) records the bytes as
        rejected, once; the next fetch then downloads the file afresh instead of sending its
        validators. If the same bytes were rejected before, the error says so and what to do.
        A passing parse of bytes rejected before records them as accepted again.
        """
        try:
            yield
        except PipelineError as exc:
            if isinstance(exc, NOT_A_VERDICT):
                raise
            try:
                earlier = self.rejection(rec["url"], rec["sha256"])
                if earlier is None:
                    self.record_verdict(rec, "rejected", str(exc))
                    again = None
                else:
                    again = _rejected_again(exc, self._after(earlier, rec), rec, earlier)
            except (OSError, CorruptRawFile):  # the parse error is the one to show, not this one
                log.warning("could not read or record the verdict on %s in %s", rec.get("raw_path"), self.rejections,
                            exc_info=True)
                raise exc from None
            if again is None:
                raise
            raise again from exc
        try:
            if self.rejection(rec["url"], rec["sha256"]) is not None:
                self.record_verdict(rec, "accepted")
        except (OSError, CorruptRawFile):  # the next fetch downloads the file afresh once more: no harm
            log.warning("could not record %s as accepted in %s", rec.get("raw_path"), self.rejections, exc_info=True)

    def _after(self, rejection: dict, rec: dict) -> dict | None:
        """The manifest's last record for rec's URL, if it was written after the rejection."""
        records = self.records()
        start = rejection.get("manifest_records", len(records))
        later = [r for r in records[start:] if r.get("url") == rec["url"] and r.get("sha256")]
        return later[-1] if later else None


def _rejected_again(exc: PipelineError, fetched: dict | None, rec: dict, earlier: dict) -> PipelineError:
    """The parse error of bytes rejected before, as the same class, saying what happened and the way out."""
    when = _when(earlier["at"])
    sha = f"sha256 {rec['sha256'][:12]}…"
    url = rec["url"]
    if urlparse(url).scheme not in ("http", "https"):
        note = (f"{unquote(urlparse(url).path)} is unchanged since it was rejected on {when} ({sha}): "
                "correct the file and run again")
    elif fetched is None:
        note = (f"this file ({sha}) was already rejected on {when} and nothing was fetched since: "
                "`govwh fetch` (or `govwh run`) downloads it afresh, without the rejected file's validators")
    elif fetched.get("outcome") == "not_modified":
        note = (f"still the file rejected on {when} ({sha}): the server answered 304 Not Modified; "
                "`govwh run --force-fetch` downloads it again")
    else:
        note = (f"this is the file rejected on {when} ({sha}): {url} served the same bytes again at "
                f"{_when(fetched['fetched_at'])} to a download without the file's ETag / Last-Modified (not a "
                "stale 304, so `govwh run --force-fetch` would get the same); nothing is published from it, and "
                "each run downloads the file afresh until the publisher fixes it")
    again = type(exc).__new__(type(exc))
    again.__dict__.update(exc.__dict__)
    again.args = (f"{exc}; {note}",)
    return again


def _when(iso: str) -> str:
    """2026-05-01T10:00:00+00:00 -> 2026-05-01 10:00:00 UTC"""
    return iso.replace("T", " ").replace("+00:00", " UTC")


def _append_line(folder: Path, path: Path, record: dict) -> None:
    """One JSON line, appended and synced: these files are only ever appended to."""
    folder.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        records = []
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise CorruptRawFile(f"{path}, line {number}: not a JSON record ({exc.msg})") from None
        return records


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
