"""The law checks the SIG codecs (tests/unit/gatt/test_codec_laws.py) and the vendor frame codecs
(tests/unit/test_vendor_frames_laws.py) share; each suite says which codecs and which problems."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import strategies as st

from drivers.gatt import MalformedPacket


def assert_round_trip(parse: Callable[[bytes], Any], encode: Callable[[Any], bytes], value: Any) -> None:
    """Whatever the emulator encodes parses back to the same value."""
    assert parse(encode(value)) == value


def malformed_when_cut_short(parse: Callable[[bytes], Any], encoded: bytes, data: st.DataObject) -> MalformedPacket:
    """`encoded` cut short by any number of bytes (drawn) is malformed: the problem it raised."""
    cut = data.draw(st.integers(1, len(encoded)))
    with pytest.raises(MalformedPacket) as raised:
        parse(encoded[:-cut])
    return raised.value
