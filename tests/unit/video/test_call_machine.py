"""The video call's state machine (hub/domain/video.py), pure: every path a call can take, and a
Hypothesis state machine that throws any sequence of events at it and checks it against a small
model of what a patient and a nurse would expect."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hub.domain.video import (
    Accept,
    Call,
    CallState,
    CallTransitionError,
    Decline,
    EndReason,
    Failed,
    Incoming,
    MediaConnected,
    NurseHungUp,
    PatientHungUp,
    RingTimedOut,
    ToggleMute,
    advance,
)

S = CallState


def run(*events) -> Call:
    call = Call()
    for e in events:
        call = advance(call, e)
    return call


def test_a_call_rings_is_accepted_connects_and_is_hung_up_by_the_patient():
    call = run(Incoming("call-0001"))
    assert (call.state, call.call_id) == (S.RINGING, "call-0001")
    call = advance(call, Accept())
    assert call.state is S.CONNECTING
    call = advance(call, MediaConnected())
    assert call.state is S.IN_CALL
    call = advance(call, PatientHungUp())
    assert (call.state, call.reason, call.call_id) == (S.ENDED, EndReason.HUNG_UP, "call-0001")


@pytest.mark.parametrize(
    ("events", "reason"),
    [
        ((Decline(),), EndReason.DECLINED),
        ((RingTimedOut(),), EndReason.MISSED),
        ((NurseHungUp(),), EndReason.CANCELLED),
        ((Failed(),), EndReason.FAILED),
        ((Accept(), Failed()), EndReason.FAILED),
        ((Accept(), NurseHungUp()), EndReason.NURSE_HUNG_UP),
        ((Accept(), MediaConnected(), NurseHungUp()), EndReason.NURSE_HUNG_UP),
        ((Accept(), MediaConnected(), Failed()), EndReason.FAILED),
    ],
)
def test_every_way_a_call_ends_says_why(events, reason):
    call = run(Incoming("call-0001"), *events)
    assert (call.state, call.reason) == (S.ENDED, reason)


def test_a_late_or_doubled_event_is_refused_and_changes_nothing():
    ringing = run(Incoming("call-0001"))
    for event in (MediaConnected(), PatientHungUp(), ToggleMute(), Incoming("call-0002")):
        with pytest.raises(CallTransitionError):
            advance(ringing, event)
    ended = advance(ringing, Decline())
    for event in (Accept(), Decline(), RingTimedOut(), NurseHungUp()):
        with pytest.raises(CallTransitionError):
            advance(ended, event)


def test_mute_toggles_in_the_call_and_a_new_call_starts_unmuted():
    call = run(Incoming("call-0001"), Accept(), MediaConnected(), ToggleMute())
    assert call.muted
    assert not advance(call, ToggleMute()).muted
    again = run(Incoming("call-0001"), Accept(), MediaConnected(), ToggleMute(), PatientHungUp(), Incoming("call-0002"))
    assert (again.state, again.muted, again.reason) == (S.RINGING, False, None)


EVENTS = st.sampled_from(
    [Accept(), Decline(), RingTimedOut(), MediaConnected(), PatientHungUp(), NurseHungUp(), Failed(), ToggleMute()]
) | st.builds(Incoming, st.sampled_from(["call-aaaa1", "call-bbbb2"]))


class CallMachine(RuleBasedStateMachine):
    """Any sequence of events: the machine either refuses one (and nothing changes) or moves as
    the model says; an ended call always has a reason, a live one never has."""

    def __init__(self) -> None:
        super().__init__()
        self.call = Call()
        self.answered = False  # the model: did the patient accept this call?
        self.connected = False

    @rule(event=EVENTS)
    def step(self, event):
        before = self.call
        try:
            after = advance(before, event)
        except CallTransitionError:
            assert self.expected(before, event) is None, f"{event} refused in {before}"
            return
        expected = self.expected(before, event)
        assert expected is not None, f"{event} accepted in {before}"
        assert after.state is expected[0] and after.reason is expected[1]
        if isinstance(event, Incoming):
            assert after.call_id == event.call_id
            self.answered = self.connected = False
        else:
            assert after.call_id == before.call_id  # a call keeps its id to the end
        self.answered |= isinstance(event, Accept)
        self.connected |= isinstance(event, MediaConnected)
        self.call = after

    def expected(self, call: Call, event) -> tuple[CallState, EndReason | None] | None:
        st_ = call.state
        live = st_ in (S.RINGING, S.CONNECTING, S.IN_CALL)
        if isinstance(event, Incoming):
            return (S.RINGING, None) if not live else None
        if isinstance(event, ToggleMute):
            return (st_, None) if st_ in (S.CONNECTING, S.IN_CALL) else None
        if isinstance(event, Failed):
            return (S.ENDED, EndReason.FAILED) if live else None
        table = {
            (S.RINGING, Accept): (S.CONNECTING, None),
            (S.RINGING, Decline): (S.ENDED, EndReason.DECLINED),
            (S.RINGING, RingTimedOut): (S.ENDED, EndReason.MISSED),
            (S.RINGING, NurseHungUp): (S.ENDED, EndReason.CANCELLED),
            (S.CONNECTING, MediaConnected): (S.IN_CALL, None),
            (S.CONNECTING, PatientHungUp): (S.ENDED, EndReason.HUNG_UP),
            (S.IN_CALL, PatientHungUp): (S.ENDED, EndReason.HUNG_UP),
            (S.CONNECTING, NurseHungUp): (S.ENDED, EndReason.NURSE_HUNG_UP),
            (S.IN_CALL, NurseHungUp): (S.ENDED, EndReason.NURSE_HUNG_UP),
        }
        return table.get((st_, type(event)))

    @invariant()
    def reasons_and_states_agree(self):
        assert (self.call.state is S.ENDED) == (self.call.reason is not None)
        assert not self.call.muted or self.call.state in (S.CONNECTING, S.IN_CALL)
        if self.call.state is S.IN_CALL:
            assert self.answered and self.connected  # never in a call the patient did not accept
        if self.call.reason in (EndReason.DECLINED, EndReason.MISSED, EndReason.CANCELLED):
            assert not self.answered


TestCallMachine = CallMachine.TestCase
