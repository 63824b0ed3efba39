"""One run at a time per data folder: an advisory lock (fcntl.flock) on $GOVWH_DATA_DIR/.govwh.lock.

The CLI's writing commands and every Airflow task take it. A second run says who holds it
(pid, command, since when) and exits 1, or waits up to `wait` seconds when asked
(`--wait`, GOVWH_LOCK_WAIT). The kernel releases the lock when the holder dies, so a killed
run never leaves a stale lock behind.

`govwh run` (through Airflow) holds the lock for the whole run and hands it to the task
processes it starts: they find their parent's pid in GOVWH_LOCK_OWNER and proceed.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .config import Settings
from .errors import RunLocked, from_os_error

OWNER_ENV = "GOVWH_LOCK_OWNER"
_held: dict[Path, int] = {}  # locks this process holds (re-entrant: a step inside `run` proceeds)


def lock_path(settings: Settings) -> Path:
    return settings.data_dir / ".govwh.lock"


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError, TypeError):
        return False


def _inherited(path: Path) -> bool:
    """True when the lock is held by the process that started this one (govwh run -> Airflow)."""
    owner = os.environ.get(OWNER_ENV)
    holder = _holder(path)
    return bool(owner) and str(holder.get("pid")) == owner and _alive(owner)


@contextmanager
def run_lock(settings: Settings, what: str, wait: float | None = None):
    path = lock_path(settings)
    if _held.get(path):
        _held[path] += 1
        try:
            yield None
        finally:
            _held[path] -= 1
        return
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise from_os_error(exc, "taking the run lock", path) from exc
    try:
        wait = settings.lock_wait if wait is None else wait
        give_up = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if _inherited(path):
                    yield None  # our parent holds it for us
                    return
                if time.monotonic() >= give_up:
                    holder = _holder(path)
                    who = (f"pid {holder.get('pid', '?')} ({holder.get('command', '?')}) since "
                           f"{holder.get('since', '?')}") if holder else "another process"
                    waited = f" after waiting {wait:g} s" if wait else ""
                    raise RunLocked(f"another run holds the lock on {path}{waited}: {who}; wait for it to finish, "
                                    "or pass --wait SECONDS") from None
                time.sleep(0.2)
        record = {"pid": os.getpid(), "command": what, "argv": " ".join(sys.argv[:4]),
                  "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
        except OSError as exc:
            fcntl.flock(fd, fcntl.LOCK_UN)
            raise from_os_error(exc, "taking the run lock", path) from exc
        previous_owner = os.environ.get(OWNER_ENV)
        os.environ[OWNER_ENV] = str(os.getpid())  # children (Airflow tasks) may proceed
        _held[path] = 1
        try:
            yield record
        finally:
            _held.pop(path, None)
            if previous_owner is None:
                os.environ.pop(OWNER_ENV, None)
            else:
                os.environ[OWNER_ENV] = previous_owner
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
