"""A throwaway PostgreSQL cluster on 127.0.0.1 in a temporary folder (initdb + pg_ctl from the
server binaries Debian's `postgresql` installs): what the tests and the scale harness build on and
mirror into. Never a server anyone keeps: stopped and deleted on exit.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def server_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<N>/bin with initdb, else initdb's folder on PATH; None if absent."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_cluster(bindir: Path):
    """Yields the superuser's DSN on database postgres (no password from 127.0.0.1; every other
    login needs its password); as the postgres user when run as root (initdb refuses root)."""
    # not under a private temporary folder: the server runs as postgres
    base = Path(tempfile.mkdtemp(prefix="govwh-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(base, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = base / "data"
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--no-locale"], check=True, capture_output=True)
        (data / "pg_hba.conf").write_text("local all all trust\nhost all postgres 127.0.0.1/32 trust\n"
                                          "host all all 127.0.0.1/32 scram-sha-256\n")
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"),
                        "-o", f"-k {base} -p {port} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def create_database(admin_dsn: str, name: str) -> str:
    """A new database on the cluster; its DSN."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_dsn, autocommit=True) as pg:
        pg.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return admin_dsn.rsplit("/", 1)[0] + "/" + name  # the URL form throwaway_cluster yields (no parameters)
