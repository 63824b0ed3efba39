"""Where things live and how the pipeline behaves: every setting can come from an environment
variable, and every variable is validated (an environment is input like any other).

GOVWH_DATA_DIR        root of everything the pipeline writes (default: <repo>/warehouse)
GOVWH_WAREHOUSE       the serving DuckDB file (default: $GOVWH_DATA_DIR/governance.duckdb)
GOVWH_SOURCE          'bundle' (default: the embedded tidy tables in data/bundle),
                      'live' (the publishers' origin URLs) or 'mirror' (origin paths on GOVWH_MIRROR)
GOVWH_MIRROR          base URL (http or https) standing in for the origin host in 'mirror' mode
GOVWH_ALLOWED_HOSTS   extra origins the fetcher may contact, comma separated: 'host' (https on
                      443), 'host:port' (https), or 'http://host:port'
GOVWH_ORIGINALS       folder of the publishers' original files (default: ../shared/sources/originals)
GOVWH_CURATED_DIR     folder of curated intake files (default: <repo>/data/curated)
GOVWH_MAX_RETRY_AFTER longest Retry-After the fetcher honours, in seconds (default 300)
GOVWH_FETCH_DEADLINE  longest time one file's download may take, retries included (default 900 s)
GOVWH_LOCK_WAIT       seconds a run waits for another run's lock before giving up (default 0)
GOVWH_CONNECT_TIMEOUT, GOVWH_READ_TIMEOUT   seconds per socket operation (defaults 10 and 60)
GOVWH_RETRIES         tries after the first on connection errors, 429 and 5xx (default 4)
GOVWH_BACKOFF         backoff factor in seconds between tries, doubling each time (default 0.5)
GOVWH_MAX_BYTES       largest file the fetcher accepts, in bytes (default 50 MiB)
GOVWH_DBT_PROJECT_DIR the dbt project to build (default: <repo>/dbt_project); the scale harness
                      points it at its own copy, whose seeds register its synthetic units. Every
                      parser reads its seeds from this project (ParseContext.seeds_dir)
GOVWH_CATALOGUE_DIR   folder of the publication families' declarations, one <family>.yml each
                      (default: <repo>/catalogue); see ingest.declarations
GOVWH_CATALOGUE_EXTRA a JSON file registering more publications, each a tidy bundle (.csv.gz)
                      beside it (default: none); see ingest.catalogue.extra. The scale harness
                      registers its synthetic publication this way
GOVWH_DBT_UNIT_TESTS  1: the build runs dbt's unit tests too (default 0: they check the SQL on
                      fixed inputs, not the data, so they run where the SQL changes: `make check`
                      and `make test` run them in their shared build; dbt's docs recommend leaving
                      them out of production builds)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_ROOT / "data" / "bundle"
CURATED_DIR = REPO_ROOT / "data" / "curated"
CATALOGUE_DIR = REPO_ROOT / "catalogue"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"

# DuckDB's memory for the pipeline's own connections (the serving file, receipts, publish, report,
# exports) and for dbt (profiles.yml says the same; a test keeps them equal). Without it DuckDB
# takes up to 80% of RAM: 2.3 GB writing the serving file at 100x today's data (bench/scale.py).
# Beyond it, DuckDB spills to disk (dbt runs one model at a time, profiles.yml says why). No
# progress bar: these are not interactive.
DUCKDB_MEMORY_LIMIT = "2GB"


def tune(con, spill: Path | None = None):
    """Set the memory limit on a DuckDB connection (SET, not connect(config=...): a config would
    clash with another connection of this process to the same file); returns the connection.
    spill: where an in-memory connection spills beyond the limit (DuckDB's default is `.tmp` in the
    current directory, wherever the command was started: at 100x the serving file's writer left
    1.4 GB there)."""
    con.execute("SET memory_limit = ?", [DUCKDB_MEMORY_LIMIT])
    if spill is not None:
        con.execute("SET temp_directory = ?", [str(spill)])
    con.execute("SET enable_progress_bar = false")
    return con

Origin = tuple[str, str, int]  # (scheme, host, port): what the fetcher's allowlist compares
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origin(text: str, variable: str) -> Origin:
    """'host', 'host:port' or 'scheme://host[:port]' -> (scheme, host, port)."""
    raw = text.strip()
    parsed = urlparse(raw if "://" in raw else "https://" + raw)
    try:
        port = parsed.port
    except ValueError as exc:
        raise ConfigError(f"{variable}: {raw!r} has an invalid port ({exc})") from exc
    if parsed.scheme not in DEFAULT_PORTS or not parsed.hostname or parsed.path not in ("", "/") \
            or parsed.username or parsed.query:
        raise ConfigError(f"{variable}: {raw!r} is not a host, host:port or http(s)://host:port")
    return parsed.scheme, parsed.hostname.lower(), port or DEFAULT_PORTS[parsed.scheme]


def url_origin(url: str) -> Origin | None:
    parsed = urlparse(url)
    if parsed.scheme not in DEFAULT_PORTS or not parsed.hostname:
        return None
    try:
        port = parsed.port
    except ValueError:
        return None
    return parsed.scheme, parsed.hostname.lower(), port or DEFAULT_PORTS[parsed.scheme]


def _number(env, name: str, default: float, low: float, high: float) -> float:
    text = env.get(name)
    if text is None or text.strip() == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={text!r} is outside [{low:g}, {high:g}]")
    return value


def _flag(env, name: str) -> bool:
    text = (env.get(name) or "").strip()
    if text not in ("", "0", "1"):
        raise ConfigError(f"{name}={text!r} must be 0 or 1")
    return text == "1"


def _path(env, name: str, default: Path) -> Path:
    text = env.get(name)
    if text is None or text.strip() == "":
        return Path(default).resolve()
    if any(ord(ch) < 32 for ch in text):
        raise ConfigError(f"{name} holds control characters")
    return Path(text).expanduser().resolve()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    warehouse: Path
    source_mode: str = "bundle"
    mirror: str | None = None
    extra_origins: tuple[Origin, ...] = field(default_factory=tuple)
    max_bytes: int = 50 * 1024 * 1024
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 4
    backoff: float = 0.5
    max_retry_after: float = 300.0
    fetch_deadline: float = 900.0
    lock_wait: float = 0.0
    curated_dir: Path = CURATED_DIR
    dbt_project_dir: Path = DBT_PROJECT_DIR
    catalogue_extra: Path | None = None
    catalogue_dir: Path = CATALOGUE_DIR
    dbt_unit_tests: bool = False

    @classmethod
    def from_env(cls, env=None, **overrides) -> "Settings":
        env = os.environ if env is None else env
        data_dir = _path(env, "GOVWH_DATA_DIR", REPO_ROOT / "warehouse")
        warehouse = _path(env, "GOVWH_WAREHOUSE", data_dir / "governance.duckdb")
        origins = tuple(parse_origin(h, "GOVWH_ALLOWED_HOSTS")
                        for h in env.get("GOVWH_ALLOWED_HOSTS", "").split(",") if h.strip())
        values = dict(
            data_dir=data_dir,
            warehouse=warehouse,
            source_mode=env.get("GOVWH_SOURCE", "bundle").strip() or "bundle",
            mirror=env.get("GOVWH_MIRROR", "").strip() or None,
            extra_origins=origins,
            max_retry_after=_number(env, "GOVWH_MAX_RETRY_AFTER", 300.0, 0, 86400),
            fetch_deadline=_number(env, "GOVWH_FETCH_DEADLINE", 900.0, 1, 86400),
            lock_wait=_number(env, "GOVWH_LOCK_WAIT", 0.0, 0, 86400),
            connect_timeout=_number(env, "GOVWH_CONNECT_TIMEOUT", 10.0, 0.1, 600),
            read_timeout=_number(env, "GOVWH_READ_TIMEOUT", 60.0, 0.1, 3600),
            retries=int(_number(env, "GOVWH_RETRIES", 4, 0, 20)),
            backoff=_number(env, "GOVWH_BACKOFF", 0.5, 0, 60),
            max_bytes=int(_number(env, "GOVWH_MAX_BYTES", 50 * 1024 * 1024, 1, 10 * 1024 ** 3)),
            curated_dir=_path(env, "GOVWH_CURATED_DIR", CURATED_DIR),
            dbt_project_dir=_path(env, "GOVWH_DBT_PROJECT_DIR", DBT_PROJECT_DIR),
            catalogue_extra=_path(env, "GOVWH_CATALOGUE_EXTRA", None) if env.get("GOVWH_CATALOGUE_EXTRA", "").strip()
            else None,
            catalogue_dir=_path(env, "GOVWH_CATALOGUE_DIR", CATALOGUE_DIR),
            dbt_unit_tests=_flag(env, "GOVWH_DBT_UNIT_TESTS"),
        )
        values.update(overrides)
        if values["source_mode"] not in ("bundle", "live", "mirror"):
            raise ConfigError(f"GOVWH_SOURCE must be bundle, live or mirror, not {values['source_mode']!r}")
        if values["source_mode"] == "mirror" and not values["mirror"]:
            raise ConfigError("GOVWH_SOURCE=mirror needs GOVWH_MIRROR (a base URL)")
        if values["mirror"] and url_origin(values["mirror"]) is None:
            raise ConfigError(f"GOVWH_MIRROR={values['mirror']!r} is not an http(s) URL with a host")
        project = values["dbt_project_dir"]
        missing = [n for n in ("dbt_project.yml", "profiles.yml") if not (project / n).is_file()]
        if missing:
            raise ConfigError(f"GOVWH_DBT_PROJECT_DIR={str(project)!r} is not a dbt project of this pipeline "
                              f"(no {' or '.join(missing)} in it)")
        extra = values["catalogue_extra"]
        if extra is not None and (extra.suffix != ".json" or not extra.is_file()):
            raise ConfigError(f"GOVWH_CATALOGUE_EXTRA={str(extra)!r} must name an existing .json file")
        if not values["catalogue_dir"].is_dir():
            raise ConfigError(f"GOVWH_CATALOGUE_DIR={str(values['catalogue_dir'])!r} is not a folder "
                              "(of <family>.yml declarations)")
        if values["warehouse"].suffix != ".duckdb":
            raise ConfigError(f"GOVWH_WAREHOUSE={str(values['warehouse'])!r} must name a .duckdb file")
        return cls(**values)

    @property
    def seeds_dir(self) -> Path:
        """The seeds of the project being built: the registry the publisher files' names resolve with."""
        return self.dbt_project_dir / "seeds"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def manifest(self) -> Path:
        return self.raw_dir / "manifest.jsonl"

    @property
    def parsed_dir(self) -> Path:
        return self.data_dir / "parsed"

    @property
    def build_dir(self) -> Path:
        return self.data_dir / "build"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"


def originals_dir() -> Path:
    return _path(os.environ, "GOVWH_ORIGINALS", REPO_ROOT.parent / "shared" / "sources" / "originals")
