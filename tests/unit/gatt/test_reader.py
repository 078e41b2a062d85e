"""The codecs share one public reading kit, and none of them reaches into another's privates."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import drivers.gatt
from drivers.gatt import MalformedPacket
from drivers.gatt.reader import Reader, open_frame

CODEC_DIRS = [Path(drivers.gatt.__file__).parent.parent / name for name in ("gatt", "frames", "protocol")]


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("drivers.")
        for alias in node.names
        if alias.name.startswith("_")
    ]


@pytest.mark.parametrize(
    "path", [p for d in CODEC_DIRS if d.is_dir() for p in sorted(d.glob("*.py"))], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_no_codec_imports_another_modules_private_helpers(path):
    assert _private_imports(path) == []


def test_a_frame_is_opened_by_its_flags_and_read_in_order():
    reader, flags = open_frame(bytes([0x03, 0x34, 0x12, 0xFF]), "Some Characteristic", 1)
    assert flags == 0x03
    reader.expect_length(4)
    assert reader.uint(2) == 0x1234
    assert reader.uint(1) == 0xFF


def test_a_frame_too_short_for_its_flags_is_malformed_and_names_the_characteristic():
    with pytest.raises(MalformedPacket, match="^Some Characteristic: too short for its flags field$"):
        open_frame(b"\x01", "Some Characteristic", 2)


@pytest.mark.parametrize(("promised", "problem"), [(4, "too short .*needs 4 bytes, got 3"), (2, "1 trailing byte")])
def test_a_length_that_disagrees_with_the_flags_is_malformed(promised, problem):
    with pytest.raises(MalformedPacket, match=problem):
        Reader(b"\x00\x00\x00", "Some Characteristic").expect_length(promised)


def test_anything_but_bytes_is_a_callers_bug_not_a_malformed_packet():
    with pytest.raises(TypeError):
        open_frame("01", "Some Characteristic", 1)  # type: ignore[arg-type]
