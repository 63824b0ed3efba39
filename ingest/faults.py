"""Failpoints: stop a step at a named point, to prove that a failure there loses nothing.

Tests set GOVWH_FAILPOINT=<point>:<action> for one command, e.g. `publish.committed:kill`.
Actions: `kill` (the process sends itself SIGKILL, as `kill -9` would), `error` (an I/O error)
and `enospc` (a full disk). Unset, this is a no-op; the points are listed where they are placed
(grep `failpoint(`). A value that is not `<point>:<action>` with a known action is refused.
"""
from __future__ import annotations

import errno
import os
import re
import signal

from .errors import ConfigError

ACTIONS = ("kill", "error", "enospc")
_SPEC = re.compile(r"^([a-z_]+(?:\.[a-z_]+)*):(" + "|".join(ACTIONS) + r")$")


def failpoint(name: str, path: object = None) -> None:
    spec = os.environ.get("GOVWH_FAILPOINT")
    if not spec:
        return
    match = _SPEC.match(spec)
    if match is None:
        raise ConfigError(f"GOVWH_FAILPOINT must be <point>:<{'|'.join(ACTIONS)}> (got {spec[:60]!r})")
    point, action = match.groups()
    if point != name:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    code = errno.ENOSPC if action == "enospc" else errno.EIO
    raise OSError(code, f"{os.strerror(code)} (injected at {name})", str(path) if path is not None else None)
