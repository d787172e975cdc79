"""Content-addressed files under DATA_DIR: raw messages (gzip) and attachments, by SHA-256."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from carteiro.errors import NotFound
from carteiro.files import private_dir

_KEY = re.compile(r"(raw|att)/[0-9a-f]{2}/[0-9a-f]{64}(\.gz)?")
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Stored:
    key: str
    sha256: str
    size: int


def pack(raw: bytes) -> bytes:
    """gzip: mail compresses three to five times and any tool can open it."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(raw) + packer.flush()


def unpack(data: bytes) -> bytes:
    return zlib.decompress(data, 31)


class BlobStore:
    """Writes each distinct content once (atomically) and reads it back by key."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> BlobStore:
        return cls(Path(data_dir) / "inbox")

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise NotFound("stored content not found")
        return self.root / key

    def put(self, data: bytes, *, kind: str, compress: bool = False) -> Stored:
        sha = hashlib.sha256(data).hexdigest()
        key = f"{kind}/{sha[:2]}/{sha}{'.gz' if compress else ''}"
        path = self.root / key
        if not path.exists():
            private_dir(path.parent)
            # mkstemp creates the file 0600; it keeps that mode when renamed into place.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    if compress:
                        packer = zlib.compressobj(6, zlib.DEFLATED, 31)
                        for start in range(0, len(data), CHUNK):
                            fh.write(packer.compress(data[start : start + CHUNK]))
                        fh.write(packer.flush())
                    else:
                        for start in range(0, len(data), CHUNK):
                            fh.write(data[start : start + CHUNK])
                # Same content, same name: a concurrent writer's file is just as good.
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return Stored(key=key, sha256=sha, size=len(data))

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            if key.endswith(".gz"):
                with gzip.open(path, "rb") as fh:
                    return fh.read()
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound("stored content not found (the data directory may differ)") from None

    def stream(self, key: str) -> Iterator[bytes]:
        """The content in chunks, for large attachments; a missing file is NotFound at once."""
        path = self._path(key)
        if not path.is_file():
            raise NotFound("stored content not found (the data directory may differ)")
        return self._chunks(path, compressed=key.endswith(".gz"))

    @staticmethod
    def _chunks(path: Path, *, compressed: bool) -> Iterator[bytes]:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
