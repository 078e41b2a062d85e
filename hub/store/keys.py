"""The store's key: what makes heima.db unreadable once the hub is returned.

The database is encrypted at rest with SQLCipher (AES-256, an HMAC on every page). Its key is
32 random bytes with the database's 16-byte salt beside them, given to SQLCipher raw (no key
derivation: opening stays as fast as a plain file's). It lives in a file of its own, 0600, in a
folder beside the data folder, not in it (`/var/lib/heima` -> `/var/lib/heima-keys`): a copy of
the data folder carries no key, and the return destroys the key first — after that the store's
bytes, wherever an SD card kept them, are noise. What that does and does not guarantee:
docs/data-safety.md.

The salt is in the key file because SQLCipher writes it as the database file's first 16 bytes:
a database whose first bytes are not the key's salt was not made with this key (the wrong key
file), which is told apart from a damaged page that way.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from hub.store.errors import StoreError

__all__ = ["KEY_FOLDER_SUFFIX", "StoreKey", "StoreKeyError", "create_key", "key_path", "missing", "read_key", "wrong"]

KEY_BYTES, SALT_BYTES = 32, 16
KEY_FOLDER_SUFFIX = "-keys"
_FORMAT = "heima-store-key/1"


class StoreKeyError(StoreError):
    """The database's key file is missing, damaged, or belongs to another database."""


@dataclass(frozen=True, slots=True)
class StoreKey:
    key: bytes
    salt: bytes

    def pragma(self) -> str:
        """`PRAGMA key` with the raw key and the salt: the first statement on every connection."""
        return f"PRAGMA key = \"x'{(self.key + self.salt).hex()}'\""

    def attach(self, file: Path, schema: str) -> str:
        """ATTACH an encrypted file under this key (the plaintext upgrade's export target)."""
        quoted = str(file).replace("'", "''")
        return f"ATTACH DATABASE '{quoted}' AS {schema} KEY \"x'{(self.key + self.salt).hex()}'\""

    def __repr__(self) -> str:  # never the bytes, in a traceback or a log
        return "StoreKey(<hidden>)"


def key_path(database: Path) -> Path:
    """Where the key of `database` lives: `<data folder>-keys/<name>.key`, beside the data folder."""
    folder = database.absolute().parent
    return folder.with_name(folder.name + KEY_FOLDER_SUFFIX) / f"{database.name}.key"


def read_key(path: Path) -> StoreKey | None:
    """The key in `path`; None when there is no key file."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        raise StoreKeyError(_unreadable(path)) from None
    words = text.split()
    try:
        if len(words) != 2 or words[0] != _FORMAT:
            raise ValueError
        raw = bytes.fromhex(words[1])
        if len(raw) != KEY_BYTES + SALT_BYTES:
            raise ValueError
    except ValueError:
        raise StoreKeyError(_unreadable(path)) from None
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o777 != 0o600:
            path.chmod(0o600)  # made before this Heima, or copied by hand
    return StoreKey(raw[:KEY_BYTES], raw[KEY_BYTES:])


def create_key(path: Path) -> StoreKey:
    """A new random key, written atomically (temporary file, fsync, rename, fsync the folder) and
    0600 in a 0700 folder: a power cut leaves the old state or the whole key, never half of it."""
    # os.urandom is the OS's CSPRNG, what secrets.token_bytes returns, without importing `secrets`
    # (and with it hmac and OpenSSL's hashes) at every start for a key made once (issue 13).
    key = StoreKey(os.urandom(KEY_BYTES), os.urandom(SALT_BYTES))
    folder = path.parent
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        _fsync_dir(folder.parent)
    temporary = folder / f".{path.name}.tmp"
    temporary.unlink(missing_ok=True)  # a creation cut short earlier
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, f"{_FORMAT} {(key.key + key.salt).hex()}\n".encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    _fsync_dir(folder)
    return key


def missing(database: Path, path: Path) -> StoreKeyError:
    return StoreKeyError(
        f"the database {database} is encrypted and its key file {path} is missing, so it cannot be read; "
        "Heima has left it as it is: if this hub was returned (wiped) that is expected — remove the data folder's "
        "heima.db* files and enrol it; otherwise restore the key folder from where it was kept and start again"
    )


def wrong(database: Path, path: Path) -> StoreKeyError:
    return StoreKeyError(
        f"the database {database} was not encrypted with the key in {path} (another database's key, or the "
        "file's first bytes are damaged); Heima has left both as they are: put the right key file back, or ask "
        "your technician"
    )


def _unreadable(path: Path) -> str:
    return (
        f"the database's key file {path} is damaged or is not one Heima wrote; Heima has left it and the database "
        "as they are: restore the key file, or ask your technician"
    )


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # a folder that cannot be opened for sync (some file systems)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
