"""The init container's first step: refuse to start with an empty or placeholder secret.

    python deploy/check_secrets.py POSTGRES_PASSWORD AIRFLOW_JWT_SECRET ...
    python deploy/check_secrets.py --writable /data

Each named environment variable must be set, at least 16 characters, and not the example file's
placeholder ("replace-with-..."). One line on stderr names the first that is not, and the exit
status is 1; nothing is printed of a value. With --writable: the folder (the bind-mounted
warehouse) must be writable by this process's uid, else one line says what to do.
"""
from __future__ import annotations

import os
import sys

MIN_LENGTH = 16


def problem(name: str, value: str | None) -> str | None:
    if not value or not value.strip():
        return f"{name} is empty: set it in .env (see deploy/compose.env.example)"
    if value.strip().lower().startswith("replace-with"):
        return f"{name} is still the placeholder of deploy/compose.env.example: put your own secret in .env"
    if len(value) < MIN_LENGTH:
        return f"{name} is shorter than {MIN_LENGTH} characters: use a long random string"
    return None


def not_writable(folder: str) -> str | None:
    if os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
        return None
    return (f"the warehouse folder {folder} (GOVWH_WAREHOUSE_DIR on the host) is not writable by uid {os.getuid()}: "
            "create it on the host (mkdir -p compose-warehouse) and set GOVWH_UID=$(id -u) in .env")


def main(names: list[str]) -> int:
    if names[:1] == ["--writable"]:
        why = not_writable(names[1])
        if why:
            print(f"error: {why}", file=sys.stderr)
            return 1
        return 0
    for name in names:
        why = problem(name, os.environ.get(name))
        if why:
            print(f"error: {why}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
