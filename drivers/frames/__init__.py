"""Pure codecs for vendors' own oximeter protocols, beside `drivers.gatt` and under the same laws.

Bytes in, frozen dataclasses out; encoders for the emulator and the tests. Nothing here does I/O
or imports anything of ours but `drivers.gatt`. Every malformed input raises `MalformedFrame` (a
`MalformedPacket`, so a `ValueError`) naming the device's frame and the defect, never the values;
nothing else escapes a parser, and an encoder refuses (`ValueError`) any value its parser could
never return, so `parse(encode(x)) == x` for every `x` it accepts.

* `nonin`: Nonin 3230 continuous oximetry frames.
* `jumper`: Jumper JPD-500F value and plethysmogram frames.
* `berrymed`: BerryMed BM1000 5-byte frames and the stream that reassembles them.
"""

from __future__ import annotations

from drivers.gatt import MalformedPacket


class MalformedFrame(MalformedPacket):
    """A proprietary frame that does not follow its layout (message names no values)."""


__all__ = ["MalformedFrame"]
