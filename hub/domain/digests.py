"""SHA-1 and SHA-256, and RFC 4122 name-based UUIDs (version 5), without loading OpenSSL.

`hashlib` sets up OpenSSL's digests when it is first imported: ~1 MB of the hub's resident memory
(libcrypto's pages it touches, its tables; docs/performance.md, part M11) for the few short names
the delivery path and the plan's alerts derive from text. The standard library's own `random`
imports the lean builtin SHA-512 module before hashlib for the same reason ("hashlib is pretty
heavy to load"); this module does the same for SHA-1 and SHA-256, and falls back to hashlib on a
Python built without them. Same digests either way (tests/unit/hub/test_digests.py).
"""

from __future__ import annotations

import uuid

try:
    from _sha1 import sha1
except ImportError:  # pragma: no cover - a Python built without its builtin hashes
    from hashlib import sha1

try:
    from _sha256 import sha256  # Python 3.11
except ImportError:  # pragma: no cover - 3.12 renamed it
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256


def uuid5(namespace: uuid.UUID, name: str) -> uuid.UUID:
    """`uuid.uuid5(namespace, name)`: the SHA-1 of the namespace's bytes and the name's UTF-8,
    its first 16 bytes with the version set to 5 and the RFC 4122 variant."""
    digest = sha1(namespace.bytes + name.encode("utf-8")).digest()
    return uuid.UUID(bytes=digest[:16], version=5)


__all__ = ["sha1", "sha256", "uuid5"]
