"""Why the technician's enrolment, return or pairing was refused, as a short code the touch app turns into
words in the patient's language (ui/models/refusals.py). The service's English message stays for
the command line and the log; the screen never shows an exception's text.

A refusal the code does not name falls back to the most general reason of its kind.
"""

from __future__ import annotations

# -- enrolment (hub.domain.enrolment.ProfileRefused.reason) ---------------------------------------
NOT_A_PROFILE = "not-a-profile"  # not JSON, not signed, not a Heima QR code, a format this Heima cannot read
DAMAGED = "damaged"  # the signature does not match, the QR code's data is damaged
UNREADABLE = "unreadable"  # the file is missing, cannot be read, is too large, or several are found
UNTRUSTED = "untrusted"  # signed with a key this hub does not trust
NO_KEYS = "no-keys"  # the centre's pinned keys are missing or damaged on the hub
OTHER_HUB = "other-hub"  # the profile is for another hub
EXPIRED = "expired"
NOT_YET_VALID = "not-yet-valid"  # issued in the future: the hub's clock is likely wrong
OTHER_PATIENT = "other-patient"  # the hub still holds another patient's data
RETURN_UNFINISHED = "return-unfinished"  # a return was started and not finished
BAD_PIN = "bad-pin"  # the new technician PIN is too short, one digit repeated, a run
NO_HUB_ID = "no-hub-id"  # the hub's own id (hub-id beside the configuration) is missing
INCOMPLETE = "incomplete"  # a field missing or wrong, settings this hub cannot use (the default)
NOT_SAVED = "not-saved"  # the configuration or secrets could not be written (a read-only disk)

ENROLMENT = (
    NOT_A_PROFILE, DAMAGED, UNREADABLE, UNTRUSTED, NO_KEYS, OTHER_HUB, EXPIRED, NOT_YET_VALID,
    OTHER_PATIENT, RETURN_UNFINISHED, BAD_PIN, NO_HUB_ID, INCOMPLETE, NOT_SAVED,
)  # fmt: skip

# -- the return (hub.services.returning.ReturnRefused.reason) ------------------------------------
UNSENT = "unsent"  # something is not delivered and not exported (the default)
NO_STICK = "no-stick"  # the export folder's USB stick is not there
CLOCK_NOT_SET = "clock-not-set"  # readings wait for the clock: they cannot be exported yet
EXPORT_INCOMPLETE = "export-incomplete"  # the export did not hold everything: nothing was wiped
JOURNAL = "journal"  # an earlier return's journal cannot be read: ask for help
RETURN = (UNSENT, NO_STICK, CLOCK_NOT_SET, EXPORT_INCOMPLETE, JOURNAL)

# -- pairing a device (drivers.link.PairingFailed.reason, hub.api.PairOutcome.why) ----------------
PAIR_FAILED = "pair-failed"  # pairing did not complete, no more is known (the default)
PAIR_REFUSED = "pair-refused"  # the device refused: it is not in pairing mode
PAIR_FORGOTTEN = "pair-forgotten"  # the device no longer knows this hub (reset, paired elsewhere)
PAIR_CANCELLED = "pair-cancelled"  # the passkey was not entered (cancelled or too late)
PAIR_WRONG_PASSKEY = "pair-wrong-passkey"  # a passkey was typed and the device did not accept it
PAIR_NOT_FOUND = "pair-not-found"  # the device was not heard within the time
PAIR_BROADCAST = "pair-broadcast"  # the device only broadcasts its values: no pairing needed
PAIR_CONSENT = "pair-consent"  # a shared scale did not accept the user's consent code
PAIR_NO_LINK = "pair-no-link"  # the hub's Bluetooth link is not running
PAIRING = (
    PAIR_FAILED, PAIR_REFUSED, PAIR_FORGOTTEN, PAIR_CANCELLED, PAIR_WRONG_PASSKEY, PAIR_NOT_FOUND, PAIR_BROADCAST,
    PAIR_CONSENT, PAIR_NO_LINK,
)  # fmt: skip

ALL = ENROLMENT + RETURN + PAIRING

__all__ = ["ALL", "ENROLMENT", "PAIRING", "RETURN"]
