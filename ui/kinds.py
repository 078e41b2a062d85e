"""What the touch app says about each device family and measurement kind.

One table per concern, so a new device family plugs in by adding rows here (its guide, its
value names, its quality messages) and a pictogram in `ui/pictograms.py`; the measuring screen
itself is the same for every family. Strings are marked with N_ and translated where shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.api import ComponentView, DeviceFamily, MeasurementKind, MeasurementView, Provenance, QualityFlag, SendState
from ui.i18n import N_, Translator

K = MeasurementKind
F = DeviceFamily


@dataclass(frozen=True)
class GuideStep:
    pictogram: str  # a name in ui.pictograms.PICTOGRAMS
    text: str  # msgid


FAMILY_TITLE = {
    F.PULSE_OXIMETER: N_("Oxygen and pulse"),
    F.BLOOD_PRESSURE: N_("Blood pressure"),
    F.WEIGHT: N_("Weight"),
    F.GLUCOSE: N_("Blood sugar"),
    F.THERMOMETER: N_("Temperature"),
}

FAMILY_DEVICE = {  # what the patient calls the device ("switch on the {device}")
    F.PULSE_OXIMETER: N_("the finger clip"),
    F.BLOOD_PRESSURE: N_("the blood pressure cuff"),
    F.WEIGHT: N_("the scale"),
    F.GLUCOSE: N_("the blood sugar meter"),
    F.THERMOMETER: N_("the thermometer"),
}

THE_DEVICE = N_("the device")  # a device whose family is not known here


def device_word(tr: Translator, family: DeviceFamily | None) -> str:
    """What the patient calls a device in a sentence: its family word, never its advertised name
    ("Heima BP 1" is the maker's, and English inside a Norwegian sentence)."""
    return tr._(FAMILY_DEVICE[family] if family in FAMILY_DEVICE else THE_DEVICE)


FETCHED_FAMILIES = frozenset({F.GLUCOSE})  # measured on the device; the hub fetches its memory

GUIDES: dict[DeviceFamily, tuple[GuideStep, ...]] = {
    F.PULSE_OXIMETER: (
        GuideStep("sit", N_("Sit down and rest for a minute.")),
        GuideStep("finger-clip", N_("Put a finger in the clip, nail up.")),
        GuideStep("keep-still", N_("Keep your hand still until the numbers show.")),
    ),
    F.BLOOD_PRESSURE: (
        GuideStep("sit", N_("Sit with your back against the chair, feet on the floor, and rest for 5 minutes.")),
        GuideStep("cuff", N_("Put the cuff on your bare upper arm, at heart height.")),
        GuideStep("keep-still", N_("Press start. Keep still and do not talk.")),
    ),
    F.WEIGHT: (
        GuideStep("no-shoes", N_("Take off your shoes.")),
        GuideStep("scale", N_("Stand still on the scale.")),
    ),
    F.GLUCOSE: (
        GuideStep("wash-hands", N_("Wash and dry your hands.")),
        GuideStep("strip", N_("Put a new strip in the meter.")),
        GuideStep("prick", N_("Prick the side of a fingertip with the lancet.")),
        GuideStep("drop", N_("Put a drop of blood on the strip.")),
    ),
    F.THERMOMETER: (
        GuideStep("thermometer", N_("Put the thermometer in your ear.")),
        GuideStep("keep-still", N_("Wait for the beep.")),
    ),
}

KIND_NAME = {
    K.OXYGEN_SATURATION: N_("Oxygen"),
    K.PULSE_RATE: N_("Pulse"),
    K.CUFF_PULSE_RATE: N_("Pulse"),
    K.BLOOD_PRESSURE: N_("Blood pressure"),
    K.SYSTOLIC_PRESSURE: N_("Upper value"),
    K.DIASTOLIC_PRESSURE: N_("Lower value"),
    K.MEAN_ARTERIAL_PRESSURE: N_("Mean pressure"),
    K.BODY_WEIGHT: N_("Weight"),
    K.BLOOD_GLUCOSE: N_("Blood sugar"),
    K.BODY_TEMPERATURE: N_("Temperature"),
    K.BODY_HEIGHT: N_("Height"),
    K.BODY_MASS_INDEX: N_("Body mass index"),
    K.BODY_FAT: N_("Body fat"),
    K.OXIMETRY_SUMMARY: N_("Oxygen overnight"),
    K.OXYGEN_SATURATION_LOWEST: N_("Lowest oxygen"),
    K.OXYGEN_SATURATION_MEAN: N_("Average oxygen"),
}

DECIMALS = {K.BODY_WEIGHT: 1, K.BLOOD_GLUCOSE: 1, K.BODY_TEMPERATURE: 1, K.BODY_MASS_INDEX: 1, K.BODY_FAT: 1}

UNIT_TEXT = {  # UCUM -> what is printed after the number
    "%": "%",
    "/min": N_("/min"),
    "mm[Hg]": "mmHg",
    "kg": "kg",
    "mmol/L": "mmol/l",
    "Cel": "°C",
    "cm": "cm",
    "kg/m2": "kg/m²",
}

# What the patient is told when the device (or the hub) marks a value. The first that applies is
# shown; "again" ones ask to measure again.
QUALITY: tuple[tuple[QualityFlag, str, bool], ...] = (
    (QualityFlag.CONTROL_SOLUTION, N_("This was a test with control solution. It is kept here and not sent."), False),
    (QualityFlag.CUFF_LOOSE, N_("Please measure again: the cuff was loose."), True),
    (QualityFlag.IMPROPER_POSITION, N_("Please measure again: the cuff was not placed right."), True),
    (QualityFlag.BODY_MOVEMENT, N_("Please measure again: you moved during the measurement. Sit still."), True),
    (QualityFlag.SAMPLE_TOO_SMALL, N_("Please measure again: too little blood on the strip. Use a new strip."), True),
    (QualityFlag.STRIP_ERROR, N_("Please measure again with a new strip: the strip did not work."), True),
    (QualityFlag.RESULT_TOO_HIGH, N_("The value is higher than the meter can measure. Follow your plan and call your nurse."), False),
    (QualityFlag.RESULT_TOO_LOW, N_("The value is lower than the meter can measure. Follow your plan and call your nurse."), False),
    (QualityFlag.SENSOR_PROBLEM, N_("Please measure again: the device had a problem with its sensor."), True),
    (QualityFlag.DEVICE_FAULT, N_("Please measure again: the device reported a fault."), True),
    (QualityFlag.INVALID, N_("Please measure again: the device could not measure properly."), True),
    (QualityFlag.QUESTIONABLE, N_("Please measure again: the device is not sure of this value."), True),
    (QualityFlag.EARLY_ESTIMATE, N_("Please measure again: the device gave an early estimate only."), True),
    (QualityFlag.IRREGULAR_PULSE, N_("The device found an irregular pulse. Your nurse will see it."), False),
    (QualityFlag.TEMPERATURE_OUT_OF_RANGE, N_("Please measure again in a room that is not too warm or cold."), True),
    (QualityFlag.BATTERY_LOW, N_("The battery in the device is low. Ask for a new one."), False),
)

# How to measure again after a flag: the guide step (by its pictogram) of the value's family that
# puts the problem right. A flag without one shows the request alone.
HOW_AGAIN: dict[QualityFlag, str] = {
    QualityFlag.CUFF_LOOSE: "cuff",
    QualityFlag.IMPROPER_POSITION: "cuff",
    QualityFlag.BODY_MOVEMENT: "keep-still",
    QualityFlag.SAMPLE_TOO_SMALL: "drop",
    QualityFlag.STRIP_ERROR: "strip",
}

VALUE = N_("Value")
UNCERTAIN_VALUE = N_("Uncertain value: {value}")
NO_VALUE = N_("Please measure again: the device could not give a value.")
MANUAL_MARK = N_("typed in by hand")

SEND_TEXT = {
    SendState.SENT: N_("Sent ✓"),
    SendState.WAITING: N_("Waiting to send"),
    SendState.FAILED: N_("Could not be sent — your nurse knows"),
    SendState.NOT_SHARED: N_("Not shared with {destination} — you withdrew your consent"),
}
# Red is for what the patient must act on; a value that could not be sent is the nurse's to see.
SEND_COLOUR = {SendState.SENT: "ok", SendState.WAITING: "wait", SendState.FAILED: "body", SendState.NOT_SHARED: "body"}


def unit_text(tr: Translator, unit: str) -> str:
    shown = UNIT_TEXT.get(unit, unit)
    return tr._(shown) if shown.startswith("/") else shown


def number_text(tr: Translator, kind: MeasurementKind, value: float | None, unit: str) -> str:
    """'37,5 °C', '97 %', '64 /min' — or '—' for no value."""
    if value is None:
        return "—"
    decimals = DECIMALS.get(kind, 0)
    if decimals == 0 and abs(value - round(value)) > 1e-9:
        decimals = 1
    u = unit_text(tr, unit)
    sep = "" if (u == "%" and tr.lang == "en") else "\u00a0"
    return f"{tr.number(value, decimals)}{sep}{u}"


def value_text(tr: Translator, view: MeasurementView | ComponentView) -> str:
    """A value as shown: a panel as '142/88 mmHg', a night's oximetry as its lowest value and
    the time below 90 %."""
    components = getattr(view, "components", ())
    if view.kind is K.OXIMETRY_SUMMARY:
        lowest = next((c for c in components if c.kind == K.OXYGEN_SATURATION_LOWEST), None)
        below = next((c for c in components if c.kind == K.TIME_BELOW_90_PERCENT), None)
        if lowest is None or lowest.value is None or below is None or below.value is None:
            return "—"
        return tr.f(
            N_("lowest {lowest}, {minutes} min under {limit}"),
            lowest=number_text(tr, K.OXYGEN_SATURATION, lowest.value, "%"),
            minutes=tr.number(below.value, 0),
            limit=number_text(tr, K.OXYGEN_SATURATION, 90.0, "%"),
        )
    if components:
        sys_ = next((c for c in components if c.kind == K.SYSTOLIC_PRESSURE), None)
        dia = next((c for c in components if c.kind == K.DIASTOLIC_PRESSURE), None)
        if sys_ is not None and dia is not None:
            a = tr.number(sys_.value, 0) if sys_.value is not None else "—"
            b = tr.number(dia.value, 0) if dia.value is not None else "—"
            return f"{a}/{b}\u00a0mmHg"
    return number_text(tr, view.kind, view.value, view.unit)


def quality_text(tr: Translator, view: MeasurementView) -> tuple[str, bool]:
    """What to tell about a value's quality, and whether to ask to measure again."""
    if view.value is None and not any(c.value is not None for c in view.components):
        return tr._(NO_VALUE), True
    for flag, msgid, again in QUALITY:
        if flag in view.flags:
            return tr._(msgid), again
    return "", False


def how_again(view: MeasurementView, family: DeviceFamily) -> GuideStep | None:
    """The step of `family`'s guide that shows how to measure again, for the first flag that has one."""
    for flag, _msgid, again in QUALITY:
        if again and flag in view.flags and flag in HOW_AGAIN:
            return next((s for s in GUIDES.get(family, ()) if s.pictogram == HOW_AGAIN[flag]), None)
    return None


def provenance_text(tr: Translator, view: MeasurementView) -> str:
    return tr._(MANUAL_MARK) if view.provenance is Provenance.MANUAL else ""


def chart_series(kind: MeasurementKind) -> tuple[MeasurementKind, ...]:
    """The lines a chart of `kind` draws: blood pressure draws its upper and lower value."""
    if kind is K.BLOOD_PRESSURE:
        return (K.SYSTOLIC_PRESSURE, K.DIASTOLIC_PRESSURE)
    if kind is K.OXIMETRY_SUMMARY:
        return (K.OXYGEN_SATURATION_LOWEST, K.OXYGEN_SATURATION_MEAN)
    return (kind,)
