"""Why enrolment, a return or a device's pairing was refused, in words a technician (or the patient beside the box)
understands, in the app's language: one text per reason code the hub gives (hub.api.refusals).
The service's English message is for the command line and the log, never for the screen."""

from __future__ import annotations

from hub.api import refusals
from ui.i18n import N_, Translator

TEXTS = {
    # enrolment
    refusals.NOT_A_PROFILE: N_("This is not a set-up profile for the box. Ask the centre for the right file or code."),
    refusals.DAMAGED: N_("The profile is damaged, or it was changed after the centre made it. Ask the centre for a new one."),
    refusals.UNREADABLE: N_("The profile could not be read. Check that the USB stick is in and holds one profile, or scan the code again."),
    refusals.UNTRUSTED: N_("The profile is not from your centre. Ask your centre for a profile for this box."),
    refusals.NO_KEYS: N_("The box is missing the centre's keys. The box must be installed again: ask for help."),
    refusals.OTHER_HUB: N_("This profile is for another box. Use the profile made for this box (its number is on the label)."),
    refusals.EXPIRED: N_("The profile is too old. Ask the centre for a new one."),
    refusals.NOT_YET_VALID: N_("The profile is not valid yet. Check the box's date and time, or try again later."),
    refusals.OTHER_PATIENT: N_("The box still holds another patient's data. Return the box first (technician mode, Return), then set it up."),
    refusals.RETURN_UNFINISHED: N_("A return of this box was started and not finished. Finish the return first."),
    refusals.BAD_PIN: N_("The PIN cannot be used. Choose 6 to 12 digits, not the same digit again and again and not 123456."),
    refusals.NO_HUB_ID: N_("The box does not know its own number. It must be installed again: ask for help."),
    refusals.INCOMPLETE: N_("Something is missing or wrong in the profile. Ask the centre for a new one."),
    refusals.NOT_SAVED: N_("The box could not save the set-up. Restart the box and try again; if it happens again, ask for help."),
    # the return
    refusals.UNSENT: N_("Not everything is sent: the box was NOT wiped. Deliver now, or export to a USB stick."),
    refusals.NO_STICK: N_("The USB stick was not found: the box was NOT wiped. Put the stick in and try again."),
    refusals.CLOCK_NOT_SET: N_("Some values wait for the box's clock to be set: the box was NOT wiped. Connect the box to the network, then try again."),
    refusals.EXPORT_INCOMPLETE: N_("The export did not hold everything: the box was NOT wiped. Ask for help before you return the box."),
    refusals.JOURNAL: N_("An earlier return cannot be finished here: the box was NOT wiped. Do not delete anything; ask for help."),
    # pairing a device (technician mode's pairing screen)
    refusals.PAIR_FAILED: N_("Put the device in pairing mode, hold it near the box and try again."),
    refusals.PAIR_REFUSED: N_("The device refused to pair. Put it in pairing mode (see its manual) and try again."),
    refusals.PAIR_FORGOTTEN: N_("The device no longer knows this box (it was reset, or paired with another box). Put it in pairing mode and pair it again."),
    refusals.PAIR_CANCELLED: N_("The number was not typed in time. Try again and type the number the device shows."),
    refusals.PAIR_WRONG_PASSKEY: N_("The number typed was not the one the device shows. Try again and type the number on the device's display."),
    refusals.PAIR_NOT_FOUND: N_("The device was not heard. Switch it on, put it in pairing mode, hold it near the box and try again."),
    refusals.PAIR_BROADCAST: N_("This device sends its values over the air and needs no pairing. Measure with it near the box."),
    refusals.PAIR_CONSENT: N_("The scale did not accept the user's 4-digit code. Find the code in the scale's settings or manual and try again."),
    refusals.PAIR_NO_LINK: N_("Bluetooth is not running on the box. Restart the box and try again."),
}


def refusal_text(tr: Translator, reason: str, *, enrolment: bool) -> str:
    """The reason in the current language; an unknown code says the most general one of its kind."""
    fallback = refusals.INCOMPLETE if enrolment else refusals.UNSENT
    return tr._(TEXTS.get(reason) or TEXTS[fallback])


def pairing_text(tr: Translator, reason: str) -> str:
    """Why a pairing did not work, in the current language; an unknown code says the general one."""
    return tr._(TEXTS[reason] if reason in refusals.PAIRING else TEXTS[refusals.PAIR_FAILED])


__all__ = ["TEXTS", "pairing_text", "refusal_text"]
