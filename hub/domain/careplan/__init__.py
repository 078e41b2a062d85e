"""The patient's self-care plan (egenbehandlingsplan), pure: the plan model read from a FHIR R4
CarePlan, zones and their evaluation, FHIR Timing in the patient's time zone, what is due today
and what was missed, and the `heima plan check/simulate` logic. No I/O, no clock reads.

The CarePlan layout is documented for centres in docs/care-plan-format.md.
"""

from hub.domain.careplan.due import Completion, DueTask, MissedTask, TaskState, due_list, missed_tasks
from hub.domain.careplan.evaluate import Code, Evaluation, Observed, PlanEvaluator, ReferenceRange, evaluate, observed
from hub.domain.careplan.model import ActionText, CarePlan, FormActivity, Level, MeasurementActivity, Zone
from hub.domain.careplan.parse import PlanError, parse_plan, parse_timing
from hub.domain.careplan.reminders import QuietHours, Reminder, ReminderPolicy, latest_per_task, reminders_between
from hub.domain.careplan.timing import Occurrence, Period, Timing
from hub.domain.careplan.tools import ValuesError, check_plan, simulate

__all__ = [
    "ActionText", "CarePlan", "Code", "Completion", "DueTask", "Evaluation", "FormActivity", "Level",
    "MeasurementActivity", "MissedTask", "Observed", "Occurrence", "Period", "PlanError", "PlanEvaluator",
    "QuietHours", "ReferenceRange", "Reminder", "ReminderPolicy", "TaskState", "Timing", "ValuesError", "Zone",
    "check_plan", "due_list", "evaluate", "latest_per_task", "missed_tasks", "observed", "parse_plan",
    "parse_timing", "reminders_between", "simulate",
]
