"""The lean digests (hub.domain.digests) are the standard ones: the same SHA-1 and SHA-256 as
hashlib's, the same name-based UUIDs as uuid.uuid5, for any bytes, names and namespaces."""

from __future__ import annotations

import hashlib
import uuid

from hypothesis import given
from hypothesis import strategies as st

from hub.domain.digests import sha1, sha256, uuid5


@given(st.binary(max_size=300))
def test_sha1_and_sha256_are_hashlibs(data: bytes) -> None:
    assert sha1(data).hexdigest() == hashlib.sha1(data).hexdigest()
    assert sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    copied = sha1(data[:3])
    copied = copied.copy()
    copied.update(data[3:])
    assert copied.digest() == hashlib.sha1(data).digest()  # a prefix hashed once, then copied (sync.fhir.devices)


@given(st.uuids(), st.text(max_size=80))
def test_uuid5_is_the_standard_name_based_uuid(namespace: uuid.UUID, name: str) -> None:
    assert uuid5(namespace, name) == uuid.uuid5(namespace, name)


def test_known_names_keep_their_uuids() -> None:
    # RFC 4122's own example namespace: what every earlier bundle and alert was named with
    assert str(uuid5(uuid.NAMESPACE_DNS, "python.org")) == "886313e1-3b8a-5372-9b90-0c9aee199e5d"
    assert str(uuid5(uuid.NAMESPACE_URL, "urn:heima")) == str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:heima"))
