"""The measuring screen's state machine, without Kivy: the rules the screen tests check through
the window (tests/ui/test_screens.py, test_e2e_*), here as plain transitions, and Hypothesis
walking any order of events for what must never happen."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hub.api import (
    FAMILY_KINDS,
    Connected,
    ConsentFailed,
    CuffPressure,
    DeliveryChanged,
    DeviceFamily,
    DeviceFound,
    DownloadProgress,
    LiveReading,
    MeasurementKind,
    MeasurementRecorded,
    MeasuringStarted,
    PairingNeeded,
    family_of,
)
from ui.models.measuring import (
    ENDINGS,
    PROBLEMS,
    TALKING,
    BeginSession,
    Cancel,
    ManualSaved,
    Measuring,
    Note,
    Open,
    Phase,
    Read,
    ResultMissing,
    ResultRead,
    SessionOver,
    Show,
    ShowCuff,
    ShowLive,
    Start,
    StopSession,
    transition,
)

K = MeasurementKind
F = DeviceFamily
ADDRESS = "F0:11:22:33:44:01"


def run(events, state: Measuring | None = None) -> tuple[Measuring, list]:
    """Feed events in order; a Read is answered with its value found (as the hub would)."""
    state = state or Measuring()
    effects: list = []
    for event in events:
        state, done = transition(state, event)
        effects.extend(done)
    return state, effects


def started(family: F) -> Measuring:
    return run([Open(family), Start()])[0]


def test_a_session_shows_what_the_device_does_step_by_step():
    s = started(F.BLOOD_PRESSURE)
    assert (s.phase, s.session) == (Phase.WAITING, True)
    seen = []
    for event in (DeviceFound(ADDRESS), PairingNeeded(ADDRESS, "passkey"), Connected(ADDRESS), CuffPressure(ADDRESS, 162)):
        s, effects = transition(s, event)
        seen.append(s.phase)
    assert seen == [Phase.FOUND, Phase.PAIRING, Phase.CONNECTED, Phase.LIVE]
    assert effects == (ShowCuff(162),)


def test_a_shared_scale_asking_for_the_code_is_not_called_pairing_and_its_refusal_is_said():
    s, _ = run([PairingNeeded(ADDRESS, "consent-code", 2)], started(F.WEIGHT))
    assert s.phase is Phase.USER_CODE
    s, _ = run([SessionOver(Phase.LOST), ConsentFailed(ADDRESS)], s)  # the refusal's event comes a frame late
    assert (s.phase, s.note) == (Phase.LOST, Note.CODE_REFUSED)


def test_start_begins_a_session_of_the_family_shown_and_a_hub_without_devices_says_so():
    s, effects = transition(run([Open(F.THERMOMETER)])[0], Start())
    assert BeginSession(F.THERMOMETER) in effects and StopSession() in effects
    s, effects = transition(s, Start(can_measure=False))
    assert (s.phase, s.session, s.note) == (Phase.UNAVAILABLE, False, Note.NO_DEVICES)
    assert not any(isinstance(e, BeginSession) for e in effects)


def test_no_device_in_time_and_a_failed_radio_are_told_apart():
    assert run([SessionOver(Phase.NO_DEVICE)], started(F.PULSE_OXIMETER))[0].phase is Phase.NO_DEVICE
    assert run([SessionOver(Phase.FAILED)], started(F.PULSE_OXIMETER))[0].phase is Phase.FAILED


def test_a_value_stored_as_the_session_ends_is_shown_not_called_lost():
    s = started(F.THERMOMETER)
    s, effects = transition(s, MeasurementRecorded("m-1", K.BODY_TEMPERATURE))
    [read] = effects
    assert read == Read("m-1", K.BODY_TEMPERATURE, s.run)
    s, _ = transition(s, SessionOver(Phase.LOST))  # the device hung up before the value was read
    assert s.session and s.phase is Phase.WAITING  # not "lost": its value is on the way
    s, _ = transition(s, ResultRead(K.BODY_TEMPERATURE, read.run))
    assert (s.phase, s.session, s.shown) == (Phase.RESULT, False, frozenset({K.BODY_TEMPERATURE}))


def test_a_value_that_cannot_be_read_lets_the_session_end_as_it_did():
    s = run([MeasurementRecorded("m-1", K.BODY_TEMPERATURE), SessionOver(Phase.LOST)], started(F.THERMOMETER))[0]
    s, _ = transition(s, ResultMissing(s.run))
    assert (s.phase, s.session) == (Phase.LOST, False)


def test_a_meters_memory_download_stays_on_screen_until_its_last_record():
    s = started(F.GLUCOSE)
    s, _ = run([Connected(ADDRESS), DownloadProgress(ADDRESS, 1, 3), MeasurementRecorded("g-1", K.BLOOD_GLUCOSE)], s)
    s, _ = transition(s, ResultRead(K.BLOOD_GLUCOSE, s.run))
    assert (s.phase, s.progress) == (Phase.LIVE, (1, 3))  # a value is in, more are coming
    s, _ = transition(s, DownloadProgress(ADDRESS, 3, 3))
    assert s.phase is Phase.RESULT
    s, _ = transition(s, SessionOver(Phase.LOST))
    assert (s.phase, s.session) == (Phase.RESULT, False)


def test_live_oxygen_and_pulse_are_shown_and_a_result_is_not_replaced_by_them():
    s, effects = run([LiveReading(ADDRESS, K.OXYGEN_SATURATION, 95, "%"), LiveReading(ADDRESS, K.PULSE_RATE, 81, "/min")], started(F.PULSE_OXIMETER))
    assert s.phase is Phase.LIVE and effects == [ShowLive(K.OXYGEN_SATURATION, 95, "%"), ShowLive(K.PULSE_RATE, 81, "/min")]
    s, _ = run([MeasurementRecorded("o-1", K.OXYGEN_SATURATION)], s)
    s, _ = run([ResultRead(K.OXYGEN_SATURATION, s.run), LiveReading(ADDRESS, K.PULSE_RATE, 80, "/min")], s)
    assert s.phase is Phase.RESULT


def test_a_value_from_another_familys_device_switches_the_screen_to_that_family():
    s = run([Show("bp", K.BLOOD_PRESSURE)], run([Open(F.PULSE_OXIMETER)])[0])[0]
    s, _ = transition(s, ResultRead(K.BLOOD_PRESSURE, s.run))
    assert (s.family, s.phase, s.shown) == (F.BLOOD_PRESSURE, Phase.RESULT, frozenset({K.BLOOD_PRESSURE}))


def test_leaving_a_session_shows_the_guide_again_not_a_wait_for_nothing():
    s = run([Connected(ADDRESS), Cancel()], started(F.PULSE_OXIMETER))[0]
    assert (s.phase, s.session) == (Phase.GUIDE, False)
    s = run([Connected(ADDRESS), MeasurementRecorded("o-1", K.OXYGEN_SATURATION)], started(F.PULSE_OXIMETER))[0]
    s = run([ResultRead(K.OXYGEN_SATURATION, s.run), Cancel()], s)[0]
    assert s.phase is Phase.RESULT  # what was stored stays shown


def test_a_read_for_a_screen_the_patient_has_left_is_not_shown():
    s = run([MeasurementRecorded("o-1", K.OXYGEN_SATURATION)], started(F.PULSE_OXIMETER))[0]
    old = s.run
    s = run([Open(F.WEIGHT), ResultRead(K.OXYGEN_SATURATION, old)], s)[0]
    assert (s.phase, s.family, s.shown) == (Phase.GUIDE, F.WEIGHT, frozenset())


def test_a_device_talking_without_a_session_changes_nothing():
    s = run([Open(F.PULSE_OXIMETER)])[0]
    for event in (DeviceFound(ADDRESS), Connected(ADDRESS), CuffPressure(ADDRESS, 120), MeasurementRecorded("x", K.PULSE_RATE)):
        assert transition(s, event) == (s, ())


def test_values_typed_by_hand_are_the_result():
    s, effects = transition(started(F.THERMOMETER), ManualSaved((K.BODY_TEMPERATURE,)))
    assert (s.phase, s.session, s.shown) == (Phase.RESULT, False, frozenset({K.BODY_TEMPERATURE}))
    assert StopSession() in effects


def test_the_machine_imports_no_kivy():
    code = "import sys, ui.models.measuring; sys.exit(any(m == 'kivy' or m.startswith('kivy.') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# --- any order of events ----------------------------------------------------------------------------

FAMILIES = st.sampled_from(list(F))
KINDS = st.sampled_from([k for kinds in FAMILY_KINDS.values() for k in kinds])


class MeasuringScreen(RuleBasedStateMachine):
    """The machine with what the Kivy model does around it: a session task that ends once
    (SessionOver) unless stopped, and reads that answer in any order, found or not."""

    def __init__(self) -> None:
        super().__init__()
        self.state = Measuring()
        self.task = False  # the measure command runs
        self.reads: list[Read] = []
        self.session_no = 0  # sessions begun
        self.endings: dict[int, list[Phase]] = {}  # how each session ended by itself
        self.abandoned: set[int] = set()  # stopped, or replaced by another showing
        self.found_this_run = False  # a stored value was read for what the screen shows
        self.final: Phase | None = None  # a session ended: nothing but the patient changes it

    def feed(self, event) -> None:
        before = self.state
        self.state, effects = transition(self.state, event)
        screen_event = isinstance(event, Open | Start | Cancel | Show | ManualSaved | ResultRead | ResultMissing)
        if before.session and (self.state.run != before.run or isinstance(event, Cancel)):
            self.abandoned.add(self.session_no)  # the patient left it (before another begins)
        if self.state.run != before.run:
            self.found_this_run = False
        for effect in effects:
            if isinstance(effect, StopSession):
                self.task = False
            elif isinstance(effect, BeginSession):
                assert not self.task, "a session began while another ran"
                self.task, self.session_no = True, self.session_no + 1
                self.endings[self.session_no] = []
            elif isinstance(effect, Read):
                self.reads.append(effect)
        if before.session and not self.state.session and not isinstance(event, Open | Start | Cancel | ManualSaved):
            self.endings[self.session_no].append(self.state.phase)  # it ended by itself
            assert self.state.phase in ENDINGS
            assert not any(r.run == self.state.run for r in self.reads), "it ended while its values were being read"
            if self.found_this_run:
                assert self.state.phase is Phase.RESULT, "a stored value was shown as lost"
            self.final = self.state.phase
        elif screen_event or self.state.session:
            self.final = None
        elif self.final is not None:
            assert self.state.phase is self.final, f"{type(event).__name__} changed how the session ended"

    # -- the patient -------------------------------------------------------------------------------

    @rule(family=FAMILIES)
    def open(self, family):
        self.feed(Open(family))

    @rule(can=st.booleans())
    def start(self, can):
        self.feed(Start(can))

    @rule()
    def cancel(self):
        self.feed(Cancel())

    @rule(kind=KINDS, n=st.integers(0, 3))
    def show(self, kind, n):
        self.feed(Show(f"m-{n}", kind))

    @rule(data=st.data())
    def type_by_hand(self, data):
        kinds = data.draw(st.lists(st.sampled_from(FAMILY_KINDS[self.state.family]), min_size=1, unique=True))
        self.feed(ManualSaved(tuple(kinds)))

    # -- the session and the hub -------------------------------------------------------------------

    @precondition(lambda self: self.task)
    @rule(outcome=st.sampled_from(sorted(PROBLEMS)))
    def session_over(self, outcome):
        self.task = False
        self.feed(SessionOver(outcome))

    @precondition(lambda self: self.reads)
    @rule(data=st.data(), found=st.booleans())
    def answer_a_read(self, data, found):
        read = self.reads.pop(data.draw(st.integers(0, len(self.reads) - 1)))
        if found and read.run == self.state.run:
            self.found_this_run = True
        self.feed(ResultRead(read.kind, read.run) if found else ResultMissing(read.run))

    @rule(method=st.sampled_from(["passkey", "numeric-comparison", "consent-code"]))
    def pairing(self, method):
        self.feed(PairingNeeded(ADDRESS, method))

    @rule(event=st.sampled_from([DeviceFound(ADDRESS), Connected(ADDRESS), ConsentFailed(ADDRESS), DeliveryChanged(), MeasuringStarted(None)]))
    def device(self, event):
        self.feed(event)

    @rule(pressure=st.floats(0, 300))
    def cuff(self, pressure):
        self.feed(CuffPressure(ADDRESS, pressure))

    @rule(kind=KINDS, value=st.floats(0, 300))
    def live(self, kind, value):
        self.feed(LiveReading(ADDRESS, kind, value, ""))

    @rule(done=st.integers(0, 5), total=st.integers(0, 5))
    def download(self, done, total):
        self.feed(DownloadProgress(ADDRESS, done, total))

    @rule(kind=KINDS, n=st.integers(0, 3))
    def recorded(self, kind, n):
        self.feed(MeasurementRecorded(f"m-{n}", kind))

    # -- never -------------------------------------------------------------------------------------

    @invariant()
    def never_an_impossible_screen(self):
        s = self.state
        assert s.phase not in TALKING or s.session, "waiting for a device with no session"
        assert s.phase is not Phase.RESULT or s.shown, "a result with no value"
        assert not (s.shown and s.phase in PROBLEMS), "a stored value shown as lost"
        assert s.phase is not Phase.UNAVAILABLE or not s.session
        assert s.ended is None or (s.session and s.reading > 0)
        assert s.reading == sum(1 for r in self.reads if r.run == s.run)
        assert self.task == (s.session and s.ended is None)
        assert all(family_of(k) in (None, s.family) for k in s.shown), "two families' values on one screen"

    def teardown(self) -> None:
        if self.task:
            self.task = False
            self.feed(SessionOver(Phase.LOST))
        while self.reads:
            read = self.reads.pop()
            self.found_this_run |= read.run == self.state.run
            self.feed(ResultRead(read.kind, read.run))
        assert not self.state.session
        for number, ends in self.endings.items():
            if number not in self.abandoned:
                assert len(ends) == 1, f"session {number} ended {len(ends)} times"


TestAnyOrderOfEvents = MeasuringScreen.TestCase
TestAnyOrderOfEvents.settings = settings(max_examples=300, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
