"""Swapping a folder that readers may be using, whole."""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def replace_dir(staging: Path, target: Path) -> None:
    """Put a fully written folder in place of target; readers never see half of either.

    Two renames: the old folder moves aside, the new one moves in, the old one is removed.
    """
    old = target.with_name(target.name + ".previous")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
