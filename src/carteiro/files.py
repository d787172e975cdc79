"""Files holding mail, credentials or the database: owner-only, whatever the process umask."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Creates the directory (and missing parents) as 0700, or tightens an existing one that
    others could read."""
    path = Path(path)
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    # One at a time: Path.mkdir(parents=True) gives the parents the default mode.
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(DIR_MODE)
    return path


def tighten(path: Path) -> None:
    """Makes an existing file 0600 if others could read it; a missing one is left alone."""
    try:
        if Path(path).stat().st_mode & 0o077:
            Path(path).chmod(FILE_MODE)
    except FileNotFoundError:
        pass


def write_private(path: Path, data: bytes) -> None:
    """Writes `data` to a 0600 file (an existing file is tightened before anything is written)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), FILE_MODE)
        fh.write(data)
