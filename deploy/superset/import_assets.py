"""Import the governance dashboard into a Superset (6.1) you run: one command, with Superset's Python.

    BI_READER_PASSWORD=... python deploy/superset/import_assets.py [--host postgres] [--port 5432]

Run it with the Python of the Superset you import into, SUPERSET_CONFIG_PATH set as for that
Superset (the `superset` container of Compose's `bi` profile does it at every start, through
start.sh). It reads `assets/` (written by scripts/make_superset_assets.py), points the database
connection at --host/--port/--database as --user, and imports everything through Superset's own
asset importer, which replaces the database connection, datasets, charts and dashboard of an
earlier import (same ids): a changed reader password, host or description takes effect. The
password (BI_READER_PASSWORD, or the first line of the file named by BI_READER_PASSWORD_FILE) is
handed to the importer in memory, never written to a file. Errors are one line on stderr (exit 1).
"""
from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
DATABASE_FILE = "databases/governance_mirror.yaml"
HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")  # a PostgreSQL role or database name, unquoted
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from check_secrets import problem  # noqa: E402  (deploy/check_secrets.py: the Compose init's own rule)


class Refused(Exception):
    """One line for the user."""


def _password() -> str:
    path = os.environ.get("BI_READER_PASSWORD_FILE")
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise Refused(f"BI_READER_PASSWORD_FILE {path!r} cannot be read: {exc.strerror}") from None
        value = lines[0].strip() if lines else ""
    else:
        value = os.environ.get("BI_READER_PASSWORD", "")
    why = problem("BI_READER_PASSWORD", value)
    if why:
        raise Refused(why)
    return value


def _host(value: str) -> str:
    try:
        address = ipaddress.ip_address(value)
        return f"[{value}]" if address.version == 6 else value
    except ValueError:
        if HOSTNAME.match(value):
            return value
    raise Refused(f"--host {value!r} is not a host name or an IP address")


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise Refused(f"--port {value!r} is not a port number (1-65535)")
    return int(value)


def _name(option: str, value: str) -> str:
    if not NAME.match(value):
        raise Refused(f"{option} {value!r} is not a plain PostgreSQL name (letters, digits, _ $ -)")
    return value


def contents(host: str, port: int, database: str, user: str) -> dict[str, str]:
    """The bundle as Superset's importer takes it (path -> YAML text), the database connection
    pointed at the mirror; its password stays Superset's mask, filled in by the importer."""
    import yaml

    files = {p.relative_to(ASSETS).as_posix(): p.read_text(encoding="utf-8") for p in sorted(ASSETS.rglob("*.yaml"))}
    if DATABASE_FILE not in files or "metadata.yaml" not in files:
        raise Refused(f"{ASSETS} is not the governance bundle ({DATABASE_FILE} or metadata.yaml missing)")
    connection = yaml.safe_load(files[DATABASE_FILE])
    connection["sqlalchemy_uri"] = f"postgresql://{user}:XXXXXXXXXX@{host}:{port}/{database}"
    files[DATABASE_FILE] = yaml.safe_dump(connection, allow_unicode=True, sort_keys=True)
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="postgres", help="the mirror's PostgreSQL host as Superset reaches it")
    ap.add_argument("--port", default="5432")
    ap.add_argument("--database", default="governance")
    ap.add_argument("--user", default="bi_reader", help="the read-only login Superset connects as")
    ap.add_argument("--owner", default="admin", help="the Superset user who owns the imported assets")
    args = ap.parse_args(argv)
    try:
        bundle = contents(_host(args.host), _port(args.port), _name("--database", args.database),
                          _name("--user", args.user))
        password = _password()
        from superset.app import create_app

        app = create_app()
        with app.app_context():
            from superset import security_manager
            from superset.commands.importers.v1.assets import ImportAssetsCommand
            from superset.utils.core import override_user

            owner = security_manager.find_user(username=args.owner)
            if owner is None:
                raise Refused(f"there is no Superset user {args.owner!r} to own the assets (--owner)")
            with override_user(owner):
                ImportAssetsCommand(bundle, passwords={DATABASE_FILE: password}).run()
    except Refused as exc:
        print(f"import_assets: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - Superset's own errors, as one line; the traceback with -v
        detail = " ".join(str(getattr(exc, "message", "") or exc).split())[:500]
        print(f"import_assets: error: Superset refused the import: {type(exc).__name__}: {detail}",
              file=sys.stderr)
        if os.environ.get("GOVWH_DEBUG"):
            raise
        return 1
    print(f"imported the governance dashboard ({len(bundle)} files) into Superset; "
          f"database {args.user}@{args.host}:{args.port}/{args.database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
