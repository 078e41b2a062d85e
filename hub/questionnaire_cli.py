"""`heima questionnaire check|complete`: for the people who write forms.

Both run the hub's own engine (hub.domain.questionnaire), so what passes here is what the hub
runs, and what `complete` prints is what the hub would submit for those answers.

    heima questionnaire check FILE.json
        exit 0 and one line (items, enableWhen, calculations, scoring) when Heima can run it;
        exit 2 and the reason, naming the item, when it cannot.
    heima questionnaire complete FILE.json RESPONSE.json [--authored DATETIME]
        the QuestionnaireResponse Heima would submit for the answers in RESPONSE.json (a
        QuestionnaireResponse, e.g. one saved half-way): disabled answers removed, calculated items
        and scores filled. Problems (missing required answers, values out of range) go to stderr,
        and exit 1 when it could not be submitted (the response is then printed `in-progress`);
        exit 2 when the form or the response cannot be read at all.

Messages name linkIds and rules, never an answer (they are the same texts the hub logs).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # the engine (and fhirpathpy) is imported when a questionnaire command runs, not by every `heima`
    from hub.domain.questionnaire import Problem, Questionnaire, Scores

EXIT_OK, EXIT_NOT_SUBMITTABLE, EXIT_REFUSED = 0, 1, 2


class Refused(Exception):
    """The form (or the response) cannot be used; the message says why and names the item."""


# -- the command line ------------------------------------------------------------------------------


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    """Registers `questionnaire check` and `questionnaire complete` on heima's subcommands."""
    q = sub.add_parser(
        "questionnaire",
        parents=parents,
        help="check a FHIR Questionnaire file, or complete it with answers, with the hub's own engine",
        description="For form authors: run a Questionnaire through the engine the hub uses.",
    )
    what = q.add_subparsers(dest="questionnaire_command", metavar="ACTION")
    check = what.add_parser(
        "check",
        help="can Heima run this form? exit 0 and a summary line, or exit 2 and the reason",
    )
    check.add_argument("form", type=Path, metavar="FILE.json", help="a FHIR R4 Questionnaire (JSON)")
    complete = what.add_parser(
        "complete",
        help="print the QuestionnaireResponse Heima would submit for these answers",
        description="Prints the QuestionnaireResponse Heima would submit for the answers in RESPONSE.json "
        "(disabled answers removed, calculated items and scores filled). Problems go to stderr. Exit status "
        "0: it could be submitted; 1: it could not (missing or out-of-range answers; printed in-progress); "
        "2: the form or the response cannot be used.",
    )
    complete.add_argument("form", type=Path, metavar="FILE.json", help="a FHIR R4 Questionnaire (JSON)")
    complete.add_argument("answers", type=Path, metavar="RESPONSE.json", help="a QuestionnaireResponse with the answers")
    complete.add_argument(
        "--authored",
        type=_datetime,
        metavar="DATETIME",
        help="when it is answered, with a zone (e.g. 2026-03-01T09:30:00+01:00); also now()/today() in the "
        "form's expressions (default: now)",
    )


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    action = getattr(args, "questionnaire_command", None)
    try:
        if action == "check":
            print(check(args.form), file=out)
            return EXIT_OK
        if action == "complete":
            return complete(args.form, args.answers, authored=args.authored or datetime.now(UTC), out=out, err=err)
    except Refused as exc:
        print(f"heima questionnaire {action}: {exc}", file=err)
        return EXIT_REFUSED
    print("heima questionnaire: give an action: check FILE.json, or complete FILE.json RESPONSE.json", file=err)
    return EXIT_REFUSED


def _datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give a date and time with a zone, e.g. 2026-03-01T09:30:00+01:00") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time with its zone, e.g. 2026-03-01T09:30:00+01:00")
    return value


# -- check -------------------------------------------------------------------------------------------


def load_form(path: Path) -> Questionnaire:
    """The form as the hub would import it, or Refused with the reason (naming the item)."""
    from hub.domain.questionnaire import QuestionnaireError, load_questionnaire

    raw = _read_json(path, "the form")
    try:
        q = load_questionnaire(raw)
    except QuestionnaireError as exc:
        raise Refused(f"{path.name}: Heima cannot run this form: {exc}") from None
    if not q.url or not q.version:
        missing = "url" if not q.url else "version"
        raise Refused(
            f"{path.name}: Heima cannot run this form: it has no {missing} (every response names its form as "
            "url|version, and the hub keeps each version a patient may be half-way through)"
        )
    return q


@dataclass(frozen=True)
class Summary:
    items: int
    questions: int
    groups: int
    enable_when: int  # enableWhen conditions and enableWhenExpressions
    calculations: int  # calculatedExpression (SDC and Helsenorge's), initialExpression, variables
    scored_questions: int
    score_items: int  # items the form fills with a score (QS/SS/TS, calculated numbers)


def summarise(q: Questionnaire) -> Summary:
    items = q.walk()
    questions = [i for i in items if i.is_question]
    return Summary(
        items=len(items),
        questions=len(questions),
        groups=sum(1 for i in items if i.type == "group"),
        enable_when=sum(len(i.enable_when) + (i.enable_when_expression is not None) for i in items),
        calculations=len(q.variables)
        + sum((i.calculated_expression is not None) + (i.initial_expression is not None) + len(i.variables) for i in items),
        scored_questions=sum(1 for i in questions if i.is_scored_choice),
        score_items=sum(
            1 for i in items
            if i.scoring is not None or (i.calculated_expression is not None and i.type in ("decimal", "integer", "quantity"))
        ),
    )


def check(path: Path) -> str:
    """One line saying what the form holds, or Refused with the reason."""
    from hub.domain.questionnaire import AnswerError, FormState, QuestionnaireError

    q = load_form(path)
    # Started too: an initial value or calculation that only shows up when the form opens.
    try:
        FormState.start(q, now=datetime.now(UTC))
    except (QuestionnaireError, AnswerError) as exc:
        raise Refused(f"{path.name}: Heima cannot start this form: {exc}") from None
    s = summarise(q)
    if s.scored_questions or s.score_items:
        scoring = f"scoring: {s.scored_questions} scored question(s), {s.score_items} score item(s)"
    else:
        scoring = "no scoring"
    elsewhere = sum(1 for i in q.walk() if i.is_question and not i.supported)
    note = f"; {elsewhere} question(s) Heima shows as 'answer elsewhere'" if elsewhere else ""
    return (
        f"ok {path.name}: {q.canonical} — {s.items} items ({s.questions} questions, {s.groups} groups), "
        f"{s.enable_when} enableWhen, {s.calculations} calculations, {scoring}{note}"
    )


# -- complete ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    response: dict[str, Any]  # what Heima would submit (in-progress when it could not be)
    problems: tuple[Problem, ...]
    dropped: tuple[str, ...]  # linkIds answered in the input but not enabled by the answers
    scores: Scores


def complete_form(q: Questionnaire, answers: dict[str, Any], *, authored: datetime) -> Completed:
    """The engine run as the hub runs it at submit: resume from the answers, work everything out."""
    from hub.domain.questionnaire import AnswerError, FormState

    try:
        state = FormState.resume(q, answers, now=authored)
    except AnswerError as exc:
        raise Refused(f"the answers cannot be used with this form: {exc}") from None
    problems = state.problems()
    keep = {k: answers[k] for k in ("subject", "source", "author") if k in answers}
    response = state.response(now=authored, status="in-progress" if problems else "completed", **keep)
    answered = _answered_link_ids(answers.get("item", []))
    emitted = _answered_link_ids(response.get("item", []))
    dropped = tuple(lid for lid in dict.fromkeys(answered) if lid not in emitted)
    return Completed(response, problems, dropped, state.scores())


def complete(form: Path, answers: Path, *, authored: datetime, out: TextIO, err: TextIO) -> int:
    q = load_form(form)
    raw = _read_json(answers, "the answers")
    if not isinstance(raw, dict) or raw.get("resourceType") != "QuestionnaireResponse":
        raise Refused(f"{answers.name}: the answers must be a FHIR QuestionnaireResponse (resourceType 'QuestionnaireResponse')")
    done = complete_form(q, raw, authored=authored)
    print(json.dumps(done.response, ensure_ascii=False, indent=2), file=out)
    for lid in done.dropped:
        print(f"left out: item {lid!r} is not enabled by these answers, so its answer is not sent", file=err)
    if done.scores.total is not None:
        print(f"score: total of the chosen options {done.scores.total}", file=err)
    for score in done.scores.items:
        print(f"score: item {score.link_id!r} ({score.kind}) {score.value}", file=err)
    for p in done.problems:
        print(f"problem: {problem_text(p)}", file=err)
    if done.problems:
        print(f"could not be submitted: {len(done.problems)} problem(s)", file=err)
        return EXIT_NOT_SUBMITTABLE
    return EXIT_OK


_PROBLEM_TEXT = {
    "required": "required, not answered",
    "min-value": "below the lowest allowed value {}",
    "max-value": "above the highest allowed value {}",
    "min-length": "shorter than {} characters",
    "max-length": "longer than {} characters",
    "regex": "does not match the form's pattern (regex)",
    "max-decimal-places": "more than {} decimal places",
    "min-occurs": "fewer than {} answers",
    "max-occurs": "more than {} answers (or group instances)",
}


def problem_text(p: Problem) -> str:
    """The item, the path when it is inside a repeating group, and the rule; never the answer."""
    where = f"item {p.link_id!r}"
    if any(i for _, i in p.path):
        where += " in " + "/".join(f"{lid}[{i}]" for lid, i in p.path[:-1])
    rule = _PROBLEM_TEXT.get(p.kind, p.kind + " {}").format(p.limit or "").strip()
    return f"{where}: {rule}"


def _answered_link_ids(items: Any) -> list[str]:
    found: list[str] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        answers = item.get("answer") or []
        if answers and isinstance(item.get("linkId"), str):
            found.append(item["linkId"])
        found += _answered_link_ids(item.get("item"))
        for a in answers if isinstance(answers, list) else []:
            if isinstance(a, dict):
                found += _answered_link_ids(a.get("item"))
    return found


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise Refused(f"{path}: no such file ({what})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Refused(f"{path}: cannot read {what} ({type(exc).__name__})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(f"{path.name}: {what} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
