"""Write-audit-publish for the serving DuckDB file.

dbt builds into a private file and runs every test there (pipeline.build). Only then does
publish() put it in front of readers, by atomic rename: readers already connected keep the
old file (its inode stays open), new connections see the new one, nobody sees half a table.
The previous serving file is kept beside it; rollback() puts it back. Every publish and
rollback is appended to publish_log.jsonl.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from .config import Settings
from .errors import PipelineError
from .landing import sha256_file


def previous_path(settings: Settings) -> Path:
    return settings.warehouse.with_name(settings.warehouse.name + ".previous")


def manifest_path(settings: Settings) -> Path:
    """dbt's manifest of the published build (column docs for the PostgreSQL mirror)."""
    return settings.warehouse.with_name(settings.warehouse.stem + ".manifest.json")


def log_path(settings: Settings) -> Path:
    return settings.warehouse.with_name("publish_log.jsonl")


def _audit(built: Path) -> int:
    """Checkpoint the build (no WAL may travel with it) and check it opens and holds marts."""
    con = duckdb.connect(str(built))
    try:
        con.execute("checkpoint")
        n = con.execute("select count(*) from information_schema.tables where table_schema = 'marts'").fetchone()[0]
    finally:
        con.close()
    if Path(str(built) + ".wal").exists():
        raise PipelineError(f"{built} still has a write-ahead log after checkpoint; not publishing it")
    if n == 0:
        raise PipelineError(f"{built} holds no marts; not publishing it")
    return n


def _replace_atomically(source: Path, target: Path) -> None:
    staged = target.with_name(target.name + ".incoming")
    shutil.copyfile(source, staged)
    with open(staged, "rb") as f:
        os.fsync(f.fileno())
    os.replace(staged, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _log(settings: Settings, action: str, started: float, **extra) -> dict:
    record = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "action": action,
              "warehouse": str(settings.warehouse), "sha256": sha256_file(settings.warehouse),
              "seconds": round(time.perf_counter() - started, 3), **extra}
    with open(log_path(settings), "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    return record


def publish(settings: Settings, built: Path | None = None) -> dict:
    """Atomically replace the serving file with the tested build; keep the previous one."""
    started = time.perf_counter()
    built = built or settings.build_dir / "governance.duckdb"
    if not built.exists():
        raise PipelineError(f"nothing to publish: {built} does not exist (did the build step run?)")
    marts = _audit(built)
    serving = settings.warehouse
    serving.parent.mkdir(parents=True, exist_ok=True)
    if serving.exists():  # keep the current file as .previous (a hard link: no copy, no gap)
        previous = previous_path(settings)
        tmp = previous.with_name(previous.name + ".tmp")
        tmp.unlink(missing_ok=True)
        os.link(serving, tmp)
        os.replace(tmp, previous)
    _replace_atomically(built, serving)
    manifest = built.parent / "target" / "manifest.json"
    if manifest.exists():
        shutil.copyfile(manifest, manifest_path(settings))
    return _log(settings, "publish", started, marts=marts, built=str(built))


def rollback(settings: Settings) -> dict:
    """Put the previous serving file back; the one it replaces is kept as .rolled-back."""
    started = time.perf_counter()
    previous = previous_path(settings)
    if not previous.exists():
        raise PipelineError(f"no previous warehouse to roll back to ({previous} does not exist)")
    serving = settings.warehouse
    if serving.exists():
        kept = serving.with_name(serving.name + ".rolled-back")
        kept.unlink(missing_ok=True)
        os.link(serving, kept)
    _replace_atomically(previous, serving)
    return _log(settings, "rollback", started, restored_from=str(previous))


def last_publish(settings: Settings) -> dict | None:
    path = log_path(settings)
    if not path.exists():
        return None
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None
