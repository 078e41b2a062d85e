"""Code systems and code tables: what every MeasurementKind is called in FHIR.

Every kind carries all the codings that apply (LOINC, SNOMED CT, ISO/IEEE 11073 MDC, NPU) and its
UCUM unit, as listed in docs (shared/reference/fhir.md). Adding a MeasurementKind means adding a
row here; `codes_for` refuses a kind without one rather than sending an uncoded Observation.

Besides the kinds: panels and the components they may hold, the units a device may report in and
how they become the kind's UCUM unit (`to_canonical`), the glucose specimen, meal and sample-site
terms, and the body-temperature sites.

MDC codes are 32-bit: partition * 65536 + term code. The terms below were read from the
ISO/IEEE 11073-10101/-10408/-10417 term lists as carried by public 11073 stacks, and checked
against the PHD IG examples where it has one (Observation glucose-1.0.0.4: MDC_CTXT_GLU_MEAL
8417864 with MDC_CTXT_GLU_MEAL_POSTPRANDIAL 8417872) and the DK-core IEEE value set (MDC_TEMP_*).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from hub.domain.readings import AbsentReason, MeasurementKind

# -- code systems and identifier systems ---------------------------------------------------------

LOINC = "http://loinc.org"
SNOMED_CT = "http://snomed.info/sct"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PHD_OBSERVATION_CATEGORY = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
DATA_ABSENT_REASON = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
# PHD IG 1.x measurement status (the 11073 Measurement-Status bits as interpretation codes).
MEASUREMENT_STATUS = "http://hl7.org/fhir/uv/phd/CodeSystem/measurement-status"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
NPU = "urn:oid:2.16.578.1.12.4.1.1.7280"  # NPU/NLK laboratory codes, as VKP uses them
CONTINUA_DEVICE_IDENTIFIERS = "http://hl7.org/fhir/uv/phd/CodeSystem/ContinuaDeviceIdentifiers"

URI_IDENTIFIER = "urn:ietf:rfc:3986"  # identifier.system for a urn:uuid: value
BLUETOOTH_MAC = "http://hl7.org/fhir/sid/eui-48/bluetooth"
EUI64_SYSTEM_ID = "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR = "urn:oid:2.16.578.1.12.4.1.4.2"
ORGANISATION_NUMBER = "urn:oid:2.16.578.1.12.4.1.4.101"
RESH_ID = "urn:oid:2.16.578.1.12.4.1.4.102"

GATEWAY_DEVICE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
# Heima's own codes for the figures of a night's oximetry summary: LOINC has no codes for the
# lowest / mean SpO2 of a recording or its time below 90 % (docs/centre-integration.md lists them).
HEIMA_OXIMETRY = "urn:heima:oximetry-summary"


@dataclass(frozen=True, slots=True)
class Coding:
    system: str
    code: str
    display: str | None = None

    def to_fhir(self) -> dict[str, Any]:
        coding = {"system": self.system, "code": self.code}
        if self.display:
            coding["display"] = self.display
        return coding


@dataclass(frozen=True, slots=True)
class KindCodes:
    """How one kind of measurement is coded and measured."""

    text: str  # Observation.code.text
    codings: tuple[Coding, ...]
    ucum: str | None  # the UCUM code of valueQuantity; None for a panel (it has no value)
    unit: str | None  # the human-readable unit of valueQuantity
    # The observation-category code; None: the PHD category only. A chunk of samples and a
    # recording's summary are no vital sign in R4's sense (a vital-signs category or LOINC code
    # would bring the R4 vital-signs profiles, which allow neither; docs/fhir-conformance.md).
    category: str | None = "vital-signs"

    def code(self, codings: tuple[Coding, ...] | None = None, text: str | None = None) -> dict[str, Any]:
        """Observation.code; `codings`/`text` replace the table's (a glucose specimen's own MDC
        term, a temperature site's own MDC term)."""
        chosen = self.codings if codings is None else codings
        return {"coding": [c.to_fhir() for c in chosen], "text": text or self.text}


CODES: Mapping[MeasurementKind, KindCodes] = MappingProxyType(
    {
        MeasurementKind.OXYGEN_SATURATION: KindCodes(
            text="Oxygen saturation (SpO2)",
            codings=(
                Coding(LOINC, "2708-6", "Oxygen saturation in Arterial blood"),
                Coding(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
                Coding(SNOMED_CT, "431314004", "Peripheral oxygen saturation"),
                Coding(MDC, "150456", "MDC_PULS_OXIM_SAT_O2"),
            ),
            ucum="%",
            unit="%",
        ),
        MeasurementKind.PULSE_RATE: KindCodes(
            text="Pulse rate",
            codings=(
                Coding(LOINC, "8867-4", "Heart rate"),
                Coding(SNOMED_CT, "364075005", "Heart rate"),
                Coding(MDC, "149530", "MDC_PULS_OXIM_PULS_RATE"),
            ),
            ucum="/min",
            unit="beats/minute",
        ),
        MeasurementKind.CUFF_PULSE_RATE: KindCodes(
            text="Pulse rate (blood pressure monitor)",
            codings=(
                Coding(LOINC, "8867-4", "Heart rate"),
                Coding(SNOMED_CT, "364075005", "Heart rate"),
                Coding(MDC, "149546", "MDC_PULS_RATE_NON_INV"),
            ),
            ucum="/min",
            unit="beats/minute",
        ),
        # A panel: no value of its own, its components carry the numbers (LOINC "with all
        # children optional": a cuff may omit the mean arterial pressure).
        MeasurementKind.BLOOD_PRESSURE: KindCodes(
            text="Blood pressure",
            codings=(
                Coding(LOINC, "85354-9", "Blood pressure panel with all children optional"),
                Coding(SNOMED_CT, "75367002", "Blood pressure"),
                Coding(MDC, "150020", "MDC_PRESS_BLD_NONINV"),
            ),
            ucum=None,
            unit=None,
        ),
        MeasurementKind.SYSTOLIC_PRESSURE: KindCodes(
            text="Systolic blood pressure",
            codings=(
                Coding(LOINC, "8480-6", "Systolic blood pressure"),
                Coding(SNOMED_CT, "271649006", "Systolic blood pressure"),
                Coding(MDC, "150021", "MDC_PRESS_BLD_NONINV_SYS"),
            ),
            ucum="mm[Hg]",
            unit="mmHg",
        ),
        MeasurementKind.DIASTOLIC_PRESSURE: KindCodes(
            text="Diastolic blood pressure",
            codings=(
                Coding(LOINC, "8462-4", "Diastolic blood pressure"),
                Coding(SNOMED_CT, "271650006", "Diastolic blood pressure"),
                Coding(MDC, "150022", "MDC_PRESS_BLD_NONINV_DIA"),
            ),
            ucum="mm[Hg]",
            unit="mmHg",
        ),
        MeasurementKind.MEAN_ARTERIAL_PRESSURE: KindCodes(
            text="Mean blood pressure",
            codings=(
                Coding(LOINC, "8478-0", "Mean blood pressure"),
                Coding(MDC, "150023", "MDC_PRESS_BLD_NONINV_MEAN"),
            ),
            ucum="mm[Hg]",
            unit="mmHg",
        ),
        MeasurementKind.BODY_WEIGHT: KindCodes(
            text="Body weight",
            codings=(
                # 29463-7: the VKP index pages misprint it as 29563-7 (a different test).
                Coding(LOINC, "29463-7", "Body weight"),
                Coding(SNOMED_CT, "27113001", "Body weight"),
                Coding(MDC, "188736", "MDC_MASS_BODY_ACTUAL"),
            ),
            ucum="kg",
            unit="kg",
        ),
        MeasurementKind.BODY_HEIGHT: KindCodes(
            text="Body height",
            codings=(
                Coding(LOINC, "8302-2", "Body height"),
                Coding(MDC, "188740", "MDC_LEN_BODY_ACTUAL"),
            ),
            ucum="cm",
            unit="cm",
        ),
        MeasurementKind.BODY_MASS_INDEX: KindCodes(
            text="Body mass index (BMI)",
            codings=(
                Coding(LOINC, "39156-5", "Body mass index (BMI) [Ratio]"),
                Coding(MDC, "188752", "MDC_RATIO_MASS_BODY_LEN_SQ"),
            ),
            ucum="kg/m2",
            unit="kg/m2",
        ),
        MeasurementKind.BODY_FAT: KindCodes(
            text="Body fat percentage",
            codings=(
                Coding(LOINC, "41982-0", "Percentage of body fat Measured"),
                Coding(MDC, "188748", "MDC_BODY_FAT"),
            ),
            ucum="%",
            unit="%",
        ),
        # The MDC term names the specimen (capillary whole blood, capillary plasma, ...): it is
        # added per reading from its "specimen" context, see GLUCOSE_SPECIMENS.
        MeasurementKind.BLOOD_GLUCOSE: KindCodes(
            text="Blood glucose",
            codings=(
                Coding(LOINC, "15074-8", "Glucose [Moles/volume] in Blood"),
                Coding(SNOMED_CT, "434912009", "Blood glucose concentration"),
                Coding(NPU, "NPU02187", "B—Glucose"),
            ),
            ucum="mmol/L",
            unit="mmol/L",
        ),
        # The MDC term is MDC_TEMP_BODY ("unspecified site"); a known site replaces it with the
        # site's own term (MDC_TEMP_ORAL, ...), see TEMPERATURE_SITES.
        # Continuous oximetry: a chunk is coded as the PHD IG codes sampled data, by its MDC term
        # and a text only. LOINC 59408-5 / 8867-4 would make it an R4 oxygen-saturation / heart-
        # rate vital sign, and those profiles forbid valueSampledData.
        MeasurementKind.OXYGEN_SATURATION_SERIES: KindCodes(
            text="Oxygen saturation (SpO2), continuous",
            codings=(Coding(MDC, "150456", "MDC_PULS_OXIM_SAT_O2"),),
            ucum="%",
            unit="%",
            category=None,
        ),
        MeasurementKind.PULSE_RATE_SERIES: KindCodes(
            text="Pulse rate, continuous",
            codings=(Coding(MDC, "149530", "MDC_PULS_OXIM_PULS_RATE"),),
            ucum="/min",
            unit="beats/minute",
            category=None,
        ),
        MeasurementKind.OXIMETRY_SUMMARY: KindCodes(
            text="Continuous pulse oximetry, summary of the recording",
            codings=(
                Coding(HEIMA_OXIMETRY, "summary", "Continuous pulse oximetry summary"),
            ),
            ucum=None,
            unit=None,
            category=None,
        ),
        MeasurementKind.OXYGEN_SATURATION_LOWEST: KindCodes(
            text="Lowest SpO2 during the recording",
            codings=(Coding(HEIMA_OXIMETRY, "spo2-lowest", "Lowest SpO2 during the recording"),),
            ucum="%",
            unit="%",
        ),
        MeasurementKind.OXYGEN_SATURATION_MEAN: KindCodes(
            text="Mean SpO2 during the recording",
            codings=(Coding(HEIMA_OXIMETRY, "spo2-mean", "Mean SpO2 during the recording"),),
            ucum="%",
            unit="%",
        ),
        MeasurementKind.TIME_BELOW_90_PERCENT: KindCodes(
            text="Time with SpO2 below 90 %",
            codings=(Coding(HEIMA_OXIMETRY, "time-below-90", "Time with SpO2 below 90 %"),),
            ucum="min",
            unit="min",
        ),
        MeasurementKind.VALID_RECORDING_TIME: KindCodes(
            text="Time with a valid SpO2",
            codings=(Coding(HEIMA_OXIMETRY, "valid-time", "Time with a valid SpO2"),),
            ucum="min",
            unit="min",
        ),
        MeasurementKind.PULSE_RATE_MEAN: KindCodes(
            text="Mean pulse rate during the recording",
            codings=(Coding(HEIMA_OXIMETRY, "pulse-rate-mean", "Mean pulse rate during the recording"),),
            ucum="/min",
            unit="beats/minute",
        ),
        MeasurementKind.BODY_TEMPERATURE: KindCodes(
            text="Body temperature",
            codings=(
                Coding(LOINC, "8310-5", "Body temperature"),
                Coding(SNOMED_CT, "276885007", "Core body temperature"),
                Coding(MDC, "150364", "MDC_TEMP_BODY"),
            ),
            ucum="Cel",
            unit="°C",
        ),
    }
)

# A panel and the component kinds it may carry (each at most once).
PANEL_COMPONENTS: Mapping[MeasurementKind, frozenset[MeasurementKind]] = MappingProxyType(
    {
        MeasurementKind.BLOOD_PRESSURE: frozenset(
            {
                MeasurementKind.SYSTOLIC_PRESSURE,
                MeasurementKind.DIASTOLIC_PRESSURE,
                MeasurementKind.MEAN_ARTERIAL_PRESSURE,
            }
        ),
        MeasurementKind.OXIMETRY_SUMMARY: frozenset(
            {
                MeasurementKind.OXYGEN_SATURATION_LOWEST,
                MeasurementKind.OXYGEN_SATURATION_MEAN,
                MeasurementKind.TIME_BELOW_90_PERCENT,
                MeasurementKind.VALID_RECORDING_TIME,
                MeasurementKind.PULSE_RATE_MEAN,
            }
        ),
    }
)


# The components a panel always carries, as a value or with a dataAbsentReason: R4's blood-pressure
# profile (and VKP's on it) requires systolic and diastolic, even when the cuff failed.
PANEL_REQUIRED: Mapping[MeasurementKind, tuple[MeasurementKind, ...]] = MappingProxyType(
    {MeasurementKind.BLOOD_PRESSURE: (MeasurementKind.SYSTOLIC_PRESSURE, MeasurementKind.DIASTOLIC_PRESSURE)}
)


class MappingError(ValueError):
    """A measurement that cannot be expressed in FHIR as it is. Retrying cannot help: the outbox
    sets it aside ("could not be sent", with this reason) and delivers the rest."""


class UnmappedKind(MappingError):
    """A MeasurementKind with no row in the code table: add one before sending it anywhere."""


def codes_for(kind: MeasurementKind) -> KindCodes:
    try:
        return CODES[kind]
    except KeyError:
        raise UnmappedKind(
            f"no FHIR codes for measurement kind {str(kind)!r}; add a row to sync/fhir/codes.py"
        ) from None


# -- units ------------------------------------------------------------------------------------------------


class UnsupportedUnit(MappingError):
    """A value in a unit this table cannot turn into the kind's UCUM unit. Never guessed: a
    glucose in mg/dL sent as mmol/L would be 18 times too high."""


@dataclass(frozen=True, slots=True)
class Conversion:
    """canonical = (value + offset) * factor, rounded to `decimals` (None: not rounded, for a
    mere respelling of the same unit)."""

    factor: float = 1.0
    offset: float = 0.0
    decimals: int | None = None

    def apply(self, value: float) -> float:
        result = (value + self.offset) * self.factor
        return result if self.decimals is None else round(result, self.decimals)


SAME = Conversion()
MMHG_PER_KPA = 1000 / 133.322387415  # 1 mm[Hg] = 133.322387415 Pa (UCUM); 1 kPa ≈ 7.50062 mm[Hg]
GLUCOSE_MOLAR_MASS = 180.156  # g/mol: mg/dL -> mmol/L divides by 18.0156

# Rounding after a conversion keeps the device's precision and drops float noise (1.13 m is
# 113.0 cm, not 112.99999999999999): a kPa cuff resolves 0.1 kPa (0.75 mm[Hg]), a scale 5 g
# or 0.01 lb, a height 1 mm, a thermometer 0.01 degree, a glucose meter 1 mg/dL (0.06 mmol/L).
_PRESSURE = {"mmHg": SAME, "mm Hg": SAME, "kPa": Conversion(MMHG_PER_KPA, decimals=1)}
_RATE = {"1/min": SAME, "{beats}/min": SAME, "{beat}/min": SAME, "bpm": SAME}
_MASS = {"[lb_av]": Conversion(0.45359237, decimals=3), "lb": Conversion(0.45359237, decimals=3), "g": Conversion(0.001, decimals=3)}
_LENGTH = {"m": Conversion(100.0, decimals=1), "mm": Conversion(0.1, decimals=1), "[in_i]": Conversion(2.54, decimals=1), "in": Conversion(2.54, decimals=1)}
_BMI = {"kg/m^2": SAME, "kg/m²": SAME}
_GLUCOSE = {
    "mmol/l": SAME,
    "mol/L": Conversion(1000.0, decimals=2),
    "mg/dL": Conversion(10 / GLUCOSE_MOLAR_MASS, decimals=2),
    "mg/dl": Conversion(10 / GLUCOSE_MOLAR_MASS, decimals=2),
    "g/L": Conversion(1000 / GLUCOSE_MOLAR_MASS, decimals=2),
    "kg/L": Conversion(1_000_000 / GLUCOSE_MOLAR_MASS, decimals=2),  # the GATT Glucose unit
}
_TEMPERATURE = {
    "°C": SAME,
    "[degF]": Conversion(5 / 9, offset=-32.0, decimals=2),
    "degF": Conversion(5 / 9, offset=-32.0, decimals=2),
    "°F": Conversion(5 / 9, offset=-32.0, decimals=2),
    "K": Conversion(1.0, offset=-273.15, decimals=2),
}

# Units besides the kind's own UCUM unit that a value may arrive in, per kind. Kept per kind
# because a factor can depend on what is measured (mg/dL -> mmol/L is glucose's molar mass).
CONVERSIONS: Mapping[MeasurementKind, Mapping[str, Conversion]] = MappingProxyType(
    {
        MeasurementKind.SYSTOLIC_PRESSURE: _PRESSURE,
        MeasurementKind.DIASTOLIC_PRESSURE: _PRESSURE,
        MeasurementKind.MEAN_ARTERIAL_PRESSURE: _PRESSURE,
        MeasurementKind.PULSE_RATE: _RATE,
        MeasurementKind.CUFF_PULSE_RATE: _RATE,
        MeasurementKind.PULSE_RATE_SERIES: _RATE,
        MeasurementKind.PULSE_RATE_MEAN: _RATE,
        MeasurementKind.BODY_WEIGHT: _MASS,
        MeasurementKind.BODY_HEIGHT: _LENGTH,
        MeasurementKind.BODY_MASS_INDEX: _BMI,
        MeasurementKind.BLOOD_GLUCOSE: _GLUCOSE,
        MeasurementKind.BODY_TEMPERATURE: _TEMPERATURE,
    }
)


def to_canonical(kind: MeasurementKind, value: float, unit: str) -> float:
    """The value in the kind's UCUM unit: unchanged when it already is, converted when the unit
    is one the table knows (kPa -> mm[Hg], m -> cm, ...), refused otherwise."""
    codes = codes_for(kind)
    if codes.ucum is None:
        raise UnsupportedUnit(f"{kind.value} is a panel: it has no value of its own")
    if unit == codes.ucum:
        return value
    conversion = CONVERSIONS.get(kind, {}).get(unit.strip())
    if conversion is None:
        raise UnsupportedUnit(f"a {kind.value} value in {unit!r} cannot be sent as {codes.ucum!r}")
    return conversion.apply(value)


# -- context: words from the device, normalised ---------------------------------------------------------


def normalise(word: str | None) -> str:
    """`Capillary_Whole Blood` -> `capillary-whole-blood`: how the tables below are keyed."""
    return "-".join((word or "").strip().lower().replace("_", " ").replace("-", " ").split())


# -- glucose: specimen, meal, sample site -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Specimen:
    mdc: Coding  # the MDC concentration term for this specimen
    blood: bool = True  # False: LOINC 15074-8 / SNOMED / NPU "in Blood" do not apply
    text: str | None = None


# GATT Glucose "Type" (sample type) -> MDC_CONC_GLU_* (partition 2, SCADA; 11073-10417).
GLUCOSE_SPECIMENS: Mapping[str, Specimen] = MappingProxyType(
    {
        "capillary-whole-blood": Specimen(Coding(MDC, "160184", "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD")),
        "capillary-plasma": Specimen(Coding(MDC, "160188", "MDC_CONC_GLU_CAPILLARY_PLASMA")),
        "venous-whole-blood": Specimen(Coding(MDC, "160192", "MDC_CONC_GLU_VENOUS_WHOLEBLOOD")),
        "venous-plasma": Specimen(Coding(MDC, "160196", "MDC_CONC_GLU_VENOUS_PLASMA")),
        "arterial-whole-blood": Specimen(Coding(MDC, "160200", "MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD")),
        "arterial-plasma": Specimen(Coding(MDC, "160204", "MDC_CONC_GLU_ARTERIAL_PLASMA")),
        "undetermined-whole-blood": Specimen(Coding(MDC, "160364", "MDC_CONC_GLU_UNDETERMINED_WHOLEBLOOD")),
        "undetermined-plasma": Specimen(Coding(MDC, "160368", "MDC_CONC_GLU_UNDETERMINED_PLASMA")),
        "interstitial-fluid": Specimen(
            Coding(MDC, "160212", "MDC_CONC_GLU_ISF"), blood=False, text="Glucose in interstitial fluid"
        ),
    }
)
SPECIMEN_SYNONYMS: Mapping[str, str] = MappingProxyType({"isf": "interstitial-fluid"})
CONTROL_SOLUTION_WORDS = frozenset({"control-solution", "control", "ctrl-solution", "ctrlsolution"})

# Meal context, after the PHD IG: a component coded MDC_CTXT_GLU_MEAL (8417864), its value the
# MDC_CTXT_GLU_MEAL_* term (partition 128, PHD disease management; 11073-10417), plus SNOMED CT
# where a concept fits: 307165006 |Before meal|, 24863003 |Postprandial| (qualifier values, as in
# the eMediplan and Estonian meal-timing value sets), 16985007 |Fasting| and 307155000 |Before
# sleeping| (as the Open mHealth -> FHIR blood-glucose mapping codes them). "Casual" (not related
# to a meal) has no SNOMED concept here: MDC and text only. The component code also carries
# SNOMED 309602000 |Temporal periods relating to feeding and eating|, as German glucose profiles do.
MEAL_CONTEXT: tuple[Coding, ...] = (
    Coding(MDC, "8417864", "MDC_CTXT_GLU_MEAL"),
    Coding(SNOMED_CT, "309602000", "Temporal periods relating to feeding and eating"),
)
MEAL_CONTEXT_TEXT = "Måltid"


@dataclass(frozen=True, slots=True)
class Term:
    """A context value: its codings and the words the nurse reads (bokmål)."""

    codings: tuple[Coding, ...]
    text: str

    def concept(self) -> dict[str, Any]:
        concept: dict[str, Any] = {}
        if self.codings:
            concept["coding"] = [c.to_fhir() for c in self.codings]
        concept["text"] = self.text
        return concept


MEALS: Mapping[str, Term] = MappingProxyType(
    {
        "preprandial": Term(
            (Coding(MDC, "8417868", "MDC_CTXT_GLU_MEAL_PREPRANDIAL"), Coding(SNOMED_CT, "307165006", "Before meal")),
            "Før måltid",
        ),
        "postprandial": Term(
            (Coding(MDC, "8417872", "MDC_CTXT_GLU_MEAL_POSTPRANDIAL"), Coding(SNOMED_CT, "24863003", "Postprandial")),
            "Etter måltid",
        ),
        "fasting": Term(
            (Coding(MDC, "8417876", "MDC_CTXT_GLU_MEAL_FASTING"), Coding(SNOMED_CT, "16985007", "Fasting")),
            "Fastende",
        ),
        "casual": Term((Coding(MDC, "8417880", "MDC_CTXT_GLU_MEAL_CASUAL"),), "Uavhengig av måltid"),
        "bedtime": Term(
            (Coding(MDC, "8417908", "MDC_CTXT_GLU_MEAL_BEDTIME"), Coding(SNOMED_CT, "307155000", "Before sleeping")),
            "Ved sengetid",
        ),
    }
)
MEAL_SYNONYMS: Mapping[str, str] = MappingProxyType(
    {"before-meal": "preprandial", "after-meal": "postprandial", "pre-meal": "preprandial", "post-meal": "postprandial"}
)

# Sample location -> Observation.bodySite: the MDC_CTXT_GLU_SAMPLELOCATION_* term (11073-10417)
# plus the SNOMED CT body structure where there is one (finger 7569003 and ear lobule 48800003,
# as the HL7 US Vitals IG's body-location value sets use them). An "alternate site" (forearm,
# palm, ...) is not one structure: MDC and text only.
GLUCOSE_SITES: Mapping[str, Term] = MappingProxyType(
    {
        "finger": Term(
            (Coding(MDC, "8417848", "MDC_CTXT_GLU_SAMPLELOCATION_FINGER"), Coding(SNOMED_CT, "7569003", "Finger structure")),
            "Finger",
        ),
        "alternate-site": Term(
            (Coding(MDC, "8417852", "MDC_CTXT_GLU_SAMPLELOCATION_AST"),),
            "Alternativt målested (ikke finger)",
        ),
        "earlobe": Term(
            (Coding(MDC, "8417856", "MDC_CTXT_GLU_SAMPLELOCATION_EARLOBE"), Coding(SNOMED_CT, "48800003", "Ear lobule structure")),
            "Øreflipp",
        ),
    }
)
GLUCOSE_SITE_SYNONYMS: Mapping[str, str] = MappingProxyType(
    {"alternate-site-test": "alternate-site", "alternative-site": "alternate-site", "ast": "alternate-site", "ear-lobe": "earlobe"}
)
NO_SITE_WORDS = frozenset({"", "not-available", "unknown", "none", "reserved"})


# -- body temperature sites ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemperatureSite:
    """Where a temperature was taken. In 11073 the site is part of *what* was measured
    (MDC_TEMP_ORAL is "oral temperature"), so its MDC term goes into Observation.code in place of
    MDC_TEMP_BODY; the body structure (SNOMED CT) goes into Observation.bodySite."""

    mdc: Coding
    body_site: Term | None  # None: "body (general)", no site to name


# GATT Temperature Type (HTS; the same list as 11073-10408) -> MDC_TEMP_* (partition 2) and
# SNOMED CT body structures from the HL7 US Vitals IG value set "Body Temperature Measurement Body
# Location" (bodyTempMeasBodyLocationPrecoordVS) where it has one: ear 117590005, finger 7569003,
# oral cavity 74262004 (rather than "mouth region" 123851003: an oral reading is taken inside the
# mouth; it is also the FHIR spec's own oral-temperature example), rectum 34402009, toe 29707007,
# tympanic membrane 42859004. Axilla: 91470000 |Axillary region structure|. Gastro-intestinal
# tract: 122865005 |Gastrointestinal tract structure|.
TEMPERATURE_SITES: Mapping[str, TemperatureSite] = MappingProxyType(
    {
        "body": TemperatureSite(Coding(MDC, "150364", "MDC_TEMP_BODY"), None),
        "armpit": TemperatureSite(
            Coding(MDC, "188452", "MDC_TEMP_AXILLA"), Term((Coding(SNOMED_CT, "91470000", "Axillary region structure"),), "Armhule")
        ),
        "ear": TemperatureSite(
            Coding(MDC, "188428", "MDC_TEMP_EAR"), Term((Coding(SNOMED_CT, "117590005", "Ear structure"),), "Øre")
        ),
        "finger": TemperatureSite(
            Coding(MDC, "188432", "MDC_TEMP_FINGER"), Term((Coding(SNOMED_CT, "7569003", "Finger structure"),), "Finger")
        ),
        "gastrointestinal-tract": TemperatureSite(
            Coding(MDC, "188456", "MDC_TEMP_GIT"),
            Term((Coding(SNOMED_CT, "122865005", "Gastrointestinal tract structure"),), "Mage-tarm-kanalen"),
        ),
        "mouth": TemperatureSite(
            Coding(MDC, "188424", "MDC_TEMP_ORAL"), Term((Coding(SNOMED_CT, "74262004", "Oral cavity structure"),), "Munn")
        ),
        "rectum": TemperatureSite(
            Coding(MDC, "188420", "MDC_TEMP_RECT"), Term((Coding(SNOMED_CT, "34402009", "Rectum structure"),), "Endetarm")
        ),
        "toe": TemperatureSite(
            Coding(MDC, "188448", "MDC_TEMP_TOE"), Term((Coding(SNOMED_CT, "29707007", "Toe structure"),), "Tå")
        ),
        "tympanum": TemperatureSite(
            Coding(MDC, "150392", "MDC_TEMP_TYMP"),
            Term((Coding(SNOMED_CT, "42859004", "Tympanic membrane structure"),), "Trommehinne (øre)"),
        ),
    }
)
TEMPERATURE_SITE_SYNONYMS: Mapping[str, str] = MappingProxyType(
    {
        "axilla": "armpit",
        "axillary": "armpit",
        "body-general": "body",
        "general": "body",
        "gi-tract": "gastrointestinal-tract",
        "gi": "gastrointestinal-tract",
        "gastrointestinal": "gastrointestinal-tract",
        "gastro-intestinal": "gastrointestinal-tract",
        "gastro-intestinal-tract": "gastrointestinal-tract",
        "git": "gastrointestinal-tract",
        "oral": "mouth",
        "rectal": "rectum",
        "tympanic": "tympanum",
        "ear-drum": "tympanum",
        "eardrum": "tympanum",
    }
)


def lookup(table: Mapping[str, Any], synonyms: Mapping[str, str], word: str | None) -> Any:
    """The row for a device's word, through its synonyms; None when the table has no such row."""
    key = normalise(word)
    return table.get(synonyms.get(key, key))


# -- categories, reasons, statuses -------------------------------------------------------------------


def category(code: str) -> dict[str, Any]:
    display = {"vital-signs": "Vital Signs", "survey": "Survey", "laboratory": "Laboratory"}.get(code)
    return {"coding": [Coding(OBSERVATION_CATEGORY, code, display).to_fhir()]}


PHD_CATEGORY: dict[str, Any] = {
    "coding": [Coding(PHD_OBSERVATION_CATEGORY, "phd", "PHD generated Observation").to_fhir()]
}

# AbsentReason -> http://terminology.hl7.org/CodeSystem/data-absent-reason (R4 4.0.1 codes: the
# IEEE special values are children of `error`; R4 spells NaN "not-a-number", STU3 spelt it "NaN").
# NRes ("not at this resolution") and the reserved SFLOAT value have no code of their own: the
# device sent a value it could not represent, i.e. an error.
DATA_ABSENT: Mapping[AbsentReason, Coding] = MappingProxyType(
    {
        AbsentReason.NOT_A_NUMBER: Coding(DATA_ABSENT_REASON, "not-a-number", "Not a Number (NaN)"),
        AbsentReason.POSITIVE_INFINITY: Coding(DATA_ABSENT_REASON, "positive-infinity", "Positive Infinity (PINF)"),
        AbsentReason.NEGATIVE_INFINITY: Coding(DATA_ABSENT_REASON, "negative-infinity", "Negative Infinity (NINF)"),
        AbsentReason.NOT_AT_THIS_RESOLUTION: Coding(DATA_ABSENT_REASON, "error", "Error"),
        AbsentReason.RESERVED: Coding(DATA_ABSENT_REASON, "error", "Error"),
        AbsentReason.ERROR: Coding(DATA_ABSENT_REASON, "error", "Error"),
        AbsentReason.UNSUCCESSFUL: Coding(DATA_ABSENT_REASON, "error", "Error"),
        AbsentReason.IMPLAUSIBLE: Coding(DATA_ABSENT_REASON, "error", "Error"),  # a number no body can have
    }
)
ABSENT_ERROR = Coding(DATA_ABSENT_REASON, "error", "Error")
ABSENT_UNKNOWN = Coding(DATA_ABSENT_REASON, "unknown", "Unknown")

QUESTIONABLE = Coding(MEASUREMENT_STATUS, "questionable", "Questionable")
EARLY_INDICATION = Coding(MEASUREMENT_STATUS, "early-indication", "Early indication")
MEASUREMENT_ONGOING = Coding(MEASUREMENT_STATUS, "msmt-ongoing", "Measurement ongoing")
CALIBRATION_ONGOING = Coding(MEASUREMENT_STATUS, "calibration-ongoing", "Calibration ongoing")
VALIDATED = Coding(MEASUREMENT_STATUS, "validated-data", "Validated data")

HTEST = Coding(ACT_REASON, "HTEST", "test health data")

# The device could not measure this far: the number it sent (if any) is a limit, not the value.
OFF_SCALE_HIGH = Coding(V3_INTERPRETATION, ">", "Off scale high")
OFF_SCALE_LOW = Coding(V3_INTERPRETATION, "<", "Off scale low")

# Device types (MDC): a personal health device (simple MDS) and a gateway (AHD).
MDS_SIMPLE = Coding(MDC, "65573", "MDC_MOC_VMS_MDS_SIMP")
MDS_GATEWAY = Coding(MDC, "531981", "MDC_MOC_VMS_MDS_AHD")
FIRMWARE_REVISION = Coding(MDC, "531976", "MDC_ID_PROD_SPEC_FW")
SOFTWARE_REVISION = Coding(MDC, "531975", "MDC_ID_PROD_SPEC_SW")
SYSID = Coding(CONTINUA_DEVICE_IDENTIFIERS, "SYSID", "IEEE 11073 System Identifier")
BTMAC = Coding(CONTINUA_DEVICE_IDENTIFIERS, "BTMAC", "Bluetooth MAC address")
