"""The pure protocol logic of the device families: what a driver decides, without the radio.

Beside `drivers.gatt` (SIG codecs) and `drivers.frames` (vendors' codecs), and as pure: no I/O, no
clock reads, no bleak; imports only `drivers.gatt`, `drivers.frames` and `hub.domain`. The
drivers in `drivers.devices` are the thin I/O around these.

* `glucose`: a glucose record -> `Reading`, what to request over RACP, measurement + context pairing.
* `glucose_clock`: where each meter keeps its clock, and the offset to the hub's timeline.
* `oximeter_stability`: when a live oximetry stream counts as one spot measurement.
"""
