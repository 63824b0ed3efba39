"""Where things live. Every path can be moved with an environment variable.

GOVWH_DATA_DIR     root of everything the pipeline writes (default: <repo>/warehouse)
GOVWH_WAREHOUSE    the serving DuckDB file (default: $GOVWH_DATA_DIR/governance.duckdb)
GOVWH_SOURCE       'bundle' (default: the embedded tidy tables in data/bundle),
                   'live' (the publishers' origin URLs) or 'mirror' (origin paths on GOVWH_MIRROR)
GOVWH_MIRROR       base URL standing in for the origin host in 'mirror' mode
GOVWH_ALLOWED_HOSTS extra hosts the fetcher may contact (comma separated)
GOVWH_ORIGINALS    folder of the publishers' original files (default: ../shared/sources/originals)
GOVWH_CURATED_DIR  folder of curated intake files (default: <repo>/data/curated)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_ROOT / "data" / "bundle"
CURATED_DIR = REPO_ROOT / "data" / "curated"
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    warehouse: Path
    source_mode: str = "bundle"
    mirror: str | None = None
    extra_hosts: tuple[str, ...] = field(default_factory=tuple)
    max_bytes: int = 50 * 1024 * 1024
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 4
    backoff: float = 0.5
    curated_dir: Path = CURATED_DIR

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        data_dir = Path(os.environ.get("GOVWH_DATA_DIR", REPO_ROOT / "warehouse")).resolve()
        warehouse = Path(os.environ.get("GOVWH_WAREHOUSE", data_dir / "governance.duckdb")).resolve()
        hosts = tuple(h.strip() for h in os.environ.get("GOVWH_ALLOWED_HOSTS", "").split(",") if h.strip())
        values = dict(
            data_dir=data_dir,
            warehouse=warehouse,
            source_mode=os.environ.get("GOVWH_SOURCE", "bundle"),
            mirror=os.environ.get("GOVWH_MIRROR") or None,
            extra_hosts=hosts,
            curated_dir=Path(os.environ.get("GOVWH_CURATED_DIR", CURATED_DIR)).resolve(),
        )
        values.update(overrides)
        if values["source_mode"] not in ("bundle", "live", "mirror"):
            raise ValueError(f"GOVWH_SOURCE must be bundle, live or mirror, not {values['source_mode']!r}")
        if values["source_mode"] == "mirror" and not values["mirror"]:
            raise ValueError("GOVWH_SOURCE=mirror needs GOVWH_MIRROR (a base URL)")
        return cls(**values)

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


def originals_dir() -> Path:
    default = REPO_ROOT.parent / "shared" / "sources" / "originals"
    return Path(os.environ.get("GOVWH_ORIGINALS", default)).resolve()
