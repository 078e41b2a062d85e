"""Extension URLs the engine reads (FHIR core, SDC, Helsenorge)."""

SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
CORE = "http://hl7.org/fhir/StructureDefinition/"
EHELSE = "http://ehelse.no/fhir/StructureDefinition/"

HIDDEN = CORE + "questionnaire-hidden"
MIN_VALUE = CORE + "minValue"
MAX_VALUE = CORE + "maxValue"
MIN_LENGTH = CORE + "minLength"
REGEX = CORE + "regex"
MAX_DECIMAL_PLACES = CORE + "maxDecimalPlaces"
MIN_OCCURS = CORE + "questionnaire-minOccurs"
MAX_OCCURS = CORE + "questionnaire-maxOccurs"
ITEM_CONTROL = CORE + "questionnaire-itemControl"
UNIT = CORE + "questionnaire-unit"
UNIT_OPTION = CORE + "questionnaire-unitOption"
ENTRY_FORMAT = CORE + "entryFormat"
RENDERING_MARKDOWN = CORE + "rendering-markdown"
RENDERING_XHTML = CORE + "rendering-xhtml"
# Scores on answer options: where the engines put them (all read).
ORDINAL_VALUE = CORE + "ordinalValue"
ITEM_WEIGHT = CORE + "itemWeight"  # R5's name for the same idea
CO_VALUE = CORE + "iso21090-CO-value"  # older LHC-Forms
SCORE_URLS = (ORDINAL_VALUE, ITEM_WEIGHT, CO_VALUE)

VARIABLE = SDC + "sdc-questionnaire-variable"
CALCULATED = SDC + "sdc-questionnaire-calculatedExpression"
ENABLE_WHEN_EXPRESSION = SDC + "sdc-questionnaire-enableWhenExpression"
INITIAL_EXPRESSION = SDC + "sdc-questionnaire-initialExpression"
LAUNCH_CONTEXT = SDC + "sdc-questionnaire-launchContext"
ITEM_MEDIA = SDC + "sdc-questionnaire-itemMedia"
ANSWER_EXPRESSION = SDC + "sdc-questionnaire-answerExpression"

SDF_CALCULATED = EHELSE + "sdf-calculatedExpression"
VALIDATION_TEXT = EHELSE + "validationtext"
SCORING_FORMULAS = "http://ehelse.no/scoringFormulas"
EHELSE_SCORE = "http://ehelse.no/Score"
