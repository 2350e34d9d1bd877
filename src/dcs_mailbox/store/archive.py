"""Raw bytes of every fetched message, stored before anything else happens to them.

Content-addressed (sha256) files under the data directory: writing the same message
twice is a no-op, and a file is either complete or absent (temp file + fsync + rename).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dcs_mailbox.errors import StoreError


class RawArchive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / f"{sha256}.eml"

    def store(self, raw: bytes, sha256: str | None = None) -> str:
        """Write `raw` (whose digest the caller may already know); returns the digest."""
        digest = sha256 or hashlib.sha256(raw).hexdigest()
        path = self.path_for(digest)
        if path.exists():
            return digest
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            # Owner-only: the archive holds people's mail.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(raw)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            raise StoreError(
                f"cannot write the raw archive under {self.root}: {exc.strerror} "
                "(disk full or permissions?)"
            ) from exc
        return digest

    def delete(self, sha256: str) -> bool:
        """Remove a message's bytes (retention); True if a file was there."""
        try:
            self.path_for(sha256).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreError(f"cannot delete archived message {sha256}: {exc.strerror}") from exc
        return True

    def load(self, sha256: str) -> bytes:
        try:
            return self.path_for(sha256).read_bytes()
        except OSError as exc:
            raise StoreError(f"archived message {sha256} is missing: {exc.strerror}") from exc
