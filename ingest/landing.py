"""The raw store: files kept by content hash, never overwritten or deleted, and an
append-only manifest (JSON lines) of every fetch: URL, time, sha256, size, status, validators.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import CorruptRawFile


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
        self._latest: dict[str, dict] | None = None  # url -> last record with a landed file

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
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps(asdict(record), ensure_ascii=False, sort_keys=True) + "\n"
        fd = os.open(self.manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if self._latest is not None and record.sha256:
            self._latest[record.url] = asdict(record)

    def records(self) -> list[dict]:
        if not self.manifest.exists():
            return []
        with open(self.manifest, encoding="utf-8") as f:
            records = []
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise CorruptRawFile(f"{self.manifest}, line {number}: not a JSON record ({exc.msg})") from None
            return records

    def latest(self, url: str) -> dict | None:
        """The last record for a URL that points at a landed file (the manifest is read once)."""
        if self._latest is None:
            self._latest = {rec["url"]: rec for rec in self.records() if rec.get("sha256")}
        return self._latest.get(url)


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
