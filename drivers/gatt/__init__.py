"""Pure codecs for Bluetooth SIG health characteristics: bytes in, frozen dataclasses out.

No I/O and nothing of ours imported. Every malformed input raises `MalformedPacket` (a
`ValueError`) naming the characteristic and what was wrong; nothing else escapes a parser.
"""

from __future__ import annotations


class MalformedPacket(ValueError):
    """Bytes from a device that do not follow the characteristic's layout.

    The message names the characteristic and the defect, never the values: it may be logged.
    """

    def __init__(self, characteristic: str, problem: str) -> None:
        self.characteristic = characteristic
        self.problem = problem
        super().__init__(f"{characteristic}: {problem}")


__all__ = ["MalformedPacket"]
