"""Look at the database's files before SQLite does.

SQLite is forgiving where Heima must not be: a file that is not a database makes it fail later,
and a write-ahead log whose header is garbled is quietly ignored — every transaction committed
in it since the last checkpoint would vanish without a word, and the next write would reset it.
These checks read the bytes as SQLite's file format documents them
(https://www.sqlite.org/fileformat2.html) and raise StoreDamaged; they never write.

What a power cut leaves is not damage: with `synchronous=FULL` the WAL header is synced before
any frame follows it, and every acknowledged commit is synced before the next transaction
starts, so only the frames of the one unacknowledged transaction can be torn. The frame check
therefore calls a log damaged only when committed transactions follow the broken frame.
"""

from __future__ import annotations

import struct
from pathlib import Path

from hub.store.errors import damaged

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL_MAGIC = (0x377F0682, 0x377F0683)  # checksums in little- / big-endian words
WAL_VERSION = 3007000
WAL_HEADER = 32
FRAME_HEADER = 24


def refuse_damaged_files(path: Path, *, encrypted: bool = False) -> None:
    """Raise StoreDamaged if the database file or its WAL is not what Heima wrote. `encrypted`:
    a file that is not plaintext SQLite is taken as encrypted (SQLCipher has no plaintext
    header: its first 16 bytes are the salt; its pages are checked by their HMAC on open)."""
    if not (encrypted and header_kind(path) == "encrypted"):
        _check_database_header(path)
    _check_wal(path, Path(f"{path}-wal"))


def header_kind(path: Path) -> str:
    """'new' (no file, or an empty one: a first start cut short), 'plaintext' (SQLite's own
    header) or 'encrypted' (anything else, for the key to tell)."""
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return "new"
    if not head:
        return "new"
    return "plaintext" if head == SQLITE_MAGIC else "encrypted"


def _check_database_header(path: Path) -> None:
    try:
        with path.open("rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return
    if not head:
        return  # created and never written (a first start cut short): a new database
    if len(head) < 100 or not head.startswith(SQLITE_MAGIC):
        raise damaged(path, "its header is not an SQLite database header; it is damaged or is not a Heima database")


def _check_wal(path: Path, wal: Path) -> None:
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        return
    if len(data) < WAL_HEADER:
        return  # SQLite ignores a log this short; nothing committed can be in it
    problem = wal_problem(data)
    if problem:
        raise damaged(path, f"its write-ahead log {wal.name} {problem}")
    if path.exists() and path.stat().st_size == 0 and _valid_frames(data):
        # SQLite deletes the log of an empty database file: what the log holds would be lost.
        raise damaged(path, "the database file is empty but its write-ahead log holds data")


def wal_problem(data: bytes) -> str | None:
    """Why this write-ahead log cannot be trusted, or None."""
    magic, version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", data[:WAL_HEADER])
    if magic not in WAL_MAGIC or version != WAL_VERSION:
        return "has a garbled header"
    big_endian = magic == WAL_MAGIC[1]
    if _checksum(data[:24], (0, 0), big_endian) != (c1, c2):
        return "has a garbled header"
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        return "has a garbled header"
    frame = FRAME_HEADER + page_size
    frames = (len(data) - WAL_HEADER) // frame

    def at(i: int) -> tuple[bytes, tuple[int, ...]]:
        start = WAL_HEADER + i * frame
        return data[start : start + frame], struct.unpack(">6I", data[start : start + FRAME_HEADER])

    def ours(fields: tuple[int, ...]) -> bool:
        return fields[0] != 0 and (fields[2], fields[3]) == (salt1, salt2)

    # The valid prefix, as SQLite reads it: a chain of checksums from the header's.
    running = (c1, c2)
    broken = None
    for i in range(frames):
        body, fields = at(i)
        running = _checksum(body[:8] + body[FRAME_HEADER:], running, big_endian)
        if not ours(fields) or running != (fields[4], fields[5]):
            broken = i
            break
    if broken is None:
        return None
    # After the break: frames that chain from each other's stored checksums were written in one
    # run with the broken one. Two commits among them mean a whole committed transaction was
    # synced after the broken frame, which was therefore synced too: damaged, not torn. (The
    # frame right after the break is skipped when it does not chain: the broken frame's own
    # stored checksum may be what was garbled.)
    commits = 0
    previous = at(broken)[1]
    for i in range(broken + 1, frames):
        body, fields = at(i)
        chained = _checksum(body[:8] + body[FRAME_HEADER:], (previous[4], previous[5]), big_endian) == (fields[4], fields[5])
        if not (ours(fields) and chained):
            if i > broken + 1 or not ours(fields):
                break
        else:
            commits += fields[1] != 0
            if commits >= 2:
                return f"is garbled at frame {broken + 1} with committed transactions after it"
        previous = fields
    return None


def _valid_frames(data: bytes) -> bool:
    """Whether the log holds at least one frame of its own generation (a committed write)."""
    page_size, salt1, salt2 = struct.unpack(">I", data[8:12])[0], *struct.unpack(">2I", data[16:24])
    if len(data) < WAL_HEADER + FRAME_HEADER + page_size:
        return False
    page, _size, s1, s2 = struct.unpack(">4I", data[WAL_HEADER : WAL_HEADER + 16])
    return page != 0 and (s1, s2) == (salt1, salt2)


def _checksum(data: bytes, start: tuple[int, int], big_endian: bool) -> tuple[int, int]:
    """SQLite's WAL checksum: Fibonacci-weighted sums of 32-bit word pairs, carried from `start`."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    s0, s1 = start
    for k in range(0, len(words), 2):
        s0 = (s0 + words[k] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[k + 1] + s0) & 0xFFFFFFFF
    return s0, s1
