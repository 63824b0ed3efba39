"""Import the governance dashboard into a Superset (6.1) you run: one command, with Superset's Python.

    BI_READER_PASSWORD=... python deploy/superset/import_assets.py [--host postgres] [--port 5432]

Run it where the `superset` command works (the `superset` container of Compose's `bi` profile does
it at every start; or your own Superset's environment, SUPERSET_CONFIG_PATH set). It zips
`assets/` (written by scripts/make_superset_assets.py) with the reader's password put into the
database URI in place of Superset's mask, and runs `superset import-dashboards` on the zip, which
replaces an earlier import of the same assets (same ids). The password comes from
BI_READER_PASSWORD (or the file named by BI_READER_PASSWORD_FILE); it is never written to disk
outside a private temporary folder that is removed afterwards. Standard library only: it runs in
Superset's environment, not the warehouse's.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import quote

ASSETS = Path(__file__).resolve().parent / "assets"
MASK = "XXXXXXXXXX"
URI_IN_ASSETS = f"postgresql://bi_reader:{MASK}@postgres:5432/governance"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from check_secrets import problem  # noqa: E402  (deploy/check_secrets.py: the Compose init's own rule)


def _password() -> str:
    path = os.environ.get("BI_READER_PASSWORD_FILE")
    value = Path(path).read_text(encoding="utf-8").strip() if path else os.environ.get("BI_READER_PASSWORD", "")
    why = problem("BI_READER_PASSWORD", value)
    if why:
        raise SystemExit(f"import_assets: {why}")
    return value


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="postgres", help="the mirror's PostgreSQL host as Superset reaches it")
    ap.add_argument("--port", type=int, default=5432)
    ap.add_argument("--database", default="governance")
    ap.add_argument("--user", default="bi_reader")
    ap.add_argument("--superset", default=shutil.which("superset") or "superset",
                    help="the superset command (default: the one on PATH)")
    args = ap.parse_args()
    uri = (f"postgresql://{quote(args.user, safe='')}:{quote(_password(), safe='')}@{args.host}:{args.port}/"
           f"{quote(args.database, safe='')}")
    with tempfile.TemporaryDirectory(prefix="govwh-superset-") as tmp:
        bundle = Path(tmp) / "governance_dashboard.zip"
        with zipfile.ZipFile(bundle, "w") as zf:
            for path in sorted(ASSETS.rglob("*.yaml")):
                text = path.read_text(encoding="utf-8")
                if path.parent.name == "databases":
                    if URI_IN_ASSETS not in text:
                        raise SystemExit(f"import_assets: {path}: the database URI is not the expected one")
                    text = text.replace(URI_IN_ASSETS, uri)
                zf.writestr(f"governance_dashboard/{path.relative_to(ASSETS).as_posix()}", text)
        proc = subprocess.run([args.superset, "import-dashboards", "-p", str(bundle), "-u", "admin"],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        print(f"import_assets: superset import-dashboards failed: {tail[0]}", file=sys.stderr)
        return 1
    print(f"imported the governance dashboard ({len(list(ASSETS.rglob('*.yaml')))} files) into Superset; "
          f"database {args.user}@{args.host}:{args.port}/{args.database}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
