"""The embedded default data: the tidy tables this project's parsers make from the
publishers' original files, committed as data/bundle/<publication>.csv.gz. The originals
themselves stay outside the repo (../shared/sources/originals).

    python -m ingest bundle [--originals DIR]   # regenerate the bundle from the originals
"""
from __future__ import annotations

from pathlib import Path

from . import catalogue
from .config import BUNDLE_DIR
from .landing import sha256_file
from .parsers import ParseContext, ParseResult, parse
from .tidy import write_bundle


def parse_original(pub: catalogue.PublisherFile, originals: Path) -> ParseResult:
    path = originals / pub.original_relpath
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the original of {pub.id}")
    ctx = ParseContext(path=path, label=f"{pub.id} ({path.name})", source_sha256=sha256_file(path),
                       source_file=path.name)
    return parse(pub.parser, pub, ctx)


def build_bundle(originals: Path, out_dir: Path = BUNDLE_DIR) -> list[tuple[str, int, Path]]:
    written = []
    for pub in catalogue.CATALOGUE:
        result = parse_original(pub, originals)
        target = out_dir / pub.bundle_file.name
        write_bundle(result.rows, target)
        print(f"[bundle] {pub.id:<22} {len(result.rows):>6} rows -> {target}", flush=True)
        written.append((pub.id, len(result.rows), target))
    return written
