"""Shared fixtures: the publishers' originals, a real HTTP server on 127.0.0.1, and a
warehouse built once per test session from the embedded bundle."""
from __future__ import annotations

import hashlib
import os
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from ingest import pipeline
from ingest.config import DBT_PROJECT_DIR, Settings, originals_dir


# The marts the warehouse serves (one model file each): what exports, receipts and the mirror count.
MARTS = len(list((DBT_PROJECT_DIR / "models" / "marts").glob("*.sql")))

# The heavy groups (pyproject.toml declares them; `make check` leaves them out). `postgres` and
# `browser` follow from the fixtures a test asks for; `airflow` and `slow` are marked in the files.
HEAVY = ("airflow", "slow", "postgres", "browser", "bi", "scaleout")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "postgres" in item.fixturenames:
            item.add_marker(pytest.mark.postgres)
        if "browser" in item.fixturenames:
            item.add_marker(pytest.mark.browser)
    # the longest first, so that pytest-xdist's workers finish together (a stable sort: files keep
    # their order within a group)
    weight = {"airflow": 0, "slow": 1, "postgres": 2, "browser": 2}
    items.sort(key=lambda item: min((weight[m.name] for m in item.iter_markers() if m.name in weight), default=3))
    dump = os.environ.get("GOVWH_TEST_MARKERS_OUT")  # tests/test_repo.py: each test's heavy groups, in one collection
    if dump:
        import json

        groups = {item.nodeid: sorted({m.name for m in item.iter_markers()} & set(HEAVY)) for item in items}
        Path(dump).write_text(json.dumps(groups), encoding="utf-8")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """GOVWH_TEST_CPU_OUT=<file>: each test's CPU seconds (its worker's and its ended child processes',
    set-up included) and wall seconds, one tab-separated line per test. The suite is CPU-bound on two
    cores, so CPU, not wall time under contention, says which tests cost the most (README, "Tests").
    A child still running when a test ends (a module's server) counts where it is reaped."""
    out = os.environ.get("GOVWH_TEST_CPU_OUT")
    if not out:
        return (yield)
    import resource
    import time

    def cpu(who):
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    start = (cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN), time.monotonic())
    try:
        return (yield)
    finally:
        own, children = cpu(resource.RUSAGE_SELF) - start[0], cpu(resource.RUSAGE_CHILDREN) - start[1]
        with open(out, "a", encoding="utf-8") as handle:  # one short write per line: workers may interleave lines
            handle.write(f"{item.nodeid}\t{own:.2f}\t{children:.2f}\t{time.monotonic() - start[2]:.2f}\n")


@pytest.fixture(scope="session")
def originals() -> Path:
    path = originals_dir()
    if not (path / "vcci-pci" / "PCI_2016.xlsx").is_file():
        if os.environ.get("GOVWH_REQUIRE_ORIGINALS") == "1":  # CI: a missing folder must not pass as skips
            pytest.fail(f"publisher originals not found at {path} and GOVWH_REQUIRE_ORIGINALS=1")
        pytest.skip(f"publisher originals not found at {path} (set GOVWH_ORIGINALS to run these tests)")
    return path


# dbt's saved parse of the session's built warehouse (set by built_warehouse). A new data folder
# starts with a copy, as a copied folder would: dbt then re-parses only what differs (it checks
# every file's checksum, the profile, vars and env vars), 2-3 s less per build in some 40 builds.
SAVED_PARSE: list[Path] = []


def make_settings(data_dir: Path, **overrides) -> Settings:
    values = dict(data_dir=data_dir, warehouse=data_dir / "governance.duckdb", source_mode="bundle",
                  retries=3, backoff=0.01, connect_timeout=5, read_timeout=5)
    values.update(overrides)
    if SAVED_PARSE and not (data_dir / "build").exists():
        (data_dir / "build" / "target").mkdir(parents=True)
        shutil.copy2(SAVED_PARSE[0], data_dir / "build" / "target" / SAVED_PARSE[0].name)
    return Settings(**values)


def shared_dir(tmp_path_factory) -> Path:
    """A folder every pytest-xdist worker of this test run sees (the run's base folder), or the
    session's own without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def file_lock(path: Path):
    """One process at a time (across xdist workers): an exclusive flock on path."""
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory) -> Settings:
    """The whole pipeline, run once per test run in-process on the embedded bundle: the first
    worker to ask builds it, the others wait and share it. Tests only read it (warehouse_copy
    gives a test a private copy to change)."""
    root = shared_dir(tmp_path_factory)
    data, done = root / "built", root / "built.done"
    with file_lock(root / "built.lock"):
        if not done.exists():
            shutil.rmtree(data, ignore_errors=True)
            pipeline.run_all(make_settings(data, dbt_unit_tests=True))  # the run's one build with dbt's unit tests
            done.write_text("built\n")
    saved = data / "build" / "target" / "partial_parse.msgpack"
    if saved.is_file() and not SAVED_PARSE:
        SAVED_PARSE.append(saved)
    return make_settings(data)


@pytest.fixture
def warehouse_copy(built_warehouse, tmp_path) -> Settings:
    """A private copy of the built data folder, for tests that try to break it."""
    target = tmp_path / "data"
    shutil.copytree(built_warehouse.data_dir, target, symlinks=True,  # logs: other tests append to them
                    ignore=shutil.ignore_patterns("airflow", "logs", "*.incoming"))
    return make_settings(target)


SYNTHETIC_HEADER = """# publication: {pub}
# title: SYNTHETIC test fixture, not real figures
# publisher: tests
# source_url: https://example.invalid/synthetic
# source_type: news
# date_read: 2026-11-27
# transcriber_note: synthetic rows written by a test
indicator,level,year,unit,score,rank,component,flags,note
"""


def write_curated(folder: Path, name: str, rows: str, pub: str | None = None) -> Path:
    """A synthetic curated file (its first row is line 9), labelled as such in its provenance."""
    path = folder / f"{name}.csv"
    path.write_text(SYNTHETIC_HEADER.format(pub=pub or f"curated-{name}") + rows, encoding="utf-8")
    return path


def curated_copy(tmp_path: Path) -> Path:
    """A private copy of the real curated files, to add a file to."""
    from ingest.config import CURATED_DIR

    folder = tmp_path / "curated"
    shutil.copytree(CURATED_DIR, folder)
    return folder


def query(settings: Settings, sql: str, params=None) -> list[tuple]:
    """Run a query on a settings' serving warehouse, read-only."""
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_fingerprints(db: Path) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent digest of every table in a DuckDB file."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute("select table_schema, table_name from information_schema.tables "
                             "where table_type = 'BASE TABLE' order by 1, 2").fetchall()
        out = {}
        for schema, name in tables:
            q = f'select count(*), md5(coalesce(string_agg(t::varchar, \'|\' order by t::varchar), \'\')) from "{schema}"."{name}" t'
            out[f"{schema}.{name}"] = tuple(con.execute(q).fetchone())
        return out
    finally:
        con.close()


def marts_differences(a: Path, b: Path, ignore: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
    """Every table of two DuckDB files compared with EXCEPT ALL both ways (columns in ignore left
    out): {table: (rows only in a, rows only in b)} for the tables that differ, and any table
    only one of them has."""
    con = duckdb.connect()
    try:
        con.execute("attach ? as a (read_only)", [str(a)])
        con.execute("attach ? as b (read_only)", [str(b)])
        tables = {}
        for side in ("a", "b"):
            tables[side] = {(s, t) for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = ? and table_type = 'BASE TABLE'", [side]).fetchall()}
        out = {f"{s}.{t}": (1, 0) for s, t in tables["a"] - tables["b"]}
        out |= {f"{s}.{t}": (0, 1) for s, t in tables["b"] - tables["a"]}
        for s, t in sorted(tables["a"] & tables["b"]):
            cols = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = 'a' and table_schema = ? "
                "and table_name = ? order by ordinal_position", [s, t]).fetchall() if c not in ignore]
            select = ", ".join(f'"{c}"' for c in cols)  # names read from the catalogue, quoted
            diff = [con.execute(f'select count(*) from (select {select} from {x}."{s}"."{t}" except all '
                                f'select {select} from {y}."{s}"."{t}")').fetchone()[0]
                    for x, y in (("a", "b"), ("b", "a"))]
            if any(diff):
                out[f"{s}.{t}"] = tuple(diff)
        return out
    finally:
        con.close()


def take_edition_line(path: Path, year: int) -> str:
    """Remove the one edition line of year from a family declaration (catalogue/<family>.yml); return it."""
    import re

    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    (line,) = [ln for ln in lines if re.match(rf"\s*- \{{year: {year}\b", ln)]
    path.write_text("".join(ln for ln in lines if ln is not line), encoding="utf-8")
    return line


# ------------------------------------------------------------------ a real HTTP server
@dataclass
class Route:
    body: bytes = b""
    statuses: list[int] = field(default_factory=list)  # served first, one per request (e.g. [500])
    redirect_to: str | None = None
    declared_length: int | None = None  # lie about Content-Length (truncated transfer)
    etag: str | None = None
    hits: int = 0
    retry_after: str = "0"  # the Retry-After sent with a 429 or 503
    stall: float = 0.0  # seconds to wait before answering (a server that hangs)
    trickle: float | None = None  # seconds between single bytes of the body (a server that crawls)
    cut_after: list[int] = field(default_factory=list)  # send this many body bytes, then drop the connection
    gzip: bool = False  # send the body with Content-Encoding: gzip (Content-Length of the encoded bytes)
    last_modified: str | None = None  # sent as Last-Modified; an equal If-Modified-Since gets a 304
    requests: list[dict[str, str]] = field(default_factory=list)  # each request's headers, names lower-cased


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Route] = {}

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        route.hits += 1
        route.requests.append({name.lower(): value for name, value in self.headers.items()})
        if route.stall:
            import time

            time.sleep(route.stall)
        if route.statuses:
            status = route.statuses.pop(0)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            if status in (429, 503):
                self.send_header("Retry-After", route.retry_after)
            self.end_headers()
            return
        if route.redirect_to:
            self.send_response(302)
            self.send_header("Location", route.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if route.etag and self.headers.get("If-None-Match") == route.etag:
            self.send_response(304)
            self.end_headers()
            return
        if (route.last_modified and self.headers.get("If-None-Match") is None  # RFC 9110: the ETag decides
                and self.headers.get("If-Modified-Since") == route.last_modified):
            self.send_response(304)
            self.end_headers()
            return
        body = route.body
        if route.gzip:
            import gzip

            body = gzip.compress(body, mtime=0)
        self.send_response(200)
        self.send_header("Content-Length", str(route.declared_length or len(body)))
        if route.gzip:
            self.send_header("Content-Encoding", "gzip")
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        self.end_headers()
        if route.cut_after:
            self.wfile.write(body[:route.cut_after.pop(0)])
            self.wfile.flush()
            self.close_connection = True
            return
        if route.trickle is not None:
            import time

            try:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(route.trickle)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client cut us off, as it should
            return
        self.wfile.write(body)
        if route.declared_length:
            self.close_connection = True


class LocalServer:
    def __init__(self):
        handler = type("Handler", (_Handler,), {"routes": {}})
        self.routes: dict[str, Route] = handler.routes
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, route: Route) -> Route:
        self.routes[path] = route
        return route

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    server = LocalServer()
    yield server
    server.close()


def serve_originals(server: LocalServer, originals: Path, overrides: dict[str, bytes] | None = None) -> None:
    """Serve every catalogued original under its origin path, as the re-host does."""
    from ingest import catalogue

    overrides = overrides or {}
    for pub in catalogue.CATALOGUE:
        body = overrides.get(pub.id, (originals / pub.original_relpath).read_bytes())
        server.add("/" + pub.origin_path, Route(body=body, etag=f'"{hashlib.md5(body).hexdigest()}"'))


# ------------------------------------------------------------------ a real PostgreSQL on 127.0.0.1
from ingest.pg_local import free_port as _free_port  # noqa: E402  (tests import it from here)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """A throwaway PostgreSQL cluster on 127.0.0.1, shared by the test run's tests on one worker."""
    with pg_cluster() as dsn:
        yield dsn


@contextmanager
def pg_cluster():
    """A throwaway PostgreSQL cluster on 127.0.0.1 (ingest/pg_local.py: initdb + pg_ctl; as the
    postgres user when root); yields the superuser's DSN on database postgres."""
    from ingest.pg_local import server_bindir, throwaway_cluster

    bindir = server_bindir()
    if bindir is None:
        if os.environ.get("GOVWH_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL server binaries not found and GOVWH_REQUIRE_POSTGRES=1")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; .ci/run installs Debian's postgresql")
    with throwaway_cluster(bindir) as dsn:
        yield dsn


# ------------------------------------------------------------------ other programs' own environments
def cached_venv(folder: Path, *install: str, timeout: float = 900) -> Path:
    """A separate Python environment under .cache/ (an older DuckDB as a BI tool ships it, Superset
    from its own lock), installed once with `uv pip install INSTALL...` and reused while those
    arguments stay the same; an interrupted install is finished in place. Returns its bin folder."""
    import subprocess
    import sys

    marker = folder / "installed"
    wanted = " ".join(install) + "\n"
    if not marker.exists() or marker.read_text() != wanted:
        uv = Path(sys.executable).parent / "uv"
        subprocess.run([str(uv), "venv", "-q", "--allow-existing", "--python", sys.executable, str(folder)], check=True)
        subprocess.run([str(uv), "pip", "install", "-q", "--compile-bytecode", "--python", str(folder / "bin" / "python"),
                        *install], check=True, timeout=timeout)
        marker.write_text(wanted)
    return folder / "bin"


# ------------------------------------------------------------------ the command line, as a user runs it
def govwh(settings: Settings, *args: str, env: dict | None = None, timeout: float = 300):
    """Run `python -m ingest ARGS` in a real process against a settings' data folder."""
    import subprocess
    import sys

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_")}
    full_env.update({"GOVWH_DATA_DIR": str(settings.data_dir), "GOVWH_WAREHOUSE": str(settings.warehouse),
                     "GOVWH_CURATED_DIR": str(settings.curated_dir),
                     "GOVWH_DBT_PROJECT_DIR": str(settings.dbt_project_dir), "PYTHONUNBUFFERED": "1"})
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "ingest", *args], env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(proc, pattern: str) -> str:
    """Exit status 1, exactly one line on stderr, `error: ...` matching pattern, no traceback."""
    import re

    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


@dataclass
class Snapshot:
    serving_sha256: str | None
    previous_sha256: str | None
    raw_files: dict[str, str]
    publish_log: str


def snapshot(settings: Settings) -> Snapshot:
    previous = settings.warehouse.with_name(settings.warehouse.name + ".previous")
    log = settings.warehouse.with_name("publish_log.jsonl")
    return Snapshot(
        file_sha256(settings.warehouse) if settings.warehouse.exists() else None,
        file_sha256(previous) if previous.exists() else None,
        {str(p.relative_to(settings.raw_dir)): file_sha256(p) for p in settings.raw_dir.glob("*/*")},
        log.read_text(encoding="utf-8") if log.exists() else "",
    )


def leftovers(settings: Settings) -> list[str]:
    """Temporary files and folders a failed step must not leave behind."""
    found = [p for p in settings.data_dir.rglob("*") if ".incoming" in p.name or p.name.endswith(".tmp")]
    return sorted(str(p.relative_to(settings.data_dir)) for p in found)


def assert_untouched(settings: Settings, before: Snapshot) -> None:
    """The serving file, its rollback copy and the publish log as they were; no raw file lost; no leftovers."""
    after = snapshot(settings)
    assert after.serving_sha256 == before.serving_sha256
    assert after.previous_sha256 == before.previous_sha256
    assert after.publish_log == before.publish_log
    for name, sha in before.raw_files.items():
        assert after.raw_files.get(name) == sha, f"raw file {name} lost or changed"
    assert leftovers(settings) == []


# ------------------------------------------------------------------ shared SYNTHETIC fixtures and helpers
def garbled_workbook() -> bytes:
    """SYNTHETIC: PCI 2016's sheet name, but nothing where the PCI table should be (parse refuses it)."""
    import io

    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Summary_VN"
    sheet.append(["Tỉnh", "PCI"])
    sheet.append([None, "SYNTHETIC test fixture, not a number"])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def tmpfs_kib(folder: Path) -> int:
    """What a copy of folder takes on a tmpfs, in KiB: every file a whole number of 4 KiB pages (a
    build folder holds hundreds of small files, so their sizes' sum undercounts by megabytes)."""
    return sum(-(-p.stat().st_size // 4096) * 4 for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def require_mount_namespaces() -> None:
    """Full-disk and read-only tests mount a tmpfs in a private mount namespace: root and `unshare -m`.
    Missing in CI is a failure, elsewhere a skip that says why."""
    import subprocess

    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, text=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0 or os.geteuid() != 0:
        why = "needs root and `unshare -m` (mount namespaces) to mount a small tmpfs or a read-only folder"
        if os.environ.get("CI") == "true":
            pytest.fail(f"storage fault tests cannot run here: {why}")
        pytest.skip(why)


def data_env(data_dir: Path) -> dict:
    """The environment of a CLI run on data_dir, with no other GOVWH_ setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVWH_")}
    env.update({"GOVWH_DATA_DIR": str(data_dir), "GOVWH_WAREHOUSE": str(data_dir / "governance.duckdb")})
    return env
