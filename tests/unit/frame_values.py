"""Hypothesis strategies for the vendor frame codecs (drivers.frames): the whole space of values
each parser can return, shared by the codec tests and the laws (test_vendor_frames_laws.py)."""

from __future__ import annotations

from hypothesis import strategies as st

from drivers.frames.berrymed import BerryMedFrame
from drivers.frames.jumper import JumperPleth, JumperValues
from drivers.frames.nonin import NoninFrame, NoninStatus

NONIN_FRAMES = st.builds(
    NoninFrame,
    status=st.builds(NoninStatus, st.integers(0, 255)),
    battery_decivolts=st.integers(0, 255),
    pulse_amplitude_raw=st.integers(0, 0xFFFF),
    counter=st.integers(0, 0xFFFF),
    spo2=st.none() | st.integers(0, 100),
    pulse_rate=st.none() | st.integers(0, 321),
)
JUMPER_VALUES = st.builds(
    JumperValues,
    pulse_rate=st.none() | st.integers(1, 254),
    spo2=st.none() | st.integers(1, 100),
    perfusion_index_raw=st.none() | st.integers(1, 254),
)
JUMPER_FRAMES = JUMPER_VALUES | st.builds(JumperPleth, st.lists(st.integers(0, 255), min_size=1, max_size=20).map(tuple))
BERRYMED_FRAMES = st.builds(
    BerryMedFrame,
    signal_strength=st.integers(0, 15),
    probe_unplugged=st.booleans(),
    pulse_beep=st.booleans(),
    pleth=st.integers(0, 127),
    bar_graph=st.integers(0, 15),
    no_finger=st.booleans(),
    pulse_searching=st.booleans(),
    pulse_rate=st.none() | st.integers(0, 254),
    spo2=st.none() | st.integers(0, 100),
)
